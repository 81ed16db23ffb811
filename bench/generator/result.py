"""The figures of one run: counting, percentiles and the steady-state window."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from generator.state import Run


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
    # Overload figures: the 200s apart from the 503s (a fast 503 is not a fast answer).
    goodput_rps: float = math.nan  # 200s per second over the window
    shed_rps: float = math.nan  # 503s per second over the window
    p50_200_ms: float = math.nan
    p99_200_ms: float = math.nan

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def connection_errors(self) -> int:
        """Failures other than timeouts: refused, reset or closed connections, bad answers."""
        return sum(n for kind, n in self.errors.items() if kind != "timeout")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(
    run: Run, concurrency: int, warmup: float, loadgen_cpu: float, url: str
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
    latencies_200 = sorted((end - start) * 1000 for start, end, s in steady if s == 200)
    in_window_by_status = Counter(r[2] for r in in_window)
    ok_in_window = sum(n for status, n in in_window_by_status.items() if 200 <= status < 300)
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
        goodput_rps=round(in_window_by_status[200] / window, 1),
        shed_rps=round(in_window_by_status[503] / window, 1),
        p50_200_ms=round(_percentile(latencies_200, 0.50), 1),
        p99_200_ms=round(_percentile(latencies_200, 0.99), 1),
    )


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
        f"  goodput      {result.goodput_rps:,.1f} 200s/s (p99 of the 200s"
        f" {result.p99_200_ms:,.1f} ms), {result.shed_rps:,.1f} 503s/s",
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
