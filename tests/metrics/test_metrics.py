"""GET /metrics: Prometheus text that parses, counters that move with the right labels.

In-process apps use the default registry (shared by the whole test session, so
every test compares before and after). The multiprocess tests run ``fanout serve``
with two gunicorn workers and check that any worker's scrape adds up all of them.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from flask_fanout import Fanout, Settings, cpu_map, gather, metrics_response
from flask_fanout.admission import GradientParams
from flask_fanout.metrics import LATENCY_BUCKETS
from tests.cpu_tasks import spin_batch, spin_cost
from tests.server.test_cli import wait_until_serving

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Any) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.get_data(as_text=True))


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def service(
    make_app: Callable[..., Flask], text_file: Path, upstream: Any, tmp_path: Path
) -> Flask:
    """Four sources: a file, an HTTP API, a hanging API (timeout), a missing file (error)."""
    return make_app(
        f"""
        [sources.notes]
        type = "file"
        path = "{text_file}"
        [sources.api]
        type = "http"
        url = "{upstream.url}/delay/1"
        [sources.stuck]
        type = "http"
        url = "{upstream.url}/hang"
        timeout = 0.2
        [sources.gone]
        type = "file"
        path = "{tmp_path / "missing.txt"}"
        """
    )


def test_requests_and_sources_are_counted_by_route_status_and_outcome(service: Flask) -> None:
    client = service.test_client()
    before = scrape(client)
    for _ in range(3):
        with client.get("/") as response:
            assert response.status_code == 200
    for number in ("7", "8", "x"):
        client.get(f"/is_prime/{number}").close()
    client.get("/no/such/page").close()
    after = scrape(client)

    requests = "fanout_http_requests_total"
    assert grew(before, after, requests, route="/", method="GET", status="200") == 3
    route = "/is_prime/<path:numbers>"
    assert grew(before, after, requests, route=route, method="GET", status="200") == 2
    assert grew(before, after, requests, route=route, method="GET", status="400") == 1
    # Raw paths never become label values: one series for every unknown URL.
    assert grew(before, after, requests, route="unmatched", method="GET", status="404") == 1
    assert not any("/is_prime/7" in dict(labels).get("route", "") for _, labels in after)

    latency = "fanout_http_request_duration_seconds"
    assert grew(before, after, latency + "_count", route="/", method="GET") == 3
    assert grew(before, after, latency + "_sum", route="/", method="GET") > 0
    inf = grew(before, after, latency + "_bucket", route="/", method="GET", le="+Inf")
    assert inf == 3
    first = f"{LATENCY_BUCKETS[0]}"
    assert grew(before, after, latency + "_bucket", route="/", method="GET", le=first) <= inf

    calls = "fanout_source_calls_total"
    for source, outcome in [
        ("notes", "ok"),
        ("api", "ok"),
        ("stuck", "timeout"),
        ("gone", "error"),
    ]:
        assert grew(before, after, calls, source=source, outcome=outcome) == 3, source
    assert grew(before, after, calls, source="stuck", outcome="ok") == 0
    stuck = "fanout_source_duration_seconds"
    assert grew(before, after, stuck + "_count", source="stuck") == 3
    assert grew(before, after, stuck + "_sum", source="stuck") >= 3 * 0.2
    # A 0.2 s timeout lands in the (0.1, 0.25] bucket, never below.
    assert grew(before, after, stuck + "_bucket", source="stuck", le="0.1") == 0
    assert grew(before, after, stuck + "_bucket", source="stuck", le="0.25") == 3

    assert value(after, "fanout_io_pool_size") >= service.extensions["fanout"].settings.io_threads
    assert grew(before, after, "fanout_cpu_batches_total", mode="inline") == 2


def test_metrics_and_health_are_exempt_and_not_timed_per_path(service: Flask) -> None:
    client = service.test_client()
    scrape(client)
    after = scrape(client)
    assert value(after, "fanout_http_requests_total", route="/metrics", method="GET", status="200")
    state = service.extensions["fanout"]
    assert "operations.metrics" in state.exempt_endpoints


@pytest.fixture
def gated_app() -> Iterator[tuple[Flask, threading.Event]]:
    """A user's app with Fanout(app) and metrics_response: one slot, held by /work."""
    app = Flask(__name__)
    app.config.update(FANOUT_MAX_INFLIGHT=1, FANOUT_CPU_BACKEND="inline")
    fanout = Fanout(app)
    gate = threading.Event()

    @app.get("/work")
    def work() -> dict[str, bool]:
        gate.wait(10)
        return {"done": True}

    app.get("/metrics")(metrics_response)
    fanout.exempt(app, ["metrics_response"])
    yield app, gate
    gate.set()


