"""Prometheus metrics of the extension, and the ``/metrics`` answer.

Cheap on the request path, whatever the registry. A request appends one tuple to
a deque (atomic under the GIL, so safe from threads, greenlets and loky's
callback thread alike); a flusher, one background thread (a greenlet under
gevent) per process, turns the tuples into Prometheus samples every
:data:`FLUSH_INTERVAL` seconds, and a scrape flushes its own process first. In
multiprocess mode every write to a Prometheus value is a write to a memory-mapped
file (about 2.5 us each here): batching them once a second keeps that off the
request path. Gauges (requests, I/O calls and CPU chunks in flight or queued)
are sampled at each flush from the live objects, so they cost nothing per request.

Multiprocess mode (several gunicorn workers): prometheus_client chooses its value
class when it is first imported, so ``PROMETHEUS_MULTIPROC_DIR`` must be set
before that, in the master, before the workers fork (``fanout serve`` does it;
see :mod:`flask_fanout.metrics_dir`). prometheus_client is imported lazily
here, at the first flush or scrape, so nothing imports it before the variable is
set. Without the variable (``flask run``, tests) metrics live in the default
registry.

A worker's last second of samples is lost if it is killed with SIGKILL; it is
flushed at a normal exit.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from .logs import access_log, log_request

if TYPE_CHECKING:
    from .extension import FanoutState
    from .gather import Outcome

__all__ = ["CONTENT_TYPE", "FLUSH_INTERVAL", "flush", "install", "metrics_response", "record_calls"]

log = logging.getLogger("flask_fanout")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FLUSH_INTERVAL = 1.0
"""Seconds between two flushes of a process's samples (its staleness in a scrape)."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CHUNK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

