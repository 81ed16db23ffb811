"""One request at a time: the example's workload served serially, by the global-pool
pattern, and by flask-fanout, each a real server on 127.0.0.1.

    python bench/single_request.py --repeat 30

For each server: start it, send ``--warmup`` requests that are not counted, then
``--repeat`` requests one after another (the next one when the previous answer has
arrived), and stop it by PID. Writes bench/results/single_request.md: the median
latency, its spread, and the ratios to the serial server and to the ideal 0.3 s.
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.processes import Server
from harness.results import heading
from load_bench.contenders import (
    BENCH,
    CONTENDERS,
    Setup,
    contender_env,
    http_sources_config,
    start_upstream,
)

HOST = "127.0.0.1"
IDEAL_MS = 300.0
SERVERS = ("serial", "global_pool", "fanout")


@dataclass
class Timing:
    name: str
    label: str
    latencies_ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.latencies_ms), max(self.latencies_ms)


def time_requests(port: int, count: int) -> list[float]:
    """Send ``count`` GET / one after another; the latency of each in ms."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    latencies = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise RuntimeError(f"port {port} answered {response.status}")
    finally:
        conn.close()
    return latencies


def measure(name: str, setup: Setup, upstream: str, warmup: int, repeat: int) -> Timing:
    contender = CONTENDERS[name]
    env = contender_env(setup.workload, upstream)
    with Server(contender.command(setup), f"http://{HOST}:{setup.port}/", env=env) as server:
        server.wait_ready()
        time_requests(setup.port, warmup)
        return Timing(name, contender.label, time_requests(setup.port, repeat))


def markdown(timings: Sequence[Timing], command: str, workload: str, repeat: int) -> str:
    serial = next((t.median for t in timings if t.name == "serial"), None)
    lines = [
        *heading("One request at a time", command),
        f"Workload {workload!r}: three reads of 0.1 / 0.2 / 0.3 s; ideal latency 300 ms"
        " (the slowest read), serial 600 ms. Each server is real, on 127.0.0.1, and gets"
        f" {repeat} requests one after another after a warm-up; figures are medians.",
        "",
        "| server | median ms | min ms | max ms | serial / this | this / ideal |",
        "|---|---|---|---|---|---|",
    ]
    for timing in timings:
        low, high = timing.spread
        speedup = f"{serial / timing.median:.2f}x" if serial else "-"
        lines.append(
            f"| {timing.label} | {timing.median:.1f} | {low:.1f} | {high:.1f}"
            f" | {speedup} | {timing.median / IDEAL_MS:.3f} |"
        )
    return "\n".join([*lines, ""])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--servers", default=",".join(SERVERS), help=", ".join(CONTENDERS))
    parser.add_argument("--workload", choices=("sleeps", "http"), default="sleeps")
    parser.add_argument("--upstream-port", type=int, default=18001)
    parser.add_argument("--port", type=int, default=18200)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "single_request.md")
    args = parser.parse_args(argv)

    upstream = f"http://{HOST}:{args.upstream_port}"
    setup = Setup(
        host=HOST,
        port=args.port,
        workload=args.workload,
        upstream=upstream,
        async_workers=2,
        async_loop="uvloop",
        http_config=http_sources_config(args.upstream_port, BENCH / "results" / "raw"),
    )
    with start_upstream(HOST, args.upstream_port):
        timings = []
        for name in args.servers.split(","):
            timing = measure(name, setup, upstream, args.warmup, args.repeat)
            print(f"{timing.label:45} median {timing.median:7.1f} ms", flush=True)
            timings.append(timing)
    command = shlex.join(["python", "bench/single_request.py", *argv])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(timings, command, args.workload, args.repeat))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
