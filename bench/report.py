"""Markdown tables and the PNG plot of the load benchmark's figures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IDEAL_LATENCY_S = 0.3  # the slowest of the three reads

WORKLOAD_TITLES = {
    "sleeps": "workload (a) sleeps: the example's reads of 0.1 / 0.2 / 0.3 s",
    "http": "workload (b) http: three calls to the local upstream answering after"
    " 100 / 200 / 300 ms",
}

HOW_TO_READ = """\
How to read it:
- Closed loop: C keep-alive connections, each sends its next request when the previous
  answer arrives. Every figure comes from one run of the generator per row, on a freshly
  started server.
- Steady state: throughput and latency percentiles leave out the first second of each
  run (the synchronized first wave of connects). Throughput counts 2xx answers completed
  after that second, up to the end of the run; latencies are of the requests sent after
  it (including those answered while the run drained). Errors (connection errors,
  timeouts) and status codes count the whole run.
- ideal = C / 0.3 s (every request answered in 0.3 s, the slowest read);
  x floor = throughput / the generator's own throughput against the bare upstream
  (`/api/data`, no work) at the same C, measured in the same run.
- p50/p90/p99 are of the 2xx answers (a fast 503 under overload is not a fast answer).
- server CPU = CPU time of the server's process tree per answer (the upstream and the
  generator not included); RSS = resident memory of that tree at the start and end of
  the run.
- other load = CPU used during the run by processes other than the server, the upstream
  and the generator, in cores (of 2): above ~0.1 the machine was not quiet for that row.
- Werkzeug closes the connection after every answer, so the generator reconnects for
  each request to the two Werkzeug contenders.
"""


def heading(title: str, command: str) -> list[str]:
    """The opening lines of every results file: its title and the command behind it."""
    return [f"# {title}", "", "Reproduce with:", "", "```", command, "```", ""]


@dataclass
class Point:
    """One run of the generator against one server at one concurrency."""

    workload: str  # "sleeps", "http" or "floor"
    contender: str
    label: str
    concurrency: int
    figures: dict[str, Any]  # LoadResult.to_dict()
    floor_rps: float | None = None
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ideal_rps(self) -> float:
        return self.concurrency / IDEAL_LATENCY_S

    @property
    def rps(self) -> float:
        return float(self.figures.get("rps_2xx", math.nan))

    @property
    def server_cpu_ms(self) -> float:
        server = self.figures.get("server") or {}
        answers = self.figures.get("answers") or 0
        if not server or not answers:
            return math.nan
        return 1000 * float(server["cpu_seconds"]) / answers

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "contender": self.contender,
            "label": self.label,
            "concurrency": self.concurrency,
            "ideal_rps": round(self.ideal_rps, 1),
            "floor_rps": self.floor_rps,
            "fraction_of_ideal": _ratio(self.rps, self.ideal_rps),
            "fraction_of_floor": _ratio(self.rps, self.floor_rps),
            "server_cpu_ms_per_answer": _round(self.server_cpu_ms, 3),
            "failure": self.failure,
            **self.extra,
            "figures": self.figures,
        }


_DERIVED = frozenset(
    {"ideal_rps", "fraction_of_ideal", "fraction_of_floor", "server_cpu_ms_per_answer"}
)
_FIELDS = frozenset({"workload", "contender", "label", "concurrency", "figures"})


def point_from_dict(data: dict[str, Any]) -> Point:
    """The inverse of :meth:`Point.to_dict` (derived figures are recomputed)."""
    known = _DERIVED | _FIELDS | {"floor_rps", "failure"}
    return Point(
        data["workload"],
        data["contender"],
        data["label"],
        data["concurrency"],
        data["figures"],
        floor_rps=data.get("floor_rps"),
        failure=data.get("failure"),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _round(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def _ratio(value: float, reference: float | None) -> float | None:
    if not reference or math.isnan(value):
        return None
    return round(value / reference, 3)


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"  # no request of the steady-state window was answered
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counts.items()) or "0"


def _fraction(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _other_load(point: Point) -> str:
    cores = point.extra.get("other_cpu_cores")
    return "-" if cores is None else f"{cores:.2f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _point_row(point: Point, *, with_label: bool = True) -> list[str]:
    if point.failure:
        return [point.label, str(point.concurrency), "failed: " + point.failure]
    f, data = point.figures, point.to_dict()
    server = f.get("server") or {}
    rss = f"{server.get('rss_start_mb', 0):.0f} → {server.get('rss_end_mb', 0):.0f}"
    row = [
        str(point.concurrency),
        f"{point.rps:,.1f}",
        _fraction(data["fraction_of_ideal"]),
        _fraction(data["fraction_of_floor"], 3),
        _ms(f["p50_2xx_ms"]),
        _ms(f["p90_2xx_ms"]),
        _ms(f["p99_2xx_ms"]),
        _counts(f["errors"]),
        _counts(f["statuses"]),
        rss if server else "-",
        _ms(point.server_cpu_ms),
        _other_load(point),
    ]
    return [point.label, *row] if with_label else row


_POINT_HEADER = [
    "contender",
    "C",
    "req/s",
    "x ideal",
    "x floor",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "errors",
    "status codes",
    "server RSS MB",
    "server CPU ms/req",
    "other load",
]


def summary_table(points: Sequence[Point], concurrency: int) -> list[str]:
    """The contenders at one concurrency, fastest first."""
    chosen = sorted(
        (p for p in points if p.concurrency == concurrency and not p.failure),
        key=lambda p: -p.rps,
    )
    rows = [
        [
            p.label,
            f"{p.rps:,.1f}",
            _fraction(p.to_dict()["fraction_of_ideal"]),
            _ms(p.figures["p99_2xx_ms"]),
            _counts(p.figures["errors"]),
            _ms(p.server_cpu_ms),
        ]
        for p in chosen
    ]
    header = ["contender", "req/s", "x ideal", "p99 ms", "errors", "server CPU ms/req"]
    return _table(header, rows)


def _merged_runs(meta: dict[str, Any]) -> list[str]:
    """The later runs whose rows replaced this run's (``load.py --merge``)."""
    merged = meta.get("merged") or []
    if not merged:
        return []
    lines = ["The rows (and the floor, if measured) of these later runs replaced the above's:", ""]
    lines += [f"- {run['date']}: `{run['command']}`" for run in merged]
    return [*lines, ""]


