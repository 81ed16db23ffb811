"""The markdown of ``bench/results/resilience.md``: the run, one row per configuration."""

from __future__ import annotations

import argparse

from harness.results import table
from resilience_bench.configs import CACHE, CONFIGS, one_line

HEADER = (
    "policies",
    "answers/s",
    "goodput/s",
    "good %",
    "stale %",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "upstream calls / request",
    "breaker opened",
    "source errors (all rounds)",
)
NOTES = [
    "- goodput: answers per second whose every source answered (no entry in `errors`);",
    "  a stale `api` value (`stale_if_error`) counts as an answer; `stale %` says how many.",
    "- upstream calls / request: calls counted at the flaky upstream during the row,",
    "  hedges and retries included, over the answers of the row.",
    "- policies `hedge`: " + one_line(CONFIGS["hedge"]),
    "- policies `hedge+cache`: the same and " + one_line(CACHE),
]


def setup(args: argparse.Namespace, load: tuple[str, str]) -> str:
    """The paragraph that says how the rows were measured."""
    return (
        f"Upstream: answers after {args.latency_ms:g} ms, {100 * args.hang:g}% of calls hang;"
        f" source `api` timeout {args.timeout:g} s, plus a file source. `fanout serve` with"
        f" its defaults (2 gevent workers), on a fresh port per row. Open loop: {args.rate:g}"
        f" requests/s for {args.duration:g} s per row after a {args.warmup:g} s warm-up, on"
        " kept-alive connections (a new one when none is free); latency counted from when"
        f" each request was due. {args.rounds} rounds, the configurations interleaved in each;"
        " figures are medians over the rounds (p99 and goodput of each round in brackets)."
        f" Load average before / after: {load[0]} / {load[1]} (2 cores)."
    )


def cells(r: dict) -> list[str]:
    """One configuration's row: medians, with each round's goodput and p99 in brackets."""
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(r["codes"].items())) or "none"
    p99s = " / ".join(f"{x['p99']:.0f}" for x in r["rounds"])
    goods = " / ".join(f"{x['goodput']:.0f}" for x in r["rounds"])
    return [
        r["config"],
        f"{r['rps']:.1f}",
        f"{r['goodput']:.1f} ({goods})",
        f"{r['good_pct']:.1f}",
        f"{r['stale_pct']:.1f}",
        f"{r['p50']:.1f}",
        f"{r['p90']:.1f}",
        f"{r['p99']:.1f} ({p99s})",
        f"{r['calls_per_request']:.3f}",
        f"{r['breaker_opened']}",
        codes,
    ]


def report(
    args: argparse.Namespace, argv: list[str], rows: list[dict], load: tuple[str, str]
) -> str:
    """The whole results file: title, command, setup, the table and its notes."""
    command = "python bench/resilience.py " + " ".join(argv)
    lines = [
        "# Resilience: GET / against a flaky upstream, with and without call policies",
        "",
        f"Command: `{command.strip()}`",
        "",
        setup(args, load),
        "",
        *table(HEADER, (cells(r) for r in rows)),
        "",
        *NOTES,
    ]
    return "\n".join(lines) + "\n"
