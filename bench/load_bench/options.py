"""The load benchmark's command line, and the description of a run for its report."""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.results import RAW, RESULTS, machine
from load_bench.contenders import ALL_CONTENDERS, CONTENDERS, DEFAULT_UPSTREAM_PORT

WORKLOADS = ("sleeps", "http")
CONCURRENCY = [1, 10, 50, 200, 1000, 1500, 3000]
WRK_CONCURRENCY = [200, 1000, 1500]
OVERLOAD_CONCURRENCY = 1500


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(item.strip()) for item in text.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="The load benchmark: every contender, side by side, in one run.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    add = parser.add_argument
    add("--workloads", type=_csv(str), default=list(WORKLOADS))
    add("--contenders", type=_csv(str), help=", ".join(CONTENDERS))
    add("--concurrency", type=_csv(int), default=CONCURRENCY)
    add("--wrk-concurrency", type=_csv(int), default=WRK_CONCURRENCY, help="wrk's cross-check")
    add("--no-wrk", action="store_true", help="skip wrk's cross-check")
    add("--duration", type=float, default=10.0, help="seconds per run")
    add("--max-requests", type=int, default=500_000, help="per run")
    add("--timeout", type=float, default=20.0, help="per request, seconds")
    add("--quick", action="store_true", help="smoke run: C=10,200, 5 s")
    add("--overload", action="store_true", help="admission control at C=1500")
    add("--rounds", type=int, default=3, help="overload rounds per server")
    add("--no-floor", action="store_true", help="skip the generator's floor")
    add(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each run, wait at most this many seconds for other processes\n"
        "to use less than --quiet-cores (0: do not wait)",
    )
    add("--quiet-cores", type=float, default=0.15)
    add("--async-workers", type=int, default=2, help="workers of `fastapi` and `aiohttp`")
    add("--async-loop", choices=("asyncio", "uvloop"), default="uvloop")
    add("--upstream-port", type=int, default=DEFAULT_UPSTREAM_PORT)
    add("--base-port", type=int, default=18100, help="contenders' ports")
    add("--output", type=Path, help="path prefix of .md/.json/.png")
    add("--report-only", action="store_true", help="rewrite .md/.png from the .json, run nothing")
    add(
        "--merge",
        action="store_true",
        help="keep the rows of the previous .json that this run does not measure again\n"
        "(e.g. re-measure one workload after a noisy run)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.duration, args.timeout = [10, 200], 5.0, 10.0
        args.wrk_concurrency = [200]
    if args.overload:
        args.concurrency = [OVERLOAD_CONCURRENCY]
        args.contenders = args.contenders or ["fanout"]
    if args.no_wrk or args.overload:
        args.wrk_concurrency = []
    args.contenders = args.contenders or list(CONTENDERS)
    unknown = [c for c in args.contenders if c not in ALL_CONTENDERS]
    unknown += [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown contenders or workloads: {', '.join(unknown)}")
    if args.output is None:
        name = "overload" if args.overload else "load"
        args.output = (RAW / f"{name}-quick") if args.quick else (RESULTS / name)
    return args


def run_meta(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """What the report says about the run: its command, machine, settings and rows."""
    settings = (
        f"{args.duration:g} s per run, per-request timeout {args.timeout:g} s,"
        f" at most {args.max_requests:,} requests per run; `fastapi_Nw` and `aiohttp_Nw`"
        f" with N worker processes on {args.async_loop}."
    )
    return {
        "command": shlex.join(["python", "bench/load.py", *argv]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "settings": settings,
        "workloads": args.workloads,
        "contenders": args.contenders,
        "concurrency": args.concurrency,
        "wrk_concurrency": args.wrk_concurrency,
    }
