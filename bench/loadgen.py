"""A closed-loop HTTP/1.1 load generator that is cheap in CPU.

``concurrency`` keep-alive connections each send one GET, wait for the whole answer,
and send the next one at once (a closed loop: the offered load adapts to the server).
The run is bounded by time and by a total request count; in-flight requests are then
waited for, each at most ``timeout`` seconds.

It is built for a 2-core machine shared with the server under test, so it spends as
little CPU as it can: asyncio protocols (no task per request), a minimal response
parser (Content-Length, chunked, or until close) and uvloop when it is installed.

Steady state: every connection starts at once, so the first second holds a
synchronized wave of connects and first requests. Throughput and latency percentiles
leave it out (requests that started in the first ``warmup`` seconds, answers that
completed in it); errors and status codes count the whole run.

    python bench/loadgen.py http://127.0.0.1:8000/ -c 200 -d 10 --server-pid 1234
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from harness.proctree import TreeSample, sample

_MAX_HEAD_BYTES = 65536
_CONNECT_RETRY_DELAY = 0.05
_SWEEP_INTERVAL = 0.1
_SAMPLE_INTERVAL = 1.0
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Target:
    """Where the requests go."""

    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL, got {url!r}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(parts.hostname, parts.port or 80, path)

    def request_bytes(self, close: bool = False) -> bytes:
        head = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode()


@dataclass
class ServerMemory:
    """RSS and CPU time of the server's process tree over the run."""

    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    cpu_seconds: float
    processes: int


