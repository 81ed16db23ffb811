"""A/B: flask-fanout under different settings, side by side, interleaved run by run.

Each variant is a name and ``FANOUT_*`` (or any) environment variables for the
server; every run gets a fresh upstream and a fresh ``fanout serve`` (the load
benchmark's ``fanout`` contender), our generator for ``--duration`` seconds, and
both stopped by PID. Variants take turns within a round, the order reversed every
other round, so that the machine's drift lands on all of them alike:

    python bench/ab.py --workload http -c 1000 --rounds 3 \\
        one: two:FANOUT_REJECT_PAUSE=2

prints each run (200s/s, the p99 of the 200s, 503s/s, server CPU per answer), then
each variant's medians and how many rounds it won on 200s against the first, and
writes every figure to ``results/raw/ab-<workload>-c<C>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.results import RAW
from load_bench.contenders import ALL_CONTENDERS
from load_bench.options import parse_args as load_options
from load_bench.points import Point
from load_bench.runner import Bench


@dataclass
class Variant:
    name: str
    env: dict[str, str]
    points: list[Point] = field(default_factory=list)


def variant(text: str) -> Variant:
    """``name:KEY=VALUE,KEY=VALUE`` (nothing after the colon: the defaults)."""
    name, _, settings = text.partition(":")
    pairs = [item.split("=", 1) for item in settings.split(",") if item]
    if not name or any(len(pair) != 2 for pair in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: want name:KEY=VALUE,KEY=VALUE")
    return Variant(name, dict(pairs))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", type=variant, help="name:KEY=VALUE,...")
    parser.add_argument("--workload", choices=("sleeps", "http"), default="http")
    parser.add_argument("-c", "--concurrency", type=int, default=1000)
    parser.add_argument("-d", "--duration", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--close", action="store_true", help="a connection per request")
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18100)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = ["--contenders", "fanout", "--duration", str(args.duration)]
    bench = Bench(load_options([*options, "--quiet-wait", str(args.quiet_wait)]))
    fanout = ALL_CONTENDERS["fanout"]
    for round_ in range(args.rounds):
        turn = args.variants if round_ % 2 == 0 else args.variants[::-1]
        for each in turn:
            point = bench.measure(
                fanout, args.workload, args.port, args.concurrency, env=each.env, close=args.close
            )
            each.points.append(point)
            print(f"round {round_ + 1} {each.name:12} {row(point)}", flush=True)
    print(summary(args.variants))
    out = RAW / f"ab-{args.workload}-c{args.concurrency}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["python", "bench/ab.py", *(argv or sys.argv[1:])]),
                "variants": {v.name: [p.to_dict() for p in v.points] for v in args.variants},
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


def row(point: Point) -> str:
    if point.failure:
        return f"FAILED: {point.failure}"
    f = point.figures
    return (
        f"{point.rps:9,.1f} 200s/s (p99 {point.p99_ok_ms:6,.0f} ms) "
        f"{f.get('shed_rps', 0):8,.1f} 503s/s  server CPU {point.server_cpu_ms:.3f} ms/answer"
        f"  errors {f['errors'] or 0}"
    )


def summary(variants: Sequence[Variant]) -> str:
    first = variants[0]
    lines = ["medians: 200s/s (p99 of the 200s, ms), 503s/s; rounds with more 200s than the first"]
    for each in variants:
        done = [p for p in each.points if not p.failure]
        if not done:
            lines.append(f"  {each.name}: every run failed")
            continue
        wins = sum(a.rps > b.rps for a, b in zip(each.points, first.points, strict=True))
        lines.append(
            f"  {each.name:12} {statistics.median(p.rps for p in done):9,.1f} "
            f"({statistics.median(p.p99_ok_ms for p in done):,.0f}) "
            f"{statistics.median(p.figures.get('shed_rps', 0) for p in done):8,.1f}"
            + ("" if each is first else f"  {wins} of {len(each.points)}")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
