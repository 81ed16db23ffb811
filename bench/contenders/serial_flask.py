"""Contender: plain Flask, the three reads one after another, no pool.

Served by Werkzeug's threaded server (a thread per connection), as ``app.run(threaded=True)``.

    BENCH_WORKLOAD=sleeps python bench/contenders/serial_flask.py --port 18101
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from blocking_http import http_sources
from flask import Flask
from workload import WORKLOAD, as_answer, sleep_sources, upstream_urls

SOURCES: dict[str, Callable[[], object]] = (
    dict(sleep_sources()) if WORKLOAD == "sleeps" else http_sources(upstream_urls())
)

app = Flask(__name__)


@app.get("/")
def index() -> dict[str, object]:
    return as_answer({name: read() for name, read in SOURCES.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18101)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log, like the others
    app.run(args.host, args.port, threaded=True)


if __name__ == "__main__":
    main()
