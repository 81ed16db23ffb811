"""The resilience benchmark's options and its run: the upstream, the rounds, the report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from harness.processes import HOST, Server, free_port
from harness.results import RAW, RESULTS, write_results
from harness.rounds import interleave
from resilience_bench.configs import CONFIGS
from resilience_bench.report import report
from resilience_bench.run import measure, median_row
from resilience_bench.upstream import upstream_command


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/resilience.py",
        description="GET / against a flaky upstream, with and without call policies.",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hang", type=float, default=0.2)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--output", type=Path, default=RESULTS / "resilience.md")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="wait up to this many s before each round for other programs to go quiet",
    )
    return parser.parse_args(argv)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_rounds(args: argparse.Namespace, upstream_port: int) -> dict[str, list[dict]]:
    """Every configuration once per round, in an order rotating by round."""
    names = args.configs.split(",")
    runs: dict[str, list[dict]] = {name: [] for name in names}

    def keep(name: str, figures: object) -> None:
        assert isinstance(figures, dict)
        runs[name].append(figures)
        print(json.dumps(figures), flush=True)

    with tempfile.TemporaryDirectory() as folder:
        contenders = {
            name: partial(measure, name, args, upstream_port, Path(folder)) for name in names
        }
        interleave(contenders, args.rounds, keep, args.quiet_wait)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    upstream_port = free_port()
    load_before = load_average()
    with Server(
        upstream_command(upstream_port, args.hang, args.latency_ms),
        f"http://{HOST}:{upstream_port}/count",
        log=RAW / "logs" / "resilience-upstream.log",
    ) as upstream:
        upstream.wait_ready()
        runs = run_rounds(args, upstream_port)
    rows = [median_row(name, name_runs) for name, name_runs in runs.items()]
    write_results(args.output, report(args, argv, rows, (load_before, load_average())))
    return 0
