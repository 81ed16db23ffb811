"""The load report rebuilt from a real run's JSON, and merged with a rerun's rows."""

from __future__ import annotations

import shutil
from pathlib import Path

from load_bench.merge import load_run, merge_runs, write_load_report
from load_bench.points import Point

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "load.json"


def _rerun_point(old: Point) -> Point:
    figures = {**old.figures, "goodput_rps": 1234.5, "shed_rps": 6.0, "p99_200_ms": 321.0}
    return Point(old.workload, old.contender, old.label, old.concurrency, figures)


def test_merge_replaces_only_the_rerun_rows_and_the_report_renders(tmp_path: Path) -> None:
    output = tmp_path / "load"
    shutil.copy(COMMITTED, output.with_suffix(".json"))
    meta, floor, points, _wrk = load_run(output)
    old = next(p for p in points if p.workload == "http" and p.concurrency == 200)
    new = _rerun_point(old)
    wrk = Point("http", old.contender, old.label, 200, {"goodput_rps": 1.0}, failure="no wrk")
    rerun = {**meta, "command": "python bench/load.py --merge", "workloads": ["http"]}
    merged_meta, _floor, merged, merged_wrk = merge_runs(output, rerun, [], [new], [wrk])
    assert len(merged) == len(points)
    same = [
        p
        for p in merged
        if (p.workload, p.contender, p.concurrency) == ("http", old.contender, 200)
    ]
    assert same == [new]
    assert merged_wrk == [wrk]
    assert merged_meta["merged"][-1]["command"] == "python bench/load.py --merge"
    write_load_report(output, merged_meta, floor, merged, merged_wrk)
    text = output.with_suffix(".md").read_text()
    assert "| 1,234.5 |" in text and "failed: no wrk" in text
    assert output.with_suffix(".png").stat().st_size > 10_000
