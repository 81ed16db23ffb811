"""A closed-loop HTTP/1.1 load generator that is cheap in CPU.

``concurrency`` keep-alive connections each send one GET, wait for the whole answer,
and send the next one at once (a closed loop: the offered load adapts to the server).
The run is bounded by time and by a total request count; in-flight requests are then
waited for, each at most ``timeout`` seconds.

It is built for a 2-core machine shared with the server under test, so it spends as
little CPU as it can: asyncio protocols (no task per request), a minimal response
parser (Content-Length, chunked, or until close) and uvloop when it is installed.

Steady state: every connection starts at once, so the first second holds a
synchronized wave of connects and first requests. Throughput and latency percentiles
leave it out (requests that started in the first ``warmup`` seconds, answers that
completed in it); errors and status codes count the whole run.

    python bench/loadgen.py http://127.0.0.1:8000/ -c 200 -d 10 --server-pid 1234

The generator itself lives in ``bench/generator/``; this is its command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from generator import LoadResult, describe, run_load, run_load_async

__all__ = ["LoadResult", "describe", "main", "run_load", "run_load_async"]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="http://127.0.0.1:PORT/path")
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("-n", "--max-requests", type=int, default=10**9)
    parser.add_argument("--timeout", type=float, default=20.0, help="per request, seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds left out")
    parser.add_argument("--server-pid", type=int, help="measure this process tree's RSS")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--close", action="store_true", help="no keep-alive: one connection per request"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    result = run_load(
        args.url,
        args.concurrency,
        args.duration,
        max_requests=args.max_requests,
        timeout=args.timeout,
        warmup=args.warmup,
        server_pid=args.server_pid,
        event_loop=args.loop,
        close=args.close,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else describe(result))
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