@dataclass
class LoadResult:
    """Figures of one run. Latencies in milliseconds, throughput in answers per second."""

    url: str
    concurrency: int
    duration_s: float
    timeout_s: float
    warmup_s: float
    window_s: float
    requests_sent: int
    answers: int
    rps: float
    rps_2xx: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    p50_2xx_ms: float
    p90_2xx_ms: float
    p99_2xx_ms: float
    errors: dict[str, int]
    statuses: dict[str, int]
    missing_retry_after: int
    reconnects: int
    loadgen_cpu_s: float
    server: ServerMemory | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Run:
    """Shared state of one run: bounds, records and the connection slots."""

    def __init__(
        self, target: Target, duration: float, max_requests: int, timeout: float, close: bool
    ) -> None:
        self.target = target
        self.close_each = close  # a client without keep-alive: one request per connection
        self.request = target.request_bytes(close)
        self.timeout = timeout
        self.max_requests = max_requests
        self.loop = asyncio.get_running_loop()
        self.clock = time.monotonic  # not loop.time(): uvloop's is cached, in whole ms
        self.started = self.clock()
        self.deadline = self.started + duration
        self.stopped_at: float | None = None
        self.sent = 0
        self.reconnects = 0
        self.missing_retry_after = 0
        self.answers: list[tuple[float, float, int]] = []  # (start, end, HTTP status)
        self.failures: list[tuple[float, float, str]] = []  # (start, end, error kind)
        self.open: set[_Connection] = set()

    def may_send(self) -> bool:
        if self.stopped_at is not None:
            return False
        if self.sent < self.max_requests and self.clock() < self.deadline:
            return True
        self.stopped_at = min(self.clock(), self.deadline)
        return False

    def record_answer(self, start: float, status: int) -> None:
        self.answers.append((start, self.clock(), status))

    def record_failure(self, start: float, kind: str) -> None:
        self.failures.append((start, self.clock(), kind))

    def sweep_timeouts(self) -> None:
        now = self.clock()
        for conn in list(self.open):
            if conn.sent_at is not None and now - conn.sent_at > self.timeout:
                conn.fail("timeout")


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses the answer, sends the next."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = run.loop.create_future()
        self.buffer = bytearray()
        self.sent_at: float | None = None
        self._reset_answer()

    def _reset_answer(self) -> None:
        self.status = 0
        self.head_done = False
        self.length: int | None = None  # bytes of body still expected
        self.chunked = False
        self.chunk_left = 0  # bytes of the current chunk plus its CRLF
        self.in_trailer = False
        self.close_after = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.run.open.add(self)
        self.send_next()

    def data_received(self, data: bytes) -> None:
        if self.sent_at is None:
            return  # nothing asked: stray bytes after a timeout
        self.buffer += data
        if not self.head_done and not self._parse_head():
            return
        if self._body_complete():
            self._finish()

    def eof_received(self) -> bool | None:
        if self.sent_at is not None and self.head_done and self.length is None and not self.chunked:
            self._finish()  # a body delimited by the end of the connection
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.open.discard(self)
        if self.sent_at is not None:
            self.fail("connection_closed" if exc is None else "connection_reset")
        if not self.closed.done():
            self.closed.set_result(None)

    # requests and answers

    def send_next(self) -> None:
        assert self.transport is not None
        if not self.run.may_send():
            self.transport.close()
            return
        self.run.sent += 1
        self.sent_at = self.run.clock()
        self.transport.write(self.run.request)

    def fail(self, kind: str) -> None:
        if self.sent_at is not None:
            self.run.record_failure(self.sent_at, kind)
            self.sent_at = None
        if self.transport is not None:
            self.transport.abort()

    def _parse_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD_BYTES:
                self.fail("bad_response")
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        del self.buffer[: end + 4]
        try:
            self._read_head(lines)
        except (ValueError, IndexError):
            self.fail("bad_response")
            return False
        self.head_done = True
        return True

    def _read_head(self, lines: list[bytes]) -> None:
        version, status = lines[0][:8], int(lines[0][9:12])
        http10 = version == b"HTTP/1.0"
        self.status = status
        self.close_after = http10
        retry_after = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                self.close_after = token == b"close" or (http10 and token != b"keep-alive")
            elif name == b"retry-after":
                retry_after = True
        if status in _NO_BODY_STATUSES:
            self.length, self.chunked = 0, False
        if status == 503 and not retry_after:
            self.run.missing_retry_after += 1

    def _body_complete(self) -> bool:
        if self.chunked:
            return self._consume_chunks()
        if self.length is None:
            self.buffer.clear()  # read until the server closes
            return False
        if len(self.buffer) < self.length:
            return False
        del self.buffer[: self.length]
        return True

    def _consume_chunks(self) -> bool:
        buffer = self.buffer
        while True:
            if self.chunk_left:
                taken = min(self.chunk_left, len(buffer))
                del buffer[:taken]
                self.chunk_left -= taken
                if self.chunk_left:
                    return False
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return False
            line = bytes(buffer[:line_end])
            del buffer[: line_end + 2]
            if self.in_trailer:
                if not line:
                    return True
                continue
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                self.in_trailer = True
            else:
                self.chunk_left = size + 2

    def _finish(self) -> None:
        assert self.sent_at is not None and self.transport is not None
        self.run.record_answer(self.sent_at, self.status)
        self.sent_at = None
        until_close = self.length is None and not self.chunked
        close = self.close_after or self.run.close_each or until_close
        self._reset_answer()
        if close:
            self.transport.close()
        else:
            self.send_next()


async def _connect(run: _Run) -> _Connection | None:
    """A new connection that has sent its first request, or None (failure recorded)."""
    conn = _Connection(run)
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


async def _slot(run: _Run) -> None:
    """Keep one connection busy until the run stops, reconnecting when needed."""
    first = True
    while run.may_send():
        if not first:
            run.reconnects += 1
        first = False
        conn = await _connect(run)
        if conn is not None:
            await conn.closed


