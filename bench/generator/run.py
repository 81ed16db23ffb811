"""Running the closed loop: connection slots, the timeout sweeper, the server's tree."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from generator.protocol import Connection
from generator.result import LoadResult, ServerMemory, summarize
from generator.state import Run, Target
from harness.proctree import TreeSample, sample

_CONNECT_RETRY_DELAY = 0.05
_SWEEP_INTERVAL = 0.1
_SAMPLE_INTERVAL = 1.0


async def _connect(run: Run) -> Connection | None:
    """A new connection that has sent its first request, or None (failure recorded)."""
    conn = Connection(run)
    started = run.clock()
    target = run.target
    try:
        await asyncio.wait_for(
            run.loop.create_connection(lambda: conn, target.host, target.port), run.timeout
        )
    except TimeoutError:
        run.record_failure(started, "connect_timeout")
        return None
    except OSError:
        run.record_failure(started, "connect_error")
        await asyncio.sleep(_CONNECT_RETRY_DELAY)
        return None
    return conn


async def _slot(run: Run) -> None:
    """Keep one connection busy until the run stops, reconnecting when needed."""
    first = True
    while run.may_send():
        if not first:
            run.reconnects += 1
        first = False
        conn = await _connect(run)
        if conn is not None:
            await conn.closed


async def _sweeper(run: Run, on_tick: Callable[[], None] | None) -> None:
    next_tick = run.clock()
    while True:
        await asyncio.sleep(_SWEEP_INTERVAL)
        run.sweep_timeouts()
        if on_tick is not None and run.clock() >= next_tick:
            on_tick()
            next_tick += _SAMPLE_INTERVAL


class _ServerWatch:
    """Samples the server's process tree at start, every second, and at the end."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first = sample(pid)
        self.peak_rss = self.first.rss_bytes
        self.last: TreeSample = self.first

    def tick(self) -> None:
        self.last = sample(self.pid)
        self.peak_rss = max(self.peak_rss, self.last.rss_bytes)

    def result(self) -> ServerMemory:
        self.tick()
        return ServerMemory(
            rss_start_mb=round(self.first.rss_mb, 1),
            rss_end_mb=round(self.last.rss_mb, 1),
            rss_peak_mb=round(self.peak_rss / 2**20, 1),
            cpu_seconds=round(self.last.cpu_seconds - self.first.cpu_seconds, 3),
            processes=len(self.last.pids),
        )


async def run_load_async(
    url: str,
    concurrency: int,
    duration: float,
    *,
    max_requests: int = 10**9,
    timeout: float = 20.0,
    warmup: float = 1.0,
    server_pid: int | None = None,
    close: bool = False,
) -> LoadResult:
    """Run the closed loop against ``url``; see the module docstring.

    ``close``: send ``Connection: close`` and open a new connection for every
    request, like a client without keep-alive.
    """
    target = Target.from_url(url)
    watch = _ServerWatch(server_pid) if server_pid is not None else None
    cpu_before = time.process_time()
    run = Run(target, duration, max_requests, timeout, close)
    sweeper = asyncio.create_task(_sweeper(run, watch.tick if watch else None))
    try:
        await asyncio.gather(*(_slot(run) for _ in range(concurrency)))
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    result = summarize(run, concurrency, warmup, time.process_time() - cpu_before, url)
    if watch is not None:
        result.server = watch.result()
    return result


def _event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``auto``: uvloop when it is installed; ``asyncio``: the standard loop."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def run_load(
    url: str, concurrency: int, duration: float, *, event_loop: str = "auto", **options: Any
) -> LoadResult:
    """Synchronous wrapper of :func:`run_load_async`, on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=_event_loop_factory(event_loop)) as runner:
        return runner.run(run_load_async(url, concurrency, duration, **options))
