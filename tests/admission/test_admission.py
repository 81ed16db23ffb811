"""Admission control: a bounded number of requests in flight, 503 + Retry-After beyond it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from flask_fanout import Fanout
from flask_fanout.admission import Admission, AdmissionMiddleware, GradientLimit, GradientParams


@pytest.fixture
def gated_app() -> tuple[Flask, threading.Event, threading.Semaphore]:
    """An app whose /work requests wait until the test opens the gate."""
    app = Flask(__name__)
    app.config.update(FANOUT_MAX_INFLIGHT=2, FANOUT_CPU_BACKEND="inline")
    fanout = Fanout(app)
    gate = threading.Event()
    entered = threading.Semaphore(0)

    @app.get("/work")
    def work() -> dict[str, bool]:
        entered.release()
        gate.wait(10)
        return {"done": True}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    fanout.exempt(app, ["health"])
    return app, gate, entered


def test_rejects_above_the_limit_and_recovers_below_it(
    gated_app: tuple[Flask, threading.Event, threading.Semaphore],
) -> None:
    app, gate, entered = gated_app
    client = app.test_client()
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(client.get, "/work", buffered=True) for _ in range(2)]
        for _ in range(2):
            assert entered.acquire(timeout=5), "both requests are in flight"
        assert app.extensions["fanout"].admission.inflight == 2

        rejected = client.get("/work", buffered=True)
        assert rejected.status_code == 503
        assert rejected.headers["Retry-After"] == "2"
        assert rejected.is_json and rejected.get_json()["error"] == "overloaded"
        assert client.get("/health").status_code == 200, "exempt endpoints always answer"

        gate.set()
        assert [f.result(10).status_code for f in held] == [200, 200]
    assert app.extensions["fanout"].admission.inflight == 0
    assert client.get("/work", buffered=True).status_code == 200
    assert app.extensions["fanout"].admission.rejected == 1


def test_a_failing_view_releases_its_slot() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_MAX_INFLIGHT=1, FANOUT_CPU_BACKEND="inline")
    Fanout(app)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    client = app.test_client()
    assert [client.get("/boom", buffered=True).status_code for _ in range(3)] == [500, 500, 500]
    assert app.extensions["fanout"].admission.inflight == 0


def test_limit_comes_from_config() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_MAX_INFLIGHT="7", FANOUT_IO_THREADS="33", FANOUT_CPU_BACKEND="inline")
    Fanout(app)
    state = app.extensions["fanout"]
    assert state.admission.limit == 7
    assert state.io.get().size == 33


def test_retry_after_follows_the_reject_pause() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_REJECT_PAUSE=2.5, FANOUT_CPU_BACKEND="inline")
    Fanout(app)
    app.get("/")(lambda: "never")
    app.extensions["fanout"].admission.limit = 0
    response = app.test_client().get("/", buffered=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"  # whole seconds, rounded up


def test_a_rejection_skips_flask(
    gated_app: tuple[Flask, threading.Event, threading.Semaphore],
) -> None:
    """Under overload rejections must be cheap: no request context, no hooks."""
    app, _, _ = gated_app
    seen: list[str] = []
    app.before_request(lambda: seen.append("flask saw it") and None)
    app.extensions["fanout"].admission.limit = 0
    response = app.test_client().get("/work", buffered=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"] == "overloaded"
    assert seen == []


def test_an_early_retry_gets_its_503_when_its_retry_after_ends() -> None:
    """The first 503 goes out at once; a retry before Retry-After waits it out."""

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        return [b"served"]

    admission = Admission(0)
    middleware = AdmissionMiddleware(app, admission, lambda: (), pause=lambda: 0.4)

    class Connection:
        pass

    statuses: list[str] = []
    connection, other = Connection(), Connection()

    def request(sock: Connection) -> tuple[bytes, float]:
        started = time.monotonic()
        body = middleware(
            {"PATH_INFO": "/", "gunicorn.sock": sock}, lambda s, h: statuses.append(s)
        )
        return b"".join(body), time.monotonic() - started

    first, first_took = request(connection)
    assert b"overloaded" in first and first_took < 0.2  # at once
    again, again_took = request(connection)
    assert b"overloaded" in again and again_took >= 0.4 * 0.5  # jittered by +-50 %
    _, other_took = request(other)
    assert other_took < 0.2  # another connection is not held up by this one
    time.sleep(0.4)  # a client that waits out its Retry-After is not held
    _, patient_took = request(connection)
    assert patient_took < 0.2
    assert statuses == ["503 Service Unavailable"] * 4
    admission.limit = 1  # a slot is free: the early retry is served at once
    served, served_took = request(connection)
    assert served == b"served" and served_took < 0.2


def test_a_rejected_request_never_enters_the_view() -> None:
    """Adaptive (the default) or static, a 503 is answered before the app runs."""
    calls: list[str] = []
    for mode in ("adaptive", "static"):
        app = Flask(__name__)
        app.config.update(FANOUT_ADMISSION=mode, FANOUT_CPU_BACKEND="inline")
        Fanout(app)

        @app.get("/")
        def view() -> str:
            calls.append("view")
            return "served"

        app.extensions["fanout"].admission.limit = 0
        response = app.test_client().get("/", buffered=True)
        assert response.status_code == 503, mode
        assert response.headers["Retry-After"] == "2"
        assert response.get_json() == {
            "error": "overloaded",
            "message": "The server is at its limit of requests in flight; retry shortly.",
            "limit": 0,
        }
        assert calls == [], f"{mode}: the view was called"


def _held_round(app: Flask, gate: threading.Event, entered: threading.Semaphore, n: int) -> None:
    """``n`` requests in flight at once, then all let go."""
    client = app.test_client()
    with ThreadPoolExecutor(n) as pool:
        held = [pool.submit(client.get, "/work", buffered=True) for _ in range(n)]
        for _ in range(n):
            assert entered.acquire(timeout=5)
        gate.set()
        assert [f.result(10).status_code for f in held] == [200] * n
    gate.clear()


def test_the_adaptive_limit_follows_its_controller(
    gated_app: tuple[Flask, threading.Event, threading.Semaphore],
) -> None:
    """Windows of busy, equally fast requests raise the limit, up to the ceiling."""
    app, gate, entered = gated_app
    state = app.extensions["fanout"]
    params = GradientParams(floor=1, ceiling=6, initial=4, window=0.0, min_samples=2, tolerance=50)
    state.admission = admission = Admission(0, GradientLimit(params))
    app.wsgi_app.admission = admission  # type: ignore[attr-defined]
    assert admission.limit == 4
    seen = []
    for _ in range(8):
        _held_round(app, gate, entered, 4)
        seen.append(admission.limit)
    assert seen[-1] == 6 and seen == sorted(seen), seen
    assert admission.inflight == 0


def test_each_route_is_compared_with_its_own_no_load_latency() -> None:
    """The controller learns one baseline per URL rule, 404s apart: a fast route is no alarm."""
    app = Flask(__name__)
    app.config.update(FANOUT_CPU_BACKEND="inline")
    Fanout(app)
    app.add_url_rule("/slow/<int:n>", "slow", lambda n: (time.sleep(0.02), "slow")[1])
    app.add_url_rule("/fast", "fast", lambda: "fast")
    controller = app.extensions["fanout"].admission.controller
    controller.params = GradientParams(window=0.0, min_samples=1)
    client = app.test_client()
    for n in range(5):
        for path in (f"/slow/{n}", "/fast", "/missing"):
            client.get(path, buffered=True)
    baselines = controller._baselines
    assert set(baselines) == {"/slow/<int:n>", "/fast", ""}
    assert baselines["/slow/<int:n>"] >= 0.02 > 10 * max(baselines["/fast"], baselines[""])


def test_static_mode_keeps_its_limit() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_ADMISSION="static", FANOUT_CPU_BACKEND="inline")
    Fanout(app)
    app.get("/")(lambda: "ok")
    state = app.extensions["fanout"]
    assert state.admission.controller is None and state.admission.limit == 128
    client = app.test_client()
    assert {client.get("/", buffered=True).status_code for _ in range(300)} == {200}
    assert state.admission.limit == 128
    assert state.first_reject_pause() == 0.0, "a first 503 goes out at once, as before"


def test_a_failing_controller_does_not_cost_a_slot() -> None:
    class Broken(GradientLimit):
        def observe(self, latency: float, inflight: int, now: float, route: str = "") -> int | None:
            raise RuntimeError("controller bug")

    admission = Admission(0, Broken())
    assert admission.try_enter()
    with pytest.raises(RuntimeError):
        admission.leave(started=0.0)
    assert admission.inflight == 0


def test_a_first_503_is_held_but_only_up_to_max_held() -> None:
    """Clients that connect per request wait held instead of in the listen queue."""

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        return [b"served"]

    class Connection:
        pass

    def first_503_takes(max_held: int) -> float:
        middleware = AdmissionMiddleware(
            app, Admission(0), lambda: (), pause=lambda: 1.0, first_pause=lambda: 0.6,
            max_held=max_held,
        )  # fmt: skip
        started = time.monotonic()
        b"".join(middleware({"PATH_INFO": "/", "gunicorn.sock": Connection()}, lambda s, h: None))
        return time.monotonic() - started

    assert first_503_takes(max_held=1) >= 0.6 * 0.5  # jittered 0.5-1x
    assert first_503_takes(max_held=0) < 0.6 * 0.5, "past max_held, 503s go out at once"


def test_a_first_503_is_held_for_its_retry_after_when_adaptive() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_CPU_BACKEND="inline", FANOUT_REJECT_PAUSE=2.0)
    Fanout(app)
    assert app.extensions["fanout"].first_reject_pause() == 2.0
