"""The load benchmark: every contender, side by side, in one run.

    python bench/load.py --workloads sleeps,http --concurrency 1,10,50,200,1000 --duration 10

starts the local upstream, measures the load generator's floor against it, then for
each workload, contender and concurrency starts a fresh server, drives it with the
closed-loop generator (bench/loadgen.py) and stops it by PID. Writes
bench/results/load.md (tables), load.json (raw figures) and load.png (plot).

``--quick`` is a smoke run (C=10,200 for 5 s; results under bench/results/raw/).
``--overload`` drives the selected contenders (default: flask-fanout) at C=1500 for a
few rounds on one server and checks admission control: every answer 200 or 503 with
Retry-After; it writes bench/results/overload.md and overload.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.proctree import machine_busy_seconds, sample
from loadgen import LoadResult, run_load
from report import Point, load_markdown, overload_markdown, point_from_dict, write_plot
from servers import (
    ALL_CONTENDERS,
    BENCH,
    CONTENDERS,
    DEFAULT_UPSTREAM_PORT,
    Contender,
    Server,
    ServerError,
    Setup,
    contender_env,
    http_sources_config,
    start_upstream,
)

RESULTS = BENCH / "results"
RAW = RESULTS / "raw"
HOST = "127.0.0.1"
WORKLOADS = ("sleeps", "http")
OVERLOAD_CONCURRENCY = 1500
OVERLOAD_P99_MS = 390.0


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(item.strip()) for item in text.split(",") if item.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workloads", type=_csv(str), default=list(WORKLOADS))
    parser.add_argument("--contenders", type=_csv(str), help=", ".join(CONTENDERS))
    parser.add_argument("--concurrency", type=_csv(int), default=[1, 10, 50, 200, 1000])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--max-requests", type=int, default=500_000, help="per run")
    parser.add_argument("--timeout", type=float, default=20.0, help="per request, seconds")
    parser.add_argument("--quick", action="store_true", help="smoke run: C=10,200, 5 s")
    parser.add_argument("--overload", action="store_true", help="admission control at C=1500")
    parser.add_argument("--rounds", type=int, default=3, help="overload rounds per server")
    parser.add_argument("--no-floor", action="store_true", help="skip the generator's floor")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each run, wait at most this many seconds for other processes\n"
        "to use less than --quiet-cores (0: do not wait)",
    )
    parser.add_argument("--quiet-cores", type=float, default=0.15)
    parser.add_argument("--async-workers", type=int, default=2, help="FastAPI and aiohttp")
    parser.add_argument("--async-loop", choices=("asyncio", "uvloop"), default="uvloop")
    parser.add_argument("--upstream-port", type=int, default=DEFAULT_UPSTREAM_PORT)
    parser.add_argument("--base-port", type=int, default=18100, help="contenders' ports")
    parser.add_argument("--output", type=Path, help="path prefix of .md/.json/.png")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite .md/.png from the .json, run nothing"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of the previous .json that this run does not measure again\n"
        "(e.g. re-measure one workload after a noisy run)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.duration, args.timeout = [10, 200], 5.0, 10.0
    if args.overload:
        args.concurrency = [OVERLOAD_CONCURRENCY]
        args.contenders = args.contenders or ["fanout"]
    args.contenders = args.contenders or list(CONTENDERS)
    unknown = [c for c in args.contenders if c not in ALL_CONTENDERS]
    unknown += [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown contenders or workloads: {', '.join(unknown)}")
    if args.output is None:
        name = "overload" if args.overload else "load"
        args.output = (RAW / f"{name}-quick") if args.quick else (RESULTS / name)
    return args


class Bench:
    """Runs the generator against servers it starts, and keeps every figure."""

    def __init__(self, args: argparse.Namespace, upstream: Server) -> None:
        self.args = args
        self.upstream = upstream
        self.upstream_url = f"http://{HOST}:{args.upstream_port}"
        self.http_config = http_sources_config(args.upstream_port, RAW)
        self.floor: list[Point] = []
        self.points: list[Point] = []

    def setup(self, workload: str, port: int) -> Setup:
        return Setup(
            host=HOST,
            port=port,
            workload=workload,
            upstream=self.upstream_url,
            async_workers=self.args.async_workers,
            async_loop=self.args.async_loop,
            http_config=self.http_config,
        )

    def drive(
        self, url: str, concurrency: int, server_pid: int | None
    ) -> tuple[LoadResult, dict[str, float]]:
        """One run of the generator, and the CPU the upstream and everybody else used in it.

        ``other_cpu_cores``: CPU used on the machine during the run by processes that are
        neither the server, the upstream nor the generator, in cores; above ~0.1 the
        row was measured on a machine that was not quiet.
        """
        gc.collect()
        quiet = self.wait_for_quiet() if self.args.quiet_wait > 0 else {}
        upstream_before, busy_before = sample(self.upstream.pid).cpu_seconds, machine_busy_seconds()
        started = time.monotonic()
        result = run_load(
            url,
            concurrency,
            self.args.duration,
            max_requests=self.args.max_requests,
            timeout=self.args.timeout,
            server_pid=server_pid,
        )
        wall = time.monotonic() - started
        upstream = sample(self.upstream.pid).cpu_seconds - upstream_before
        ours = result.loadgen_cpu_s + upstream
        if result.server is not None and server_pid != self.upstream.pid:
            ours += result.server.cpu_seconds
        other = max(0.0, machine_busy_seconds() - busy_before - ours)
        return result, {
            **quiet,
            "upstream_cpu_s": round(upstream, 3),
            "other_cpu_cores": round(other / wall, 2),
        }

    def other_load(self, seconds: float = 1.0) -> float:
        """Cores used over ``seconds`` by processes other than the upstream and this one."""
        upstream, busy, own = self._cpu_now()
        time.sleep(seconds)
        upstream_after, busy_after, own_after = self._cpu_now()
        ours = (upstream_after - upstream) + (own_after - own)
        return max(0.0, busy_after - busy - ours) / seconds

    def _cpu_now(self) -> tuple[float, float, float]:
        return sample(self.upstream.pid).cpu_seconds, machine_busy_seconds(), time.process_time()

    def wait_for_quiet(self) -> dict[str, float]:
        """Wait, at most ``--quiet-wait`` seconds, for the machine to be quiet."""
        started = time.monotonic()
        load = self.other_load()
        while load > self.args.quiet_cores and time.monotonic() - started < self.args.quiet_wait:
            load = self.other_load()
        return {
            "quiet_wait_s": round(time.monotonic() - started, 1),
            "other_cpu_cores_before": round(load, 2),
        }

    def measure_floor(self) -> None:
        for concurrency in self.args.concurrency:
            result, cpu = self.drive(
                f"{self.upstream_url}/api/data", concurrency, self.upstream.pid
            )
            point = Point("floor", "floor", "generator floor", concurrency, result.to_dict())
            point.extra.update(cpu)
            self.floor.append(point)
            _progress(point)

    def floor_rps(self, concurrency: int) -> float | None:
        return next((p.rps for p in self.floor if p.concurrency == concurrency), None)

    @contextmanager
    def serving(self, contender: Contender, workload: str, port: int) -> Iterator[Server]:
        setup = self.setup(workload, port)
        log = RAW / "logs" / f"{workload}-{contender.name}.log"
        server = Server(
            contender.command(setup),
            f"http://{HOST}:{port}/",
            env=contender_env(workload, self.upstream_url),
            log=log,
        )
        with server:
            server.wait_ready()
            yield server

    def measure(self, contender: Contender, workload: str, port: int, concurrency: int) -> Point:
        """A fresh server, one run at ``concurrency``, the server stopped."""
        point = Point(workload, contender.name, contender.label, concurrency, {})
        try:
            with self.serving(contender, workload, port) as server:
                result, cpu = self.drive(server.url, concurrency, server.pid)
        except ServerError as exc:
            point.failure = str(exc)
            return point
        point.figures = result.to_dict()
        point.floor_rps = self.floor_rps(concurrency)
        point.extra.update(cpu)
        return point

    def run_load(self) -> None:
        if not self.args.no_floor:
            self.measure_floor()
        for workload in self.args.workloads:
            for index, name in enumerate(self.args.contenders):
                for concurrency in self.args.concurrency:
                    port = self.args.base_port + index
                    point = self.measure(ALL_CONTENDERS[name], workload, port, concurrency)
                    self.points.append(point)
                    _progress(point)
                    self.save_json()

    def run_overload(self) -> list[str]:
        """Rounds at C=1500 on one server per contender, then a check that it still serves."""
        verdicts = []
        for workload in self.args.workloads:
            for index, name in enumerate(self.args.contenders):
                contender = ALL_CONTENDERS[name]
                with self.serving(contender, workload, self.args.base_port + index) as server:
                    rounds = [
                        self._overload_round(contender, workload, server, r + 1)
                        for r in range(self.args.rounds)
                    ]
                    after, _ = self.drive(server.url, 10, server.pid)
                verdicts += _overload_verdicts(f"{workload} / {contender.label}", rounds, after)
                self.save_json()
        return verdicts

    def _overload_round(
        self, contender: Contender, workload: str, server: Server, number: int
    ) -> Point:
        result, cpu = self.drive(server.url, OVERLOAD_CONCURRENCY, server.pid)
        point = Point(workload, contender.name, contender.label, OVERLOAD_CONCURRENCY, {})
        point.figures = result.to_dict()
        point.extra.update(cpu)
        point.extra["round"] = number
        self.points.append(point)
        _progress(point)
        return point

    def save_json(self, meta: dict[str, Any] | None = None) -> None:
        """The figures so far: in raw/ during the run, next to the report at the end."""
        output = self.args.output
        path = output.with_suffix(".json") if meta else RAW / f"{output.name}.partial.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "meta": meta or {},
            "floor": [p.to_dict() for p in self.floor],
            "points": [p.to_dict() for p in self.points],
        }
        path.write_text(json.dumps(payload, indent=1) + "\n")


def _overload_verdicts(name: str, rounds: Sequence[Point], after: LoadResult) -> list[str]:
    verdicts = []
    for point in rounds:
        f = point.figures
        others = {s: n for s, n in f["statuses"].items() if s not in ("200", "503")}
        fine = not others and not f["errors"] and not f["missing_retry_after"]
        fine = fine and f["p99_2xx_ms"] <= OVERLOAD_P99_MS
        verdicts.append(
            f"{name}, round {point.extra['round']}: {'PASS' if fine else 'FAIL'}"
            f" (other statuses {others or 0}, errors {f['errors'] or 0},"
            f" 503 without Retry-After {f['missing_retry_after']},"
            f" p99 of 200s {f['p99_2xx_ms']} ms)"
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


def _progress(point: Point) -> None:
    if point.failure:
        print(
            f"{point.workload:6} {point.contender:12} C={point.concurrency:<5} FAILED: "
            f"{point.failure}",
            flush=True,
        )
        return
    f = point.figures
    print(
        f"{point.workload:6} {point.contender:12} C={point.concurrency:<5}"
        f" {point.rps:9,.1f} req/s  p50 {f['p50_2xx_ms']:8,.1f}  p99 {f['p99_2xx_ms']:8,.1f} ms"
        f"  errors {f['errors'] or 0}  statuses {f['statuses']}",
        flush=True,
    )


def _meta(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    command = shlex.join(["python", "bench/load.py", *argv])
    settings = (
        f"{args.duration:g} s per run, per-request timeout {args.timeout:g} s,"
        f" at most {args.max_requests:,} requests per run; FastAPI and aiohttp with"
        f" {args.async_workers} worker process(es) on {args.async_loop}."
    )
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{_cpus()} CPUs, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}",
        "settings": settings,
        "workloads": args.workloads,
        "contenders": args.contenders,
        "concurrency": args.concurrency,
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def write_load_report(
    output: Path, meta: dict[str, Any], floor: list[Point], points: list[Point]
) -> None:
    png = output.with_suffix(".png")
    write_plot(png, points, meta["workloads"])
    meta["plot"] = png.name
    output.with_suffix(".md").write_text(load_markdown(meta, floor, points))


def rewrite_report(output: Path) -> None:
    """Rebuild the markdown and the plot of a finished load run from its JSON."""
    data = json.loads(output.with_suffix(".json").read_text())
    floor = [point_from_dict(p) for p in data["floor"]]
    points = [point_from_dict(p) for p in data["points"]]
    write_load_report(output, data["meta"], floor, points)


def _previous_run(output: Path) -> dict[str, Any] | None:
    path = output.with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else None


def _row_order(point: Point) -> tuple[int, int, int]:
    contenders = list(CONTENDERS)
    return (
        WORKLOADS.index(point.workload),
        contenders.index(point.contender) if point.contender in contenders else -1,
        point.concurrency,
    )


def merge_runs(
    previous: dict[str, Any], meta: dict[str, Any], bench: Bench
) -> tuple[dict[str, Any], list[Point], list[Point]]:
    """This run's rows, plus the previous run's rows that this run did not measure again."""
    measured = {(p.workload, p.contender, p.concurrency) for p in bench.points}
    kept = [
        point
        for point in map(point_from_dict, previous["points"])
        if (point.workload, point.contender, point.concurrency) not in measured
    ]
    floor = bench.floor or [point_from_dict(p) for p in previous["floor"]]
    floor_rps = {p.concurrency: p.rps for p in floor}
    points = sorted([*kept, *bench.points], key=_row_order)
    for point in points:
        point.floor_rps = floor_rps.get(point.concurrency)
    old = previous["meta"]
    merged = {
        **old,
        "merged": [*old.get("merged", []), {"command": meta["command"], "date": meta["date"]}],
        "workloads": [w for w in WORKLOADS if w in {*old["workloads"], *meta["workloads"]}],
        "concurrency": sorted({*old["concurrency"], *meta["concurrency"]}),
    }
    return merged, floor, points


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.report_only:
        rewrite_report(args.output)
        print(f"wrote {args.output.with_suffix('.md')}")
        return 0
    meta = _meta(args, argv)
    RAW.mkdir(parents=True, exist_ok=True)
    with start_upstream(HOST, args.upstream_port, log=RAW / "logs" / "upstream.log") as upstream:
        bench = Bench(args, upstream)
        if args.overload:
            meta["verdicts"] = bench.run_overload()
            bench.save_json(meta)
            args.output.with_suffix(".md").write_text(overload_markdown(meta, bench.points))
            print("\n".join(meta["verdicts"]))
        else:
            previous = _previous_run(args.output) if args.merge else None
            bench.run_load()
            if previous is not None:
                meta, bench.floor, bench.points = merge_runs(previous, meta, bench)
            meta["plot"] = args.output.with_suffix(".png").name
            bench.save_json(meta)
            write_load_report(args.output, meta, bench.floor, bench.points)
    print(f"wrote {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
