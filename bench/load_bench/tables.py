"""The load benchmark's markdown: how to read it, the floor, a table per workload."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.results import heading, table
from load_bench.points import Point

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
  run (the synchronized first wave of connects). Goodput counts 200s completed after
  that second, up to the end of the run; latencies are of the requests sent after it
  (including those answered while the run drained). Errors (connection errors,
  timeouts) and status codes count the whole run.
- 200/s is goodput: successful answers per second. 503/s are the requests shed by
  admission control, counted apart; a fast 503 is not a fast answer, so p50/p99 are of
  the 200s only. "503 no R-A" counts 503s without Retry-After.
- ideal = C / 0.3 s (every request answered in 0.3 s, the slowest read);
  x floor = goodput / the generator's own throughput against the bare upstream
  (`/api/data`, no work) at the same C, measured in the same run.
- conn errors: refused, reset or closed connections and bad answers; timeouts: no
  answer within the per-request timeout.
- server CPU = CPU time of the server's process tree per answer (the upstream and the
  generator not included); RSS = resident memory of that tree at the start and end of
  the run.
- other load = CPU used during the run by processes other than the server, the upstream
  and the generator, in cores (of 2): above ~0.1 the machine was not quiet for that row.
- Werkzeug closes the connection after every answer, so the generator reconnects for
  each request to the two Werkzeug contenders.
"""


def ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"  # no request of the steady-state window was answered
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def counts(items: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in items.items()) or "0"


def _fraction(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _other_load(point: Point) -> str:
    cores = point.extra.get("other_cpu_cores")
    return "-" if cores is None else f"{cores:.2f}"


def _errors(f: dict[str, Any]) -> tuple[str, str]:
    """Connection errors (all kinds but timeouts) and timeouts, as table cells."""
    errors = dict(f["errors"])
    timeouts = errors.pop("timeout", 0)
    return counts(errors) if errors else "0", str(timeouts)


def _shed(f: dict[str, Any]) -> tuple[str, str, str, str]:
    """503s per second, in all, without Retry-After, and the other non-200 statuses."""
    statuses = dict(f["statuses"])
    statuses.pop("200", None)
    shed = statuses.pop("503", 0)
    rate = f.get("shed_rps")
    return (
        "-" if rate is None else f"{rate:,.1f}",
        str(shed),
        str(f["missing_retry_after"]),
        counts(statuses),
    )


def _point_row(point: Point) -> list[str]:
    if point.failure:
        return [point.label, str(point.concurrency), "failed: " + point.failure]
    f, data = point.figures, point.to_dict()
    server = f.get("server") or {}
    rss = f"{server.get('rss_start_mb', 0):.0f} → {server.get('rss_end_mb', 0):.0f}"
    return [
        point.label,
        str(point.concurrency),
        f"{point.rps:,.1f}",
        _fraction(data["fraction_of_ideal"]),
        _fraction(data["fraction_of_floor"], 3),
        ms(point.p50_ok_ms),
        ms(point.p99_ok_ms),
        *_shed(f),
        *_errors(f),
        rss if server else "-",
        ms(point.server_cpu_ms),
        _other_load(point),
    ]


_POINT_HEADER = [
    "contender",
    "C",
    "200/s",
    "x ideal",
    "x floor",
    "p50 of 200s ms",
    "p99 of 200s ms",
    "503/s",
    "503",
    "503 no R-A",
    "other statuses",
    "conn errors",
    "timeouts",
    "server RSS MB",
    "server CPU ms/req",
    "other load",
]


def summary_table(points: Sequence[Point], concurrency: int) -> list[str]:
    """The contenders at one concurrency, most 200s per second first."""
    chosen = sorted(
        (p for p in points if p.concurrency == concurrency and not p.failure),
        key=lambda p: -p.rps,
    )
    rows = [
        [
            p.label,
            f"{p.rps:,.1f}",
            _fraction(p.to_dict()["fraction_of_ideal"]),
            ms(p.p99_ok_ms),
            _shed(p.figures)[0],
            counts(p.figures["errors"]),
            ms(p.server_cpu_ms),
        ]
        for p in chosen
    ]
    header = ["contender", "200/s", "x ideal", "p99 of 200s ms", "503/s", "errors"]
    return table([*header, "server CPU ms/req"], rows)


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
                ms(f["p50_ms"]),
                ms(f["p99_ms"]),
                counts(f["errors"]),
                f"{1e6 * f['loadgen_cpu_s'] / answers:.0f}",
                "-" if upstream is None else f"{1e6 * upstream / answers:.0f}",
            ]
        )
    header = ["C", "req/s", "p50 ms", "p99 ms", "errors", "generator CPU µs/req"]
    return table([*header, "upstream CPU µs/req"], rows)


def workload_section(
    meta: dict[str, Any], workload: str, points: Sequence[Point], wrk: Sequence[Point]
) -> list[str]:
    """One workload: the C=200 summary, every row of our generator, wrk's cross-check."""
    lines = [f"## {WORKLOAD_TITLES.get(workload, workload)}", ""]
    if 200 in meta["concurrency"]:
        lines += ["At C=200, most 200s per second first:", "", *summary_table(points, 200), ""]
    lines += [*table(_POINT_HEADER, (_point_row(p) for p in points)), ""]
    if wrk:
        lines += [*wrk_table(wrk), ""]
    return lines


def wrk_table(points: Sequence[Point]) -> list[str]:
    """wrk's cross-check: the same servers, wrk instead of our generator."""
    rows = []
    for p in points:
        if p.failure:
            rows.append([p.label, str(p.concurrency), "failed: " + p.failure])
            continue
        f = p.figures
        statuses = dict(f["statuses"])
        ok, shed = statuses.pop("200", 0), statuses.pop("503", 0)
        cpu = f.get("server_cpu_s")
        rows.append(
            [
                p.label,
                str(p.concurrency),
                f"{p.rps:,.1f}",
                f"{f['shed_rps']:,.1f}",
                str(ok),
                str(shed),
                counts(statuses),
                counts(f["errors"]),
                ms(f["p50_ms"]),
                ms(f["p99_ms"]),
                "-" if cpu is None or not f["answers"] else f"{1000 * cpu / f['answers']:.2f}",
            ]
        )
    header = ["contender", "C", "200/s", "503/s", "200", "503", "other statuses", "errors"]
    return [
        "Cross-check with wrk (`wrk -t2 -c C`, `bench/load_bench/wrk.lua` counting statuses;"
        " whole run, no warm-up left out; wrk's latencies are of all answers, 503s"
        " included):",
        "",
        *table([*header, "p50 of all ms", "p99 of all ms", "server CPU ms/req"], rows),
    ]


def load_markdown(
    meta: dict[str, Any],
    floor: Sequence[Point],
    points: Sequence[Point],
    wrk: Sequence[Point] = (),
) -> str:
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
        if chosen:
            lines += workload_section(
                meta, workload, chosen, [p for p in wrk if p.workload == workload]
            )
    if meta.get("plot"):
        lines += [f"![goodput and p99 of the 200s against concurrency]({meta['plot']})", ""]
    return "\n".join(lines)