def _quietness(floor: Sequence[Point], points: Sequence[Point], limit: float = 0.15) -> str:
    """One sentence on whether other processes loaded the machine during the runs."""
    rows = [p for p in (*floor, *points) if p.extra.get("other_cpu_cores") is not None]
    busy = [p for p in rows if p.extra["other_cpu_cores"] > limit]
    if not busy:
        return f"The machine was quiet: no run saw other processes use more than {limit} cores."
    worst = max(p.extra["other_cpu_cores"] for p in busy)
    return (
        f"**Warning: the machine was not quiet.** In {len(busy)} of {len(rows)} runs, other"
        f" processes used more than {limit} cores (up to {worst:.2f} of 2; column"
        " 'other load'): those rows understate what the servers can do."
    )


def floor_table(points: Sequence[Point]) -> list[str]:
    rows = []
    for p in points:
        f = p.figures
        answers = f["answers"] or 1
        upstream = p.extra.get("upstream_cpu_s")
        rows.append(
            [
                str(p.concurrency),
                f"{p.rps:,.0f}",
                _ms(f["p50_ms"]),
                _ms(f["p99_ms"]),
                _counts(f["errors"]),
                f"{1e6 * f['loadgen_cpu_s'] / answers:.0f}",
                "-" if upstream is None else f"{1e6 * upstream / answers:.0f}",
            ]
        )
    header = ["C", "req/s", "p50 ms", "p99 ms", "errors", "generator CPU µs/req"]
    return _table([*header, "upstream CPU µs/req"], rows)


def load_markdown(meta: dict[str, Any], floor: Sequence[Point], points: Sequence[Point]) -> str:
    """The whole load report: command, how to read it, floor, a section per workload."""
    lines = [
        *heading("Load benchmark", meta["command"]),
        f"Run on {meta['machine']}, {meta['date']}. {meta['settings']}",
        "",
        *_merged_runs(meta),
        _quietness(floor, points),
        "",
        HOW_TO_READ,
    ]
    if floor:
        lines += ["## The generator's floor: it against the bare upstream", ""]
        lines += [*floor_table(floor), ""]
    for workload in meta["workloads"]:
        chosen = [p for p in points if p.workload == workload]
        if not chosen:
            continue
        lines += [f"## {WORKLOAD_TITLES.get(workload, workload)}", ""]
        if 200 in meta["concurrency"]:
            lines += ["At C=200, fastest first:", ""]
            lines += [*summary_table(chosen, 200), ""]
        lines += [*_table(_POINT_HEADER, (_point_row(p) for p in chosen)), ""]
    if meta.get("plot"):
        lines += [f"![throughput and p99 against concurrency]({meta['plot']})", ""]
    return "\n".join(lines)