async def _sweeper(run: _Run, on_tick: Callable[[], None] | None) -> None:
    next_tick = run.clock()
    while True:
        await asyncio.sleep(_SWEEP_INTERVAL)
        run.sweep_timeouts()
        if on_tick is not None and run.clock() >= next_tick:
            on_tick()
            next_tick += _SAMPLE_INTERVAL


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _summarize(
    run: _Run, concurrency: int, warmup: float, loadgen_cpu: float, url: str
) -> LoadResult:
    notes = []
    window_start = run.started + warmup
    window_end = run.stopped_at if run.stopped_at is not None else run.clock()
    if window_end - window_start < 1.0:
        notes.append("run too short for a steady-state window: figures cover the whole run")
        window_start = run.started
    window = max(window_end - window_start, 1e-9)
    answered = run.answers
    in_window = [r for r in answered if window_start <= r[1] <= window_end]
    steady = [r for r in answered if r[0] >= window_start]
    latencies = sorted((end - start) * 1000 for start, end, _ in steady)
    latencies_2xx = sorted((end - start) * 1000 for start, end, s in steady if 200 <= s < 300)
    ok_in_window = sum(1 for r in in_window if 200 <= r[2] < 300)
    errors = Counter(kind for _, _, kind in run.failures)
    statuses = Counter(str(r[2]) for r in answered)
    return LoadResult(
        url=url,
        concurrency=concurrency,
        duration_s=round(run.deadline - run.started, 3),
        timeout_s=run.timeout,
        warmup_s=round(window_start - run.started, 3),
        window_s=round(window, 3),
        requests_sent=run.sent,
        answers=len(answered),
        rps=round(len(in_window) / window, 1),
        rps_2xx=round(ok_in_window / window, 1),
        p50_ms=round(_percentile(latencies, 0.50), 1),
        p90_ms=round(_percentile(latencies, 0.90), 1),
        p99_ms=round(_percentile(latencies, 0.99), 1),
        max_ms=round(latencies[-1], 1) if latencies else math.nan,
        p50_2xx_ms=round(_percentile(latencies_2xx, 0.50), 1),
        p90_2xx_ms=round(_percentile(latencies_2xx, 0.90), 1),
        p99_2xx_ms=round(_percentile(latencies_2xx, 0.99), 1),
        errors=dict(sorted(errors.items())),
        statuses=dict(sorted(statuses.items())),
        missing_retry_after=run.missing_retry_after,
        reconnects=run.reconnects,
        loadgen_cpu_s=round(loadgen_cpu, 3),
        notes=notes,
    )


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
    run = _Run(target, duration, max_requests, timeout, close)
    sweeper = asyncio.create_task(_sweeper(run, watch.tick if watch else None))
    try:
        await asyncio.gather(*(_slot(run) for _ in range(concurrency)))
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    result = _summarize(run, concurrency, warmup, time.process_time() - cpu_before, url)
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


def describe(result: LoadResult) -> str:
    """A human-readable summary of one run."""
    lines = [
        f"{result.url}  concurrency {result.concurrency}  {result.duration_s:g} s",
        f"  steady state: the first {result.warmup_s:g} s (the synchronized first wave of"
        f" connects) is left out of throughput and latencies; errors and statuses count"
        f" the whole run",
        f"  throughput   {result.rps:,.1f} answers/s ({result.rps_2xx:,.1f} 2xx/s)"
        f" over {result.window_s:g} s",
        f"  latency ms   p50 {result.p50_ms:,.1f}  p90 {result.p90_ms:,.1f}"
        f"  p99 {result.p99_ms:,.1f}  max {result.max_ms:,.1f}"
        f"  (2xx only: p50 {result.p50_2xx_ms:,.1f}  p99 {result.p99_2xx_ms:,.1f})",
        f"  requests     {result.requests_sent} sent, {result.answers} answered,"
        f" {result.reconnects} reconnects",
        f"  statuses     {result.statuses or '-'}",
        f"  errors       {result.errors or 'none'}",
        f"  loadgen CPU  {result.loadgen_cpu_s:.2f} s",
    ]
    if result.missing_retry_after:
        lines.append(f"  503 without Retry-After: {result.missing_retry_after}")
    if result.server is not None:
        server = result.server
        lines.append(
            f"  server       RSS {server.rss_start_mb:.1f} -> {server.rss_end_mb:.1f} MB"
            f" (peak {server.rss_peak_mb:.1f}, {server.processes} processes),"
            f" CPU {server.cpu_seconds:.2f} s"
        )
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="http://127.0.0.1:PORT/path")
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("-n", "--max-requests", type=int, default=10**9)
    parser.add_argument("--timeout", type=float, default=20.0, help="per request, seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds left out")
    parser.add_argument("--server-pid", type=int, help="measure this process tree's RSS")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--close", action="store_true", help="no keep-alive: one connection per request"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    result = run_load(
        args.url,
        args.concurrency,
        args.duration,
        max_requests=args.max_requests,
        timeout=args.timeout,
        warmup=args.warmup,
        server_pid=args.server_pid,
        event_loop=args.loop,
        close=args.close,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else describe(result))
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
