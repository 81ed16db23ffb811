"""Once a second, turn this process's recorded events into Prometheus values.

In multiprocess mode every write to a Prometheus value is a write to a
memory-mapped file (about 2.5 us each here): batching them once a second keeps
that off the request path. The flusher is one background thread (a greenlet
under gevent) per process; a scrape flushes its own process first. Gauges are
read at each flush from each app's :class:`~.sample.Sample`, so they cost
nothing per request. A worker's last second of samples is lost if it is killed
with SIGKILL; it is flushed at a normal exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from .instruments import CHUNK_BUCKETS, LATENCY_BUCKETS, Instruments, Series
from .recorder import Recorder, chunks, events

log = logging.getLogger("flask_fanout")

FLUSH_INTERVAL = 1.0
"""Seconds between two flushes of a process's samples (its staleness in a scrape)."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_SOURCE_NAMES = 100
"""Distinct ``source`` label values per process; later names count as ``other``."""


class Flusher:
    """Per-process state of the flush: the instruments, a lock, a background thread."""

    def __init__(self) -> None:
        self.started = False
        self.lock: threading.Lock | None = None
        self.instruments: Instruments | None = None
        self.sources: set[str] = set()
        # A list (appends are atomic) rather than a WeakSet, which cannot be
        # iterated by the flusher while another thread adds to it. Dead
        # references stay (one per app ever built): pruning could race an append.
        self.recorders: list[weakref.ref[Recorder]] = []
        self.failed = False

    def watch(self, recorder: Recorder) -> None:
        self.recorders.append(weakref.ref(recorder))

    def wake(self) -> None:
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
                self.instruments = Instruments()
            self._flush_events(self.instruments)
            self._flush_chunks(self.instruments)
            self._sample(self.instruments)

    def _source_label(self, name: str) -> str:
        if name in self.sources:
            return name
        if len(self.sources) >= MAX_SOURCE_NAMES:
            return "other"
        self.sources.add(name)
        return name

    def _flush_events(self, m: Instruments) -> None:
        bounds = (*LATENCY_BUCKETS, float("inf"))
        requests: dict[tuple[str, str, int], int] = {}
        durations: dict[tuple[str, str], Series] = {}
        calls: dict[tuple[str, str], int] = {}
        call_durations: dict[str, Series] = {}
        pop = events.popleft
        while events:
            route, method, status, seconds, made = pop()
            if route is not None:
                if method not in _METHODS:
                    method = "other"
                key = (route, method, status)
                requests[key] = requests.get(key, 0) + 1
                series = durations.get((route, method))
                if series is None:
                    series = durations[(route, method)] = Series(len(bounds))
                series.counts[bisect_left(bounds, seconds)] += 1
                series.total += seconds
            for name, code, elapsed in made or ():
                label = self._source_label(name)
                outcome = code if code in ("ok", "timeout") else "error"
                calls[(label, outcome)] = calls.get((label, outcome), 0) + 1
                series = call_durations.get(label)
                if series is None:
                    series = call_durations[label] = Series(len(bounds))
                series.counts[bisect_left(bounds, elapsed)] += 1
                series.total += elapsed
        for (route, method, status), count in requests.items():
            m.child(m.http_requests, route, method, str(status)).inc(count)
        for (route, method), series in durations.items():
            series.add_to(m.child(m.http_duration, route, method))
        for (label, outcome), count in calls.items():
            m.child(m.source_calls, label, outcome).inc(count)
        for label, series in call_durations.items():
            series.add_to(m.child(m.source_duration, label))

    def _flush_chunks(self, m: Instruments) -> None:
        if not chunks:
            return
        bounds = (*CHUNK_BUCKETS, float("inf"))
        series = Series(len(bounds))
        pop = chunks.popleft
        while chunks:
            seconds = pop()
            series.counts[bisect_left(bounds, seconds)] += 1
            series.total += seconds
        series.add_to(m.cpu_chunk_duration)

    def _sample(self, m: Instruments) -> None:
        """Gauges from each app's sample; counters by their growth since the last flush."""
        gauges = dict.fromkeys(
            ("in_flight", "limit", "io_running", "io_queued", "io_size", "chunks", "queued"), 0
        )
        counters = m.totals()
        policy_gauges: dict[Any, float] = {}
        latency = baseline = 0.0
        for found in [r for r in (ref() for ref in list(self.recorders)) if r is not None]:
            sample = found.sample()
            self._policies(m, found, sample.policies, policy_gauges)
            gauges["in_flight"] += sample.requests_in_flight
            gauges["limit"] += sample.admission_limit
            latency = max(latency, sample.admission_latency)
            baseline = max(baseline, sample.admission_baseline)
            gauges["io_running"] += sample.io_running
            gauges["io_queued"] += sample.io_queued
            gauges["io_size"] += sample.io_size
            gauges["chunks"] += sample.cpu_in_flight
            gauges["queued"] += sample.cpu_queued
            for key, counter in counters.items():
                current, before = sample.totals.get(key, 0), found.seen.get(key, 0)
                grown = current - before if current >= before else current  # after a reset
                if grown > 0:
                    counter.inc(grown)
                found.seen[key] = current
        for child, value in policy_gauges.items():
            child.set(value)
        m.requests_in_flight.set(gauges["in_flight"])
        m.admission_limit.set(gauges["limit"])
        m.admission_latency.set(latency)
        m.admission_baseline.set(baseline)
        m.io_in_flight.set(gauges["io_running"])
        m.io_queued.set(gauges["io_queued"])
        m.io_size.set(gauges["io_size"])
        m.cpu_in_flight.set(gauges["chunks"])
        m.cpu_queued.set(gauges["queued"])

    def _policies(
        self,
        m: Instruments,
        found: Recorder,
        policies: Mapping[str, Mapping[str, float]],
        gauges: dict[Any, float],
    ) -> None:
        """One app's policy states: gauges added up in ``gauges``, counters grown."""
        for name, stats in policies.items():
            label = self._source_label(name)
            for key, value in stats.items():
                series = m.policy_child(key, label)
                if series is None:
                    continue
                child, gauge = series
                if gauge:
                    if key == "breaker_state":  # the worst state, not a sum
                        gauges[child] = max(gauges.get(child, 0.0), value)
                    else:
                        gauges[child] = gauges.get(child, 0.0) + value
                    continue
                seen_key = f"policy\0{name}\0{key}"
                current, before = int(value), found.seen.get(seen_key, 0)
                grown = current - before if current >= before else current
                if grown > 0:
                    child.inc(grown)
                found.seen[seen_key] = current


flusher = Flusher()


def flush() -> None:
    """Write this process's pending samples to the Prometheus values now."""
    flusher.flush()


def _after_fork_in_child() -> None:
    # Pending samples belong to the parent, which flushes them; the flusher
    # thread and the lock do not exist here.
    events.clear()
    chunks.clear()
    flusher.started = False
    flusher.lock = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
