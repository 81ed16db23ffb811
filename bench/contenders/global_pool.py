"""Contender: the original example's pattern, on Werkzeug's threaded server.

A module-global ``ThreadPoolExecutor()`` of the default size (``min(32, cpus + 4)``:
6 threads on 2 cores) shared by every request; each request submits its three reads
and waits on ``.result()``.

    BENCH_WORKLOAD=sleeps python bench/contenders/global_pool.py --port 18102
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from blocking_http import http_sources
from flask import Flask
from workload import WORKLOAD, as_answer, sleep_sources, upstream_urls

SOURCES: dict[str, Callable[[], object]] = (
    dict(sleep_sources()) if WORKLOAD == "sleeps" else http_sources(upstream_urls())
)

executor = ThreadPoolExecutor()
app = Flask(__name__)


@app.get("/")
def index() -> dict[str, object]:
    futures = {name: executor.submit(read) for name, read in SOURCES.items()}
    return as_answer({name: future.result() for name, future in futures.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18102)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log, like the others
    app.run(args.host, args.port, threaded=True)


if __name__ == "__main__":
    main()
