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


def _gauge(name: str, documentation: str, mode: Literal["livesum", "liveall"] = "livesum") -> Any:
    """A gauge of the live workers (summed, or one per pid with ``liveall``)."""
    from prometheus_client import Gauge

    return Gauge(name, documentation, multiprocess_mode=mode)


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