def test_admission_rejections_and_requests_in_flight(
    gated_app: tuple[Flask, threading.Event],
) -> None:
    app, gate = gated_app
    client = app.test_client()
    before = scrape(client)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(lambda: app.test_client().get("/work"))
        deadline = time.monotonic() + 10
        while app.extensions["fanout"].admission.inflight < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        statuses = []
        for _ in range(3):
            with client.get("/work") as response:
                statuses.append(response.status_code)
        during = scrape(client)
        gate.set()
        with held.result(10) as response:
            assert response.status_code == 200
    assert statuses == [503, 503, 503]
    assert grew(before, during, "fanout_admission_rejected_total") == 3
    assert value(during, "fanout_requests_in_flight") >= 1
    assert value(during, "fanout_admission_limit") >= 1
    after = scrape(client)
    assert grew(before, after, "fanout_admission_rejected_total") == 3
    work = {"route": "/work", "method": "GET"}
    assert grew(before, after, "fanout_http_requests_total", status="200", **work) == 1


def test_gather_outside_a_request_and_many_call_names(gated_app: Any) -> None:
    app, _ = gated_app
    before = scrape(app.test_client())
    with app.app_context():
        gather({"outside": lambda: 1, "broken": lambda: 1 / 0}, timeout=1)
    after = scrape(app.test_client())
    calls = "fanout_source_calls_total"
    assert grew(before, after, calls, source="outside", outcome="ok") == 1
    assert grew(before, after, calls, source="broken", outcome="error") == 1


def test_cpu_chunks_are_counted_and_timed() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_CPU_BACKEND="process", FANOUT_CPU_WORKERS=2)
    Fanout(app)

    @app.get("/spin")
    def spin() -> dict[str, int]:
        items = [(str(i), 0.02, "") for i in range(8)]
        return {"n": len(cpu_map(spin_batch, items, spin_cost))}

    app.get("/metrics")(metrics_response)
    client = app.test_client()
    try:
        before = scrape(client)
        with client.get("/spin") as response:
            assert response.get_json() == {"n": 8}
        after = scrape(client)
    finally:
        app.extensions["fanout"].shutdown()
    chunks = grew(before, after, "fanout_cpu_chunks_total")
    assert chunks >= 2
    assert grew(before, after, "fanout_cpu_chunk_duration_seconds_count") == chunks
    assert grew(before, after, "fanout_cpu_chunk_duration_seconds_sum") >= 0.02 * 8 / 2
    assert grew(before, after, "fanout_cpu_batches_total", mode="pooled") == 1


def poll(client: Any, done: Callable[[Samples], bool], seconds: float = 15) -> Samples:
    deadline = time.monotonic() + seconds
    while True:
        samples = scrape(client)
        if done(samples):
            return samples
        assert time.monotonic() < deadline, "the gauges never showed the load"
        time.sleep(0.05)


def test_io_and_cpu_gauges_show_work_in_flight_and_queued() -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_IO_THREADS=1, FANOUT_CPU_BACKEND="process", FANOUT_CPU_WORKERS=1)
    Fanout(app)
    release = threading.Event()

    @app.get("/io")
    def io() -> dict[str, bool]:
        outcomes = gather({n: lambda: release.wait(10) for n in "abc"}, timeout=10)
        return {name: o.ok for name, o in outcomes.items()}

    @app.get("/cpu")
    def cpu() -> dict[str, int]:
        items = [(str(i), 0.3, "") for i in range(4)]  # 4 chunks, 2 slots: 2 wait
        return {"n": len(cpu_map(spin_batch, items, spin_cost))}

    app.get("/metrics")(metrics_response)
    client = app.test_client()
    try:
        with ThreadPoolExecutor(2) as pool:
            io_answer = pool.submit(lambda: app.test_client().get("/io"))
            busy = poll(client, lambda s: value(s, "fanout_io_calls_queued") >= 2)
            assert value(busy, "fanout_io_calls_in_flight") >= 1
            release.set()
            assert io_answer.result(10).get_json() == {"a": True, "b": True, "c": True}

            cpu_answer = pool.submit(lambda: app.test_client().get("/cpu"))
            busy = poll(client, lambda s: value(s, "fanout_cpu_chunks_queued") >= 1)
            assert value(busy, "fanout_cpu_chunks_in_flight") >= 1
            assert cpu_answer.result(30).get_json() == {"n": 4}
        # (Gauges add up every app of the process: other tests' apps count too.)
        assert app.extensions["fanout"].cpu.stats()["queued_chunks"] == 0
        assert app.extensions["fanout"].io.get().load() == (0, 0)
    finally:
        release.set()
        app.extensions["fanout"].shutdown()


