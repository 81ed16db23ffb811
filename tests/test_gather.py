"""gather(): concurrency, timeouts, deadlines and contexts, shown by behaviour."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest
from flask import Flask, current_app

from flask_fanout import CallError, Fanout, gather


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config.update(FANOUT_IO_THREADS=16, FANOUT_CPU_BACKEND="inline")
    Fanout(app)
    return app


def recorder(log: dict[str, tuple[float, float]], name: str, seconds: float, value: object):
    def call() -> object:
        start = time.monotonic()
        time.sleep(seconds)
        log[name] = (start, time.monotonic())
        return value

    return call


def test_calls_run_concurrently(app: Flask) -> None:
    log: dict[str, tuple[float, float]] = {}
    with app.app_context():
        outcomes = gather(
            {n: recorder(log, n, s, n.upper()) for n, s in [("a", 0.1), ("b", 0.2), ("c", 0.3)]}
        )
    assert [o.value for o in outcomes.values()] == ["A", "B", "C"]
    latest_start = max(start for start, _ in log.values())
    earliest_end = min(end for _, end in log.values())
    assert latest_start < earliest_end, "every call must be running at the same moment"


def test_a_hung_call_times_out_and_the_others_answer(app: Flask) -> None:
    release = threading.Event()
    with app.app_context():
        outcomes = gather(
            {"hung": lambda: release.wait(30), "fine": lambda: 42},
            timeout={"hung": 0.2, "fine": 5.0},
        )
    release.set()
    assert outcomes["fine"].ok and outcomes["fine"].value == 42
    assert outcomes["hung"].error is not None and outcomes["hung"].error.code == "timeout"
    assert not outcomes["hung"].ok


def test_the_request_deadline_caps_every_call(app: Flask) -> None:
    release = threading.Event()
    with app.app_context():
        outcomes = gather({"a": lambda: release.wait(30)}, timeout=30.0, deadline=0.2)
    release.set()
    assert outcomes["a"].error is not None and outcomes["a"].error.code == "timeout"


def test_failures_become_outcomes_and_are_logged_once(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ZeroDivisionError("boom")

    def refused() -> None:
        raise CallError("unavailable", "nobody home")

    with app.app_context():
        outcomes = gather({"broken": broken, "refused": refused, "ok": lambda: 1})
    assert outcomes["ok"].value == 1
    assert outcomes["refused"].error is not None
    assert outcomes["refused"].error.as_dict() == {"code": "unavailable", "message": "nobody home"}
    assert outcomes["broken"].error is not None and outcomes["broken"].error.code == "error"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "broken" in tracebacks[0].getMessage()


def test_each_call_gets_a_fresh_context_with_the_app(app: Flask) -> None:
    """Flask-Executor shares one copied context across threads and fails; we must not."""
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    marker.set("from the caller")
    barrier = threading.Barrier(8, timeout=5)

    def call() -> tuple[str, str]:
        barrier.wait()  # all eight inside their contexts at the same time
        seen = marker.get()
        marker.set("changed inside")  # must not leak into the caller or siblings
        return current_app.name, seen

    with app.app_context():
        outcomes = gather({str(i): call for i in range(8)})
    assert {o.value for o in outcomes.values()} == {(app.name, "from the caller")}
    assert marker.get() == "from the caller"


def test_a_straggler_does_not_block_later_requests(app: Flask) -> None:
    app.config["FANOUT_IO_THREADS"] = 2
    release = threading.Event()
    with app.app_context():
        first = gather({"stuck": lambda: release.wait(30)}, timeout=0.1)
        second = gather({"quick": lambda: "done"}, timeout=5.0)
    release.set()
    assert first["stuck"].error is not None and first["stuck"].error.code == "timeout"
    assert second["quick"].value == "done"


def test_gather_needs_the_extension() -> None:
    with Flask(__name__).app_context(), pytest.raises(RuntimeError, match="Fanout"):
        gather({"a": lambda: 1})


GEVENT_GATHER = """
from gevent import monkey

monkey.patch_all()

import json, threading, time

from flask import Flask, current_app

from flask_fanout import Fanout, gather
from flask_fanout.iopool import GreenletIOPool

app = Flask("gevent-app")
app.config.update(FANOUT_CPU_BACKEND="inline", FANOUT_IO_THREADS=8)
Fanout(app)
log = {}

def call(name, seconds):
    def run():
        start = time.monotonic()
        time.sleep(seconds)
        log[name] = (start, time.monotonic())
        return current_app.name
    return run

release = threading.Event()
with app.app_context():
    pool = app.extensions["fanout"].io.get()
    outcomes = gather(
        {"a": call("a", 0.1), "b": call("b", 0.2), "hung": lambda: release.wait(30)},
        timeout={"a": 5, "b": 5, "hung": 0.3},
    )
release.set()
print(json.dumps({
    "greenlets": isinstance(pool, GreenletIOPool),
    "values": {n: o.value for n, o in outcomes.items()},
    "codes": {n: o.error.code for n, o in outcomes.items() if o.error},
    "overlap": max(s for s, _ in log.values()) < min(e for _, e in log.values()),
}))
"""


def test_under_gevent_calls_are_greenlets_with_the_same_contract() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", GEVENT_GATHER], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "greenlets": True,
        "values": {"a": "gevent-app", "b": "gevent-app", "hung": None},
        "codes": {"hung": "timeout"},
        "overlap": True,
    }
