"""The CPU benchmark's options, its run and its report (``python bench/cpu_bench.py``)."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import gmpy2
import loky

from cpu_offload.big_batch import run_big_batch
from cpu_offload.big_report import big_section
from cpu_offload.inputs import FULL, POOL_TIMEOUT, QUICK, WORKERS, Sizes
from cpu_offload.instructions import available, count_instructions
from cpu_offload.small import run_small, small_section
from cpu_offload.tiny import run_tiny, tiny_section
from flask_fanout.cpu import CpuPool
from harness.results import BENCH, merge_sections, split_sections, write_results
from harness.rounds import MIN_METERED_RUN, QUIET_CORES

PARTS = ("big", "tiny", "small")


def header(command: str, sizes: Sizes, load_before: float, load_after: float) -> list[str]:
    return [
        "# CPU offload: big batches, tiny requests, the example's pattern",
        "",
        f"Command: `{command}` (from the repository root)",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}, "
        f"{os.cpu_count()} CPUs; 1-min load average {load_before:.2f} before, "
        f"{load_after:.2f} after",
        f"- Python {platform.python_version()}, gmpy2 {gmpy2.version()} "
        f"({gmpy2.mp_version()}), loky {loky.__version__}",
        f"- {sizes.repeat} rounds per table; in each round every contender runs once, in "
        "an order rotating by round. Times are medians over rounds (spread: min - max). "
        "Ratios compare contenders of the same run: the ratio of their medians, or the "
        "median over rounds of their times' ratio within a round. "
        "Every contender's answers are checked equal to the serial loop's. Pools are warm "
        "when timed; first calls (pool start-up included) are reported separately.",
        "- The machine is shared with other people's benchmarks. Before each round the "
        f"benchmark waits up to {sizes.quiet_wait:g} s for fewer than {QUIET_CORES:g} "
        "cores to be busy, and during each round it measures the cores that other programs "
        "(anything outside this benchmark's process tree) kept busy. A *quiet round* is "
        f"one where that averaged under {QUIET_CORES:g} cores over the round and over each "
        f"run of {MIN_METERED_RUN:g} s or more: a pool of 2 processes can only show 2-core "
        "scaling when it has 2 cores.",
        f'- Ours: `CpuPool("process", {WORKERS}, timeout=...)` (loky), '
        "`map_batches(fn, numbers, cost)`. The server: `fanout serve --host 127.0.0.1` "
        "(gunicorn, 2 gevent workers, each with its own pool of `FANOUT_CPU_WORKERS` "
        "processes, default: the number of cores).",
        "",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="CPU offload, measured side by side.")
    parser.add_argument("--quick", action="store_true", help="smoke run: little work, 2 rounds")
    parser.add_argument("--repeat", type=int, help="rounds per table (default 7, quick 2)")
    parser.add_argument("--tiny-requests", type=int, help="timed requests per path (400)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds to wait before each round for load from elsewhere to pass (3, quick 1)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated parts to run: big, tiny, small (default: all). With fewer "
        "than all and an existing --out, only their sections of it are replaced.",
    )
    parser.add_argument("--out", type=Path, help="report path (default bench/results/cpu.md)")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown or not args.parts:
        parser.error(f"--parts: choose among {', '.join(PARTS)} (not {', '.join(unknown)})")
    return args


def sizes_for(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    overrides = {
        "repeat": args.repeat,
        "tiny_requests": args.tiny_requests,
        "quiet_wait": args.quiet_wait,
    }
    return replace(sizes, **{k: v for k, v in overrides.items() if v is not None})


def default_out(args: argparse.Namespace) -> Path:
    if args.quick:
        return BENCH / "results/raw/cpu-quick.md"
    if len(args.parts) < len(PARTS):
        return BENCH / f"results/raw/cpu-{'-'.join(args.parts)}.md"
    return BENCH / "results/cpu.md"


def run_parts(parts: Sequence[str], sizes: Sizes) -> list[str]:
    """The report sections of the chosen parts, in order, all on one pool."""
    sections: list[str] = []
    pool = CpuPool("process", WORKERS, timeout=POOL_TIMEOUT)
    try:
        if "big" in parts:
            sections += big_section(run_big_batch(sizes, pool))
        if "tiny" in parts:
            sections += tiny_section(run_tiny(sizes))
        if "small" in parts:
            rows = run_small(sizes, pool)
            # Exact, but ~2 minutes under callgrind: the full run only.
            exact = count_instructions() if sizes == FULL and available() else None
            sections += small_section(rows, exact)
    finally:
        pool.shutdown()
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_for(args)
    out: Path = args.out or default_out(args)
    command = shlex.join(
        ["python", "bench/cpu_bench.py", *(sys.argv[1:] if argv is None else argv)]
    )
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    sections = run_parts(args.parts, sizes)
    footer = [f"Total run time: {time.monotonic() - began:.0f} s.", ""]
    report = [*header(command, sizes, load_before, os.getloadavg()[0]), *sections, *footer]
    text = "\n".join(report)
    if len(args.parts) < len(PARTS) and out.exists():
        text = merged_report(out.read_text(), sections + footer, command)
    write_results(out, text)
    return 0


def merged_report(old: str, sections: list[str], command: str) -> str:
    """``old`` with this run's sections in place of its own, each saying where it came from."""
    _, new = split_sections("\n".join(["", *sections]))
    stamp = (
        f"Re-measured alone with `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        "(the other sections come from the command at the top)."
    )
    for title, text in new.items():
        head, _, rest = text.partition("\n")
        new[title] = f"{head}\n\n{stamp}\n{rest}"
    return merge_sections(old, new)
