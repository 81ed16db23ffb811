"""Garbage-collector pauses in ``fanout serve``'s workers under load.

    python bench/gc_pauses.py [--clients 1500] [--duration 12]

A gevent worker's event loop stands still while the collector runs, so every
request in flight waits for it. This serves the http workload (three sources on
the demo upstream) with ``fanout serve``'s settings and, for comparison, with
Python's default thresholds (700, 10, 10), drives it with the load generator,
and reports per worker how many collections of each generation ran and how long
they paused it (``contenders/gc_probe.py`` times them). Writes
bench/results/gc_pauses.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from generator import run_load
from harness.processes import Server
from harness.results import heading
from load_bench.contenders import (
    BENCH,
    DEFAULT_UPSTREAM_PORT,
    HTTP_SOURCES_TOML,
    contender_env,
    start_upstream,
)

HOST = "127.0.0.1"
PORT = 18140
SETTINGS = {"fanout serve's": "", "Python's default": "700,10,10"}
RESULTS = BENCH / "results" / "gc_pauses.md"


def measure(thresholds: str, clients: int, duration: float) -> tuple[list[dict], str]:
    """Worker reports and a one-line load summary for one server."""
    with tempfile.TemporaryDirectory() as scratch:
        env = contender_env("http", f"http://{HOST}:{DEFAULT_UPSTREAM_PORT}")
        env |= {"GC_PROBE_DIR": scratch, "GC_PROBE_THRESHOLDS": thresholds}
        command = [
            str(Path(sys.executable).with_name("fanout")),
            *("serve", "--host", HOST, "--port", str(PORT)),
            *("--app", "gc_probe:create()", "--config", str(HTTP_SOURCES_TOML)),
        ]
        with Server(command, f"http://{HOST}:{PORT}/", env=env) as server:
            server.wait_ready()
            result = run_load(server.url, clients, duration, server_pid=server.pid)
            reports = [json.loads(path.read_text()) for path in Path(scratch).glob("*.json")]
    summary = (
        f"{result.rps_2xx:,.1f} 200s/s, p99 of 200s {result.p99_2xx_ms:,.0f} ms, "
        f"statuses {result.statuses}"
    )
    return reports, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1500)
    parser.add_argument("--duration", type=float, default=12.0)
    args = parser.parse_args()
    command = f"python bench/gc_pauses.py --clients {args.clients} --duration {args.duration:g}"
    lines = [
        *heading("Garbage-collector pauses per worker", command),
        f"The http workload at C={args.clients} for {args.duration:g} s, one fresh server",
        "per row; counts and pauses are each worker's whole life (start-up included).",
        "Both rows freeze the loaded app (`gc.freeze()`); only the thresholds differ.",
        "",
        "| thresholds | worker | young | middle | full | paused ms in all | longest ms |",
        "|---|---|---|---|---|---|---|",
    ]
    loads = []
    with start_upstream(HOST, DEFAULT_UPSTREAM_PORT):
        for name, thresholds in SETTINGS.items():
            reports, summary = measure(thresholds, args.clients, args.duration)
            loads.append(f"- {name} thresholds: {summary}")
            for number, report in enumerate(reports, 1):
                gens = [report[f"gen{g}"] for g in range(3)]
                label = f"{name} {tuple(report['threshold'])}"
                lines.append(
                    f"| {label} | {number} | "
                    + " | ".join(str(g["collections"]) for g in gens)
                    + f" | {sum(g['total_ms'] for g in gens):,.0f}"
                    + f" | {max(g['longest_ms'] for g in gens):.0f} |"
                )
    report_text = "\n".join([*lines, "", "Load in the same runs:", "", *loads]) + "\n"
    RESULTS.write_text(report_text)
    print(report_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
