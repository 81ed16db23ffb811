"""The load benchmark's figure: goodput and the p99 of the 200s against concurrency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from load_bench.points import IDEAL_LATENCY_S, Point


def write_plot(path: Path, points: Sequence[Point], workloads: Sequence[str]) -> None:
    """Goodput and p99 against concurrency, a line per contender, a row per workload.

    Only our generator's points: wrk's cross-check is in the tables.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [w for w in workloads if any(p.workload == w for p in points)]
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 4.2 * len(rows)), squeeze=False)
    for (ax_rps, ax_p99), workload in zip(axes, rows, strict=True):
        chosen = [p for p in points if p.workload == workload and not p.failure]
        _plot_workload(ax_rps, ax_p99, chosen)
        ax_rps.set_title(f"{workload}: goodput, 200s per second (steady state)")
        ax_p99.set_title(f"{workload}: p99 latency of the 200s")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plotted_p99(point: Point) -> float:
    """The p99, or the timeout as a lower bound when no request of the window was answered."""
    p99 = point.p99_ok_ms
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
    for ax, ylabel in ((ax_rps, "200s per second"), (ax_p99, "p99 ms")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
        ax.set_xlabel("concurrent connections (C)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