def overload_markdown(meta: dict[str, Any], points: Sequence[Point]) -> str:
    """Admission control at overload: status mix, errors, p99 of the 200s, memory."""
    header = [
        "workload",
        "contender",
        "round",
        "C",
        "200/s",
        "200",
        "503",
        "503 without Retry-After",
        "other statuses",
        "errors",
        "p99 of 200s ms",
        "server RSS MB",
    ]
    rows = []
    for p in points:
        f = p.figures
        statuses = dict(f["statuses"])
        ok, shed = statuses.pop("200", 0), statuses.pop("503", 0)
        server = f.get("server") or {}
        rows.append(
            [
                p.workload,
                p.label,
                str(p.extra.get("round", "")),
                str(p.concurrency),
                f"{p.rps:,.1f}",
                str(ok),
                str(shed),
                str(f["missing_retry_after"]),
                _counts(statuses),
                _counts(f["errors"]),
                _ms(f["p99_2xx_ms"]),
                f"{server.get('rss_start_mb', 0):.0f} → {server.get('rss_end_mb', 0):.0f}",
            ]
        )
    lines = [
        *heading("Overload benchmark (admission control)", meta["command"]),
        f"Run on {meta['machine']}, {meta['date']}. {meta['settings']}",
        "",
        "Each round keeps the same server (it is not restarted between rounds). Every",
        "answer should be 200, or 503 with Retry-After; no connection errors or timeouts;",
        "the p99 of the 200s (steady state, first second left out) <= 390 ms; the server",
        "still serves afterwards; its RSS stays under 1.5 x start + 50 MB.",
        "",
        *_table(header, rows),
        "",
        *(f"- {verdict}" for verdict in meta.get("verdicts", [])),
        "",
    ]
    return "\n".join(lines)


def write_plot(path: Path, points: Sequence[Point], workloads: Sequence[str]) -> None:
    """Throughput and p99 against concurrency, a line per contender, a row per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [w for w in workloads if any(p.workload == w for p in points)]
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 4.2 * len(rows)), squeeze=False)
    for (ax_rps, ax_p99), workload in zip(axes, rows, strict=True):
        chosen = [p for p in points if p.workload == workload and not p.failure]
        _plot_workload(ax_rps, ax_p99, chosen)
        ax_rps.set_title(f"{workload}: throughput (steady state)")
        ax_p99.set_title(f"{workload}: p99 latency of 2xx answers")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plotted_p99(point: Point) -> float:
    """The p99, or the timeout as a lower bound when no request of the window was answered."""
    p99 = float(point.figures["p99_2xx_ms"])
    if math.isnan(p99) and point.figures["errors"].get("timeout"):
        return 1000 * float(point.figures["timeout_s"])
    return p99


def _plot_workload(ax_rps: Any, ax_p99: Any, points: Sequence[Point]) -> None:
    concurrencies = sorted({p.concurrency for p in points})
    labels = list(dict.fromkeys(p.label for p in points))
    for label in labels:
        line = sorted((p for p in points if p.label == label), key=lambda p: p.concurrency)
        xs = [p.concurrency for p in line]
        ax_rps.plot(xs, [max(p.rps, 0.1) for p in line], marker="o", label=label)
        ax_p99.plot(xs, [_plotted_p99(p) for p in line], marker="o", label=label)
    ideal = [c / IDEAL_LATENCY_S for c in concurrencies]
    ax_rps.plot(concurrencies, ideal, "k--", linewidth=1, label="ideal C / 0.3 s")
    ax_p99.axhline(300, color="k", linestyle="--", linewidth=1)
    for ax, ylabel in ((ax_rps, "answers/s (2xx)"), (ax_p99, "p99 ms")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
        ax.set_xlabel("concurrent connections (C)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
