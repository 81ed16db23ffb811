"""One configuration measured: a fresh ``fanout serve``, a warm-up, the timed run.

The upstream's call counter is read before and after the timed run, so calls per
request include hedges and retries; the breaker's openings come from ``/metrics``,
summed over the workers. Rounds are summarised by their medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import urllib.request
from pathlib import Path

from harness.processes import HOST, Server, free_port
from harness.results import RAW
from resilience_bench.client import Run, open_loop
from resilience_bench.configs import CONFIGS, config_text
from resilience_bench.upstream import upstream_calls

FANOUT = [sys.executable, "-m", "flask_fanout.server.cli"]
MEDIANS = ("rps", "goodput", "good_pct", "stale_pct", "p50", "p90", "p99", "calls_per_request")


def breaker_openings(port: int) -> int:
    """Times the ``api`` breaker opened, summed over the workers (from ``/metrics``)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    prefix = 'fanout_breaker_transitions_total{source="api",to="open"}'
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return sum(int(float(line.split()[-1])) for line in lines)


def fanout_server(port: int, config: Path) -> Server:
    """``fanout serve`` with ``config`` on ``port``, ready when ``/healthz`` answers."""
    server = Server(
        [*FANOUT, "serve", "--port", str(port), "--config", str(config)],
        f"http://{HOST}:{port}/healthz",
        env={"FANOUT_ACCESS_LOG": "0", "FANOUT_CPU_BACKEND": "inline"},
        log=RAW / "logs" / f"resilience-{config.stem}.log",
    )
    server.wait_ready()
    return server


def measure(name: str, args: argparse.Namespace, upstream_port: int, folder: Path) -> dict:
    """One row of one round: ``name``'s configuration under ``args.rate`` requests/s."""
    config = folder / f"{name.replace('+', '_')}.toml"
    config.write_text(config_text(upstream_port, args.timeout, CONFIGS[name]))
    port = free_port()
    with fanout_server(port, config):
        open_loop(port, args.rate, args.warmup)  # connections, p95 samples
        before = upstream_calls(upstream_port)
        run = open_loop(port, args.rate, args.duration)
        calls = upstream_calls(upstream_port) - before
        opened = breaker_openings(port)
    return figures(name, run, calls, opened)


def figures(name: str, run: Run, calls: int, opened: int) -> dict:
    """A run's figures: throughput, goodput, latency percentiles (ms), calls, errors."""
    ordered = sorted(run.latencies)
    answered = len(ordered)

    def pct(q: float) -> float:
        return 1000 * ordered[min(answered - 1, int(q * answered))] if answered else float("nan")

    return {
        "config": name,
        "answers": answered,
        "rps": answered / run.seconds,
        "goodput": run.good / run.seconds,
        "good_pct": 100 * run.good / max(1, answered),
        "stale_pct": 100 * run.stale / max(1, answered),
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "calls_per_request": calls / max(1, answered),
        "client_errors": run.errors,
        "statuses": run.statuses,
        "codes": run.codes,
        "breaker_opened": opened,
    }


def median_row(name: str, runs: list[dict]) -> dict:
    """The median of each figure over the rounds, and what the rounds add up to."""
    row: dict = {"config": name, "rounds": runs}
    for key in MEDIANS:
        row[key] = statistics.median(r[key] for r in runs)
    row["breaker_opened"] = sum(r["breaker_opened"] for r in runs)
    codes: dict[str, int] = {}
    for r in runs:
        for code, count in r["codes"].items():
            codes[code] = codes.get(code, 0) + count
    row["codes"] = codes
    return row
