"""CPU per call of the gevent I/O pool: a greenlet spawned per call vs reused workers.

Each round starts three calls that each wait once on the event loop (like a read
on a socket), then waits for all three (the first done, then the next, as
``gather`` does for the service's three sources). Prints CPU microseconds per
call, the median of ``--repeat`` runs.

    python bench/iopool_bench.py --rounds 20000 --repeat 5
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after monkey-patching, as in a gevent worker)
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from flask_fanout.iopool import GreenletIOPool  # noqa: E402

CALLS = 3


def _call() -> int:
    return _wait_once() + 1


def _wait_once() -> int:
    gevent.sleep(0)  # one trip through the event loop
    return 0


def spawn_per_call(rounds: int) -> float:
    """gevent's ``Pool.spawn``: what the pool did before it kept its workers."""
    pool = Pool(1024)

    def wait_all(tasks: list[Any]) -> None:
        while tasks:  # the previous pool's wait_any: gevent.wait for the first one
            gevent.wait(tasks, timeout=5.0, count=1)
            tasks = [task for task in tasks if not task.ready()]

    return _timed(rounds, pool.spawn, wait_all, lambda task: task.get(block=False))


def reused_workers(rounds: int) -> float:
    pool = GreenletIOPool(1024)

    def wait_all(tasks: list[Any]) -> None:
        while tasks:
            done = pool.wait_any(tasks, 5.0)
            tasks = [task for task in tasks if task not in done]

    return _timed(rounds, pool.start, wait_all, pool.result)


def _timed(
    rounds: int,
    start: Callable[[Any], Any],
    wait_all: Callable[[list[Any]], Any],
    result: Callable[[Any], Any],
) -> float:
    began = time.process_time()
    for _ in range(rounds):
        tasks = [start(_call) for _ in range(CALLS)]
        wait_all(tasks)
        for task in tasks:
            result(task)
    return (time.process_time() - began) / (rounds * CALLS) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # A gunicorn worker has OS threads besides the hub's (gevent's thread pool):
    # unmapping memory then costs more. Start one, as the worker has.
    gevent.get_hub().threadpool.spawn(time.sleep, 0).get()
    for name, bench in (("spawn per call", spawn_per_call), ("reused workers", reused_workers)):
        runs = [bench(args.rounds) for _ in range(args.repeat)]
        print(
            f"{name:15} {statistics.median(runs):6.1f} us CPU per call  (runs: "
            + ", ".join(f"{r:.1f}" for r in runs)
            + ")"
        )


if __name__ == "__main__":
    main()
