"""The load report's files (.md, .json, .png), rebuilt from JSON or merged with a rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from load_bench.contenders import ALL_CONTENDERS
from load_bench.options import WORKLOADS
from load_bench.plot import write_plot
from load_bench.points import Point, point_from_dict
from load_bench.tables import load_markdown


def write_load_report(
    output: Path,
    meta: dict[str, Any],
    floor: list[Point],
    points: list[Point],
    wrk: list[Point],
) -> None:
    png = output.with_suffix(".png")
    write_plot(png, points, meta["workloads"])
    meta["plot"] = png.name
    output.with_suffix(".md").write_text(load_markdown(meta, floor, points, wrk))


def load_run(output: Path) -> tuple[dict[str, Any], list[Point], list[Point], list[Point]]:
    """A finished run's meta, floor, generator points and wrk points, from its JSON."""
    data = json.loads(output.with_suffix(".json").read_text())
    floor, points, wrk = ([point_from_dict(p) for p in data.get(k, [])] for k in PARTS)
    return data["meta"], floor, points, wrk


PARTS = ("floor", "points", "wrk")


def rewrite_report(output: Path) -> None:
    """Rebuild the markdown and the plot of a finished load run from its JSON."""
    write_load_report(output, *load_run(output))


def _row_order(point: Point) -> tuple[int, int, int]:
    contenders = list(ALL_CONTENDERS)
    return (
        WORKLOADS.index(point.workload),
        contenders.index(point.contender) if point.contender in contenders else -1,
        point.concurrency,
    )


def _key(point: Point) -> tuple[str, str, int]:
    return point.workload, point.contender, point.concurrency


def _merged(old: list[Point], new: list[Point]) -> list[Point]:
    """The new points, and the old ones the new run did not measure again, in table order."""
    measured = {_key(p) for p in new}
    return sorted([*(p for p in old if _key(p) not in measured), *new], key=_row_order)


def merge_runs(
    output: Path, meta: dict[str, Any], floor: list[Point], points: list[Point], wrk: list[Point]
) -> tuple[dict[str, Any], list[Point], list[Point], list[Point]]:
    """This run's rows, plus the previous run's rows that this run did not measure again."""
    old_meta, old_floor, old_points, old_wrk = load_run(output)
    floor = floor or old_floor
    floor_rps = {p.concurrency: p.rps for p in floor}
    points = _merged(old_points, points)
    for point in points:
        point.floor_rps = floor_rps.get(point.concurrency)
    merged = {
        **old_meta,
        "merged": [*old_meta.get("merged", []), {"command": meta["command"], "date": meta["date"]}],
        "workloads": [w for w in WORKLOADS if w in {*old_meta["workloads"], *meta["workloads"]}],
        "concurrency": sorted({*old_meta["concurrency"], *meta["concurrency"]}),
    }
    return merged, floor, points, _merged(old_wrk, wrk)