UNMATCHED_ROUTE = "unmatched"
"""``route`` label of requests that matched no URL rule (404, 405)."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_SOURCE_NAMES = 100
"""Distinct ``source`` label values per process; later names count as ``other``."""

# (route, method, status, seconds, calls) per request; route None for gather
# calls made outside a request. calls: ((name, outcome code, seconds), ...) or None.
_Event = tuple[str | None, str, int, float, tuple[tuple[str, str, float], ...] | None]
_events: deque[_Event] = deque()
_chunks: deque[float] = deque()
# A list (appends are atomic) rather than a WeakSet, which cannot be iterated
# by the flusher while another thread adds to it.
_states: list[weakref.ref[FanoutState]] = []

# The request being served in this context: [start time, gather calls, token].
# A context variable, not flask.g: each LocalProxy access costs about 1 us, and
# one mutable list is shared even with contexts copied for threads.
_current: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "fanout_request", default=None
)


# ---------------------------------------------------------------------- request path


def install(app: Flask, state: FanoutState) -> None:
    """Time every request of ``app``, record it and write its access line."""
    settings = state.settings
    if settings.metrics:
        _states.append(weakref.ref(state))
        state.cpu.chunk_observer = _chunks.append
    if not (settings.metrics or settings.access_log):
        return
    record, write_log = settings.metrics, settings.access_log

    def finish(response: Response) -> Response:
        timing = _current.get()
        if timing is None:
            return response
        seconds = time.perf_counter() - timing[0]
        calls = timing[1]
        try:
            _current.reset(timing[2])
        except ValueError:  # not the context that started it
            _current.set(None)
        current = request._get_current_object()  # type: ignore[attr-defined]
        rule = current.url_rule
        route = rule.rule if rule is not None else UNMATCHED_ROUTE
        method = current.method
        status = response.status_code
        if record:
            _events.append((route, method, status, seconds, calls))
            if not _flusher.started:
                _flusher.start()
        if write_log and access_log.isEnabledFor(logging.INFO):
            log_request(method, route, current.path, status, seconds, calls)
        return response

    app.before_request(_start)
    app.after_request(finish)


def _start() -> ResponseReturnValue | None:
    timing: list[Any] = [time.perf_counter(), None, None]
    timing[2] = _current.set(timing)
    return None


def record_calls(state: FanoutState, outcomes: Mapping[str, Outcome[Any]]) -> None:
    """Note each ``gather`` call's outcome for the request's metrics and access line."""
    settings = state.settings
    if not (settings.metrics or settings.access_log):
        return
    calls = tuple(
        (name, "ok" if o.error is None else o.error.code, o.elapsed) for name, o in outcomes.items()
    )
    timing = _current.get()
    if timing is not None:  # in a request: recorded with it
        timing[1] = calls if timing[1] is None else timing[1] + calls
    elif settings.metrics:
        _events.append((None, "", 0, 0.0, calls))
        if not _flusher.started:
            _flusher.start()


# ---------------------------------------------------------------------- instruments


class _Instruments:
    """The Prometheus objects of this process; created at the first flush."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.http_requests = Counter(
            "fanout_http_requests_total",
            "HTTP requests answered by the app, by URL rule, method and status "
            "(admission rejections are in fanout_admission_rejected_total).",
            ["route", "method", "status"],
        )
        self.http_duration = Histogram(
            "fanout_http_request_duration_seconds",
            "Time to produce a response, by URL rule and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
        )
        self.source_calls = Counter(
            "fanout_source_calls_total",
            "gather() calls by name and outcome: ok, timeout or error.",
            ["source", "outcome"],
        )
        self.source_duration = Histogram(
            "fanout_source_duration_seconds",
            "gather() call time by name, up to its answer or to giving up on it.",
            ["source"],
            buckets=LATENCY_BUCKETS,
        )
        self.admission_rejected = Counter(
            "fanout_admission_rejected_total",
            "Requests answered 503 at once because the worker was at FANOUT_MAX_INFLIGHT.",
        )
        self.requests_in_flight = _gauge(
            "fanout_requests_in_flight",
            "Requests holding an admission slot (exempt endpoints not counted).",
        )
        self.admission_limit = _gauge(
            "fanout_admission_limit", "FANOUT_MAX_INFLIGHT summed over the live workers."
        )
        self.io_in_flight = _gauge("fanout_io_calls_in_flight", "Calls running on the I/O pools.")
        self.io_queued = _gauge(
            "fanout_io_calls_queued", "Calls waiting for a free slot of an I/O pool."
        )
        self.io_size = _gauge(
            "fanout_io_pool_size", "FANOUT_IO_THREADS summed over the live workers."
        )
        self.cpu_in_flight = _gauge(
            "fanout_cpu_chunks_in_flight", "CPU chunks submitted to the backend and not finished."
        )
        self.cpu_queued = _gauge(
            "fanout_cpu_chunks_queued", "CPU chunks waiting for a slot of the process backend."
        )
        self.cpu_chunks = Counter("fanout_cpu_chunks_total", "CPU chunks submitted to the backend.")
        self.cpu_chunk_duration = Histogram(
            "fanout_cpu_chunk_duration_seconds",
            "CPU chunk time from submission to result.",
            buckets=CHUNK_BUCKETS,
        )
        self.cpu_batches = Counter(
            "fanout_cpu_batches_total",
            "cpu_map() batches, by mode: inline (too cheap to send) or pooled.",
            ["mode"],
        )
        self.cpu_failures = Counter(
            "fanout_cpu_failures_total",
            "cpu_map() batches that failed, by reason: timeout or unavailable.",
            ["reason"],
        )
        self._children: dict[Any, Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


def _gauge(name: str, documentation: str) -> Any:
    """A gauge summed over the live workers; a dead worker's value is dropped."""
    from prometheus_client import Gauge

    return Gauge(name, documentation, multiprocess_mode="livesum")


def _add_histogram(histogram: Any, counts: list[int], total: float) -> None:
    """Add pre-bucketed observations: ``counts[i]`` in bucket ``i`` (not cumulative).

    prometheus_client has no public call for this, so it writes the histogram's
    own values, as ``observe`` does; tests/test_metrics.py checks the result.
    """
    histogram._sum.inc(total)
    for value, count in zip(histogram._buckets, counts, strict=True):
        if count:
            value.inc(count)


class _Series:
    """Observations of one histogram series between two flushes."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.total = 0.0


# ---------------------------------------------------------------------- flushing


class _Flusher:
    """Per-process state of the flush: the instruments, a lock, a background thread."""

    def __init__(self) -> None:
        self.started = False
        self.lock: threading.Lock | None = None
        self.instruments: _Instruments | None = None
        self.sources: set[str] = set()
        self.seen: weakref.WeakKeyDictionary[FanoutState, dict[str, int]] = (
            weakref.WeakKeyDictionary()
        )
        self.failed = False

    def start(self) -> None:
        """Start this process's flusher (once; again in a child after ``fork``)."""
        if self.started:
            return
        self.started = True  # before anything can switch: one flusher per process
        self._lock()
        thread = threading.Thread(target=self._run, name="fanout-metrics", daemon=True)
        thread.start()
        atexit.register(flush)

    def _lock(self) -> threading.Lock:
        # Created in the process that uses it, after gevent's monkey-patching.
        if self.lock is None:
            self.lock = threading.Lock()
        return self.lock

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            try:
                self.flush()
            except Exception:
                if not self.failed:  # once, not every second
                    self.failed = True
                    log.exception("flushing metrics failed")

    def flush(self) -> None:
        with self._lock():
            if self.instruments is None:
                self.instruments = _Instruments()
            instruments = self.instruments
            self._flush_events(instruments)
            self._flush_chunks(instruments)
            self._sample(instruments)

    def _source_label(self, name: str) -> str:
        if name in self.sources:
            return name
        if len(self.sources) >= MAX_SOURCE_NAMES:
            return "other"
        self.sources.add(name)
        return name

    def _flush_events(self, m: _Instruments) -> None:
        bounds = (*LATENCY_BUCKETS, float("inf"))
        requests: dict[tuple[str, str, int], int] = {}
        durations: dict[tuple[str, str], _Series] = {}
        calls: dict[tuple[str, str], int] = {}
        call_durations: dict[str, _Series] = {}
        pop = _events.popleft
        while _events:
            route, method, status, seconds, made = pop()
            if route is not None:
                if method not in _METHODS:
                    method = "other"
                key = (route, method, status)
                requests[key] = requests.get(key, 0) + 1
                series = durations.get((route, method))
                if series is None:
                    series = durations[(route, method)] = _Series(len(bounds))
                series.counts[bisect_left(bounds, seconds)] += 1
                series.total += seconds
            for name, code, elapsed in made or ():
                label = self._source_label(name)
                outcome = code if code in ("ok", "timeout") else "error"
                calls[(label, outcome)] = calls.get((label, outcome), 0) + 1
                series = call_durations.get(label)
                if series is None:
                    series = call_durations[label] = _Series(len(bounds))
                series.counts[bisect_left(bounds, elapsed)] += 1
                series.total += elapsed
        for (route, method, status), count in requests.items():
            m.child(m.http_requests, route, method, str(status)).inc(count)
        for (route, method), series in durations.items():
            _add_histogram(m.child(m.http_duration, route, method), series.counts, series.total)
        for (label, outcome), count in calls.items():
            m.child(m.source_calls, label, outcome).inc(count)
        for label, series in call_durations.items():
            _add_histogram(m.child(m.source_duration, label), series.counts, series.total)

    def _flush_chunks(self, m: _Instruments) -> None:
        if not _chunks:
            return
        bounds = (*CHUNK_BUCKETS, float("inf"))
        series = _Series(len(bounds))
        pop = _chunks.popleft
        while _chunks:
            seconds = pop()
            series.counts[bisect_left(bounds, seconds)] += 1
            series.total += seconds
        _add_histogram(m.cpu_chunk_duration, series.counts, series.total)

    def _sample(self, m: _Instruments) -> None:
        """Gauges from the live objects; counters by their growth since the last flush."""
        in_flight = limit = io_running = io_queued = io_size = chunks = queued = 0
        # Dead references stay (one per app ever built): pruning could race an append.
        for state in [s for s in (ref() for ref in list(_states)) if s is not None]:
            in_flight += state.admission.inflight
            limit += state.admission.limit
            io_size += state.settings.io_threads
            pool = state.io.peek()
            if pool is not None:
                running, waiting = pool.load()
                io_running += running
                io_queued += waiting
            stats = state.cpu.stats()
            chunks += stats["in_flight_chunks"]
            queued += stats.get("queued_chunks", 0)
            totals = {"rejected": state.admission.rejected, **stats}
            seen = self.seen.setdefault(state, {})
            for key, counter in (
                ("rejected", m.admission_rejected),
                ("chunks_submitted_total", m.cpu_chunks),
                ("batches_inline_total", m.child(m.cpu_batches, "inline")),
                ("batches_pooled_total", m.child(m.cpu_batches, "pooled")),
                ("timeouts_total", m.child(m.cpu_failures, "timeout")),
                ("unavailable_total", m.child(m.cpu_failures, "unavailable")),
            ):
                current, before = totals.get(key, 0), seen.get(key, 0)
                grown = current - before if current >= before else current  # after a reset
                if grown > 0:
                    counter.inc(grown)
                seen[key] = current
        m.requests_in_flight.set(in_flight)
        m.admission_limit.set(limit)
        m.io_in_flight.set(io_running)
        m.io_queued.set(io_queued)
        m.io_size.set(io_size)
        m.cpu_in_flight.set(chunks)
        m.cpu_queued.set(queued)


_flusher = _Flusher()


def flush() -> None:
    """Write this process's pending samples to the Prometheus values now."""
    _flusher.flush()


def _after_fork_in_child() -> None:
    # Pending samples belong to the parent, which flushes them; the flusher
    # thread and the lock do not exist here.
    _events.clear()
    _chunks.clear()
    _flusher.started = False
    _flusher.lock = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------- exposition


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes this process's values to shared files."""
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def metrics_response() -> Response:
    """The metrics of every worker in Prometheus' text format (for ``GET /metrics``).

    In multiprocess mode the answer aggregates the files of all the workers, so
    any worker can answer the scrape; otherwise it is the default registry.
    """
    flush()
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    registry = REGISTRY
    if multiprocess_mode():
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