def test_the_readme_snippet_serves_metrics_in_your_own_app() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Operations: health, readiness, metrics, logs", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    app = Flask("readme_metrics")
    app.config.update(FANOUT_CPU_BACKEND="inline", FANOUT_MAX_INFLIGHT=1)
    exec(compile(snippet, "README.md", "exec"), {"app": app})
    samples = scrape(app.test_client())
    assert value(samples, "fanout_admission_limit") >= 1
    assert "metrics_response" in app.extensions["fanout"].exempt_endpoints


def test_metrics_can_be_turned_off(make_app: Callable[..., Flask], text_file: Path) -> None:
    app = make_app(f'[sources.quiet]\ntype = "file"\npath = "{text_file}"\n', FANOUT_METRICS="0")
    client = app.test_client()
    before = scrape(client)
    client.get("/").close()
    after = scrape(client)
    requests = {"route": "/", "method": "GET", "status": "200"}
    assert grew(before, after, "fanout_http_requests_total", **requests) == 0
    assert grew(before, after, "fanout_source_calls_total", source="quiet", outcome="ok") == 0


# --------------------------------------------------------------------------- several workers


def metrics_text(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(response.read().decode())


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
        return int(response.status)


def per_worker_requests(directory: Path, route: str) -> dict[str, float]:
    """``fanout_http_requests_total{route}`` in each worker's own counter file."""
    counts = {}
    for path in glob.glob(str(directory / "counter_*.db")):
        pid = Path(path).stem.split("_")[1]
        total = sum(
            sample.value
            for metric in MultiProcessCollector.merge([path])
            for sample in metric.samples
            if sample.name == "fanout_http_requests_total" and sample.labels["route"] == route
        )
        counts[pid] = total
    return counts


def test_two_workers_add_up_and_the_directory_follows_the_server(
    serve: Any, tmp_path: Path
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale from an earlier run")
    base, process = serve("--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert not (directory / "counter_999999.db").exists(), "the directory is emptied at start"

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while True:
            statuses = list(pool.map(lambda _: get(base + "/"), range(16)))
            assert statuses == [200] * 16
            sent += 16
            time.sleep(1.5)  # every worker flushes within a second
            served = per_worker_requests(directory, "/")
            if len([n for n in served.values() if n > 0]) >= 2 or sent >= 160:
                break
    assert len([n for n in served.values() if n > 0]) == 2, served
    assert sum(served.values()) == sent

    # Whichever worker answers the scrape, it reports every worker's requests.
    for _ in range(6):
        samples = parse(metrics_text(base))
        requests = {"route": "/", "method": "GET", "status": "200"}
        assert value(samples, "fanout_http_requests_total", **requests) == sent
        for source in ("file", "db", "api"):
            calls = value(samples, "fanout_source_calls_total", source=source, outcome="ok")
            assert calls == sent
        cold = min(GradientParams.initial, Settings().max_inflight)  # light load: not moved
        assert value(samples, "fanout_admission_limit") == 2 * cold
        assert value(samples, "fanout_requests_in_flight") == 0

    # A worker killed and replaced: its live gauges go, its counts stay.
    workers = psutil.Process(process.pid).children()
    victim = next(w for w in workers if str(w.pid) in served and served[str(w.pid)] > 0)
    assert (directory / f"gauge_livesum_{victim.pid}.db").exists()
    victim.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (directory / f"gauge_livesum_{victim.pid}.db").exists():
        assert time.monotonic() < deadline, "child_exit did not mark the worker dead"
        time.sleep(0.1)
    wait_until_serving(base + "/healthz", process)
    samples = parse(metrics_text(base))
    assert value(samples, "fanout_http_requests_total", **requests) == sent
    assert value(samples, "fanout_admission_limit") <= 2 * Settings().max_inflight

    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0
    assert directory.is_dir() and not list(directory.glob("*.db")), "emptied at exit"

    lines = (tmp_path / "stderr.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    access = [e for e in entries if e.get("logger") == "flask_fanout.access"]
    assert len([e for e in access if e["route"] == "/"]) == sent
    assert any(
        e.get("sources") == {"file": "ok", "db": "ok", "api": "ok"} and e["status"] == 200
        for e in access
    )


def test_serve_makes_and_removes_its_own_directory(serve: Any, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), "FANOUT_ACCESS_LOG": "0"}
    base, process = serve("--workers", "2", env=env)
    assert get(base + "/") == 200
    made = list(scratch.glob("fanout-metrics-*"))
    assert len(made) == 1 and made[0].is_dir()
    requests = {"route": "/", "method": "GET", "status": "200"}
    deadline = time.monotonic() + 10
    while value(parse(metrics_text(base)), "fanout_http_requests_total", **requests) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0
    assert not made[0].exists()
    assert "flask_fanout.access" not in (tmp_path / "stderr.log").read_text()
