"""Overload (``load.py --overload``): rounds at C=1500 on one server, then a check it serves.

Every answer should be 200, or 503 with Retry-After; no connection errors or timeouts;
the p99 of the 200s within bounds; the server still serving afterwards; its memory
bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator import LoadResult
from harness.processes import Server
from harness.results import heading, table
from load_bench.contenders import ALL_CONTENDERS, Contender
from load_bench.options import OVERLOAD_CONCURRENCY
from load_bench.points import Point
from load_bench.runner import Bench, progress
from load_bench.tables import counts, ms

OVERLOAD_P99_MS = 390.0


def run_overload(bench: Bench) -> list[str]:
    """Rounds at C=1500 on one server per contender, then a check that it still serves."""
    verdicts = []
    for workload in bench.args.workloads:
        for index, name in enumerate(bench.args.contenders):
            contender = ALL_CONTENDERS[name]
            with bench.serving(contender, workload, bench.args.base_port + index) as server:
                rounds = [
                    _overload_round(bench, contender, workload, server, r + 1)
                    for r in range(bench.args.rounds)
                ]
                after, _ = bench.drive(server.url, 10, server.pid)
            verdicts += _overload_verdicts(f"{workload} / {contender.label}", rounds, after)
            bench.save_json()
    return verdicts


def _overload_round(
    bench: Bench, contender: Contender, workload: str, server: Server, number: int
) -> Point:
    result, cpu = bench.drive(server.url, OVERLOAD_CONCURRENCY, server.pid)
    point = Point(workload, contender.name, contender.label, OVERLOAD_CONCURRENCY, {})
    point.figures = result.to_dict()
    point.extra.update(cpu)
    point.extra["round"] = number
    bench.points.append(point)
    progress(point)
    return point


def _overload_verdicts(name: str, rounds: Sequence[Point], after: LoadResult) -> list[str]:
    verdicts = []
    for point in rounds:
        f = point.figures
        others = {s: n for s, n in f["statuses"].items() if s not in ("200", "503")}
        fine = not others and not f["errors"] and not f["missing_retry_after"]
        fine = fine and point.p99_ok_ms <= OVERLOAD_P99_MS
        verdicts.append(
            f"{name}, round {point.extra['round']}: {'PASS' if fine else 'FAIL'}"
            f" (other statuses {others or 0}, errors {f['errors'] or 0},"
            f" 503 without Retry-After {f['missing_retry_after']},"
            f" p99 of 200s {point.p99_ok_ms} ms)"
        )
    first = rounds[0].figures["server"]["rss_start_mb"]
    last = rounds[-1].figures["server"]["rss_end_mb"]
    grew_ok = last < 1.5 * first + 50
    verdicts.append(
        f"{name}, memory: {'PASS' if grew_ok else 'FAIL'} ({first:.0f} MB at start of round 1,"
        f" {last:.0f} MB after round {len(rounds)}; limit {1.5 * first + 50:.0f} MB)"
    )
    serves = after.error_count == 0 and set(after.statuses) == {"200"}
    verdicts.append(
        f"{name}, serves afterwards (C=10): {'PASS' if serves else 'FAIL'}"
        f" ({after.statuses}, errors {after.errors or 0}, p99 {after.p99_ms} ms)"
    )
    return verdicts


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
                counts(statuses),
                counts(f["errors"]),
                ms(p.p99_ok_ms),
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
        *table(header, rows),
        "",
        *(f"- {verdict}" for verdict in meta.get("verdicts", [])),
        "",
    ]
    return "\n".join(lines)
