"""The Prometheus objects of this process, created at the first flush.

prometheus_client is imported here only, lazily: it picks its multiprocess mode
when first imported, so nothing may import it before ``fanout serve`` has set
``PROMETHEUS_MULTIPROC_DIR`` (see :mod:`flask_fanout.server.metrics_dir`).
"""

from __future__ import annotations

from typing import Any, Literal

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CHUNK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Instruments:
    """Every series of the extension; ``child`` caches labelled children."""

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
            "fanout_admission_limit",
            "The in-flight limit (adaptive, or FANOUT_MAX_INFLIGHT) summed over the live workers.",
        )
        self.admission_latency = _gauge(
            "fanout_admission_latency_seconds",
            "Latency the adaptive admission controller last saw (window mean plus "
            "listen-queue wait), per worker.",
            mode="liveall",
        )
        self.admission_baseline = _gauge(
            "fanout_admission_baseline_seconds",
            "No-load latency the adaptive admission controller compares with, per worker.",
            mode="liveall",
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
        self._policies = _policy_series()
        self._children: dict[Any, Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def totals(self) -> dict[str, Any]:
        """The counter each key of :attr:`Sample.totals` grows."""
        return {
            "rejected": self.admission_rejected,
            "chunks_submitted_total": self.cpu_chunks,
            "batches_inline_total": self.child(self.cpu_batches, "inline"),
            "batches_pooled_total": self.child(self.cpu_batches, "pooled"),
            "timeouts_total": self.child(self.cpu_failures, "timeout"),
            "unavailable_total": self.child(self.cpu_failures, "unavailable"),
        }

    def policy_child(self, key: str, source: str) -> tuple[Any, bool] | None:
        """The child series a key of ``Sample.policies`` feeds, and whether it is a
        gauge (set) or a counter (grown); None for a key without a series."""
        found = self._policies.get(key)
        if found is None:
            return None
        metric, labels, gauge = found
        return self.child(metric, source, *labels), gauge


def _policy_series() -> dict[str, tuple[Any, tuple[str, ...], bool]]:
    """The series of the call policies, by the ``Sample.policies`` key that feeds them."""
    from prometheus_client import Counter

    source = ["source"]
    state = _gauge(
        "fanout_breaker_state",
        "Circuit breaker per call name: 0 closed, 1 half-open, 2 open (highest over workers).",
        source,
        mode="livemax",
    )
    moves = Counter(
        "fanout_breaker_transitions_total",
        "Circuit breaker state changes, by the state entered.",
        ["source", "to"],
    )
    fast = Counter(
        "fanout_breaker_fast_fails_total", "Calls answered circuit_open without a call.", source
    )
    in_use = _gauge("fanout_bulkhead_in_use", "Calls holding a bulkhead slot.", source)
    rejected = Counter(
        "fanout_bulkhead_rejected_total", "Calls answered rejected: the bulkhead was full.", source
    )
    retries = Counter("fanout_retries_total", "Retries sent (attempts after the first).", source)
    retry_budget = _gauge(
        "fanout_retry_budget", "Retries the retry budget allows now (summed over workers).", source
    )
    hedges = Counter(
        "fanout_hedges_total",
        "Hedged attempts: sent, and won (the hedge answered first).",
        ["source", "result"],
    )
    hedge_budget = _gauge("fanout_hedge_budget", "Hedges the hedge budget allows now.", source)
    cache = Counter(
        "fanout_cache_total",
        "Cache lookups: hit (fresh), miss, stale (the last good value answered a failure).",
        ["source", "result"],
    )
    shared = Counter(
        "fanout_shared_calls_total",
        "Calls answered by an identical call in flight (single-flight).",
        source,
    )
    return {
        "breaker_state": (state, (), True),
        "breaker_to_open_total": (moves, ("open",), False),
        "breaker_to_half_open_total": (moves, ("half_open",), False),
        "breaker_to_closed_total": (moves, ("closed",), False),
        "breaker_fast_fails_total": (fast, (), False),
        "bulkhead_in_use": (in_use, (), True),
        "bulkhead_rejected_total": (rejected, (), False),
        "retries_total": (retries, (), False),
        "retry_budget": (retry_budget, (), True),
        "hedges_sent_total": (hedges, ("sent",), False),
        "hedges_won_total": (hedges, ("won",), False),
        "hedge_budget": (hedge_budget, (), True),
        "cache_hits_total": (cache, ("hit",), False),
        "cache_misses_total": (cache, ("miss",), False),
        "cache_stale_total": (cache, ("stale",), False),
        "shared_total": (shared, (), False),
    }


def _gauge(
    name: str,
    documentation: str,
    labels: list[str] | None = None,
    *,
    mode: Literal["livesum", "livemax", "liveall"] = "livesum",
) -> Any:
    """A gauge summed (or ``mode``) over the live workers; a dead worker's value is dropped."""
    from prometheus_client import Gauge

    return Gauge(name, documentation, labels or (), multiprocess_mode=mode)


class Series:
    """Observations of one histogram series between two flushes, bucketed."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.total = 0.0

    def add_to(self, histogram: Any) -> None:
        """Add these observations to a prometheus_client histogram.

        prometheus_client has no public call for pre-bucketed observations, so
        this writes the histogram's own values, as ``observe`` does;
        tests/metrics/test_metrics.py checks the result against ``observe``.
        Calling ``observe`` once per sample instead would cost a lock and a
        multiprocess file write per observation on the flusher thread; two
        private attributes (``_sum``, ``_buckets``) are the smaller risk, and
        that test fails first if a prometheus_client release renames them.
        """
        histogram._sum.inc(self.total)
        for value, count in zip(histogram._buckets, self.counts, strict=True):
            if count:
                value.inc(count)
