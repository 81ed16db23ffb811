"""SIGTERM to ``fanout serve``: in-flight requests finish, the master exits 0, nothing is left."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from .conftest import (
    Answer,
    Processes,
    Server,
    call,
    group_members,
    post_json,
    waiting_on_upstream,
)

IN_FLIGHT = 40
SLOW_MS = 1000


def stopped_cleanly(server: Server, before: list[psutil.Process]) -> None:
    """The master exited 0 and took every process it started with it."""
    assert server.process.wait(20) == 0, server.log()
    deadline = time.monotonic() + 5
    while left := [p for p in before if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]:
        assert time.monotonic() < deadline, f"left behind: {[p.cmdline() for p in left]}"
        time.sleep(0.1)
    assert group_members(server.process.pid) == []


def test_sigterm_under_load_finishes_every_in_flight_request(procs: Processes) -> None:
    upstream, upstream_process = procs.upstream()
    server = procs.serve(
        "--workers",
        "2",
        config=f"""
            [sources.slow]
            type = "http"
            url = "{upstream}/delay/{SLOW_MS}"
            timeout = 5
        """,
        env={"FANOUT_CPU_WORKERS": "1"},
    )
    # Start loky pools in the workers too, so that they have children to take down.
    numbers = {"numbers": [str(10**300 + i) for i in range(120)]}
    for _ in range(4):
        assert post_json(server.base + "/is_prime", numbers, timeout=30).status == 200
    before = server.descendants()
    assert any("loky" in " ".join(p.cmdline()) for p in before), "no process pool started"

    def slow_request(_: int) -> tuple[float, Answer]:
        return time.monotonic(), call(server.base + "/", timeout=5 + 5)

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = [pool.submit(slow_request, i) for i in range(IN_FLIGHT)]
        waiting_on_upstream(upstream_process.pid, IN_FLIGHT)  # all in flight, none answered
        terminated_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.2)
        try:  # a new connection now is refused, reset or answered: never left hanging
            late: Any = call(server.base + "/healthz", timeout=5)
        except (ConnectionError, OSError) as exc:
            assert not isinstance(exc, TimeoutError), "a new connection hung"
            late = exc
        results = [future.result() for future in futures]

    for started, answer in results:
        assert started < terminated_at < started + answer.elapsed, "it was in flight"
        assert answer.status == 200, answer
        assert answer.json()["result_slow"] == {"delay_ms": SLOW_MS}
    assert not isinstance(late, Answer) or late.status in (200, 503), late
    stopped_cleanly(server, before)


def test_sigterm_stops_the_demo_upstream_it_started(procs: Processes) -> None:
    """Without a config, ``fanout serve`` starts the demo upstream; SIGTERM stops it too."""
    server = procs.serve("--workers", "1")
    answer = server.get("/")
    assert answer.status == 200 and answer.json()["errors"] == {}
    before = server.descendants()
    assert any("upstream" in p.cmdline() for p in before), "no demo upstream child"
    os.kill(server.process.pid, signal.SIGTERM)
    stopped_cleanly(server, before)
