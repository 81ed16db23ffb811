"""What the two Werkzeug contenders (serial Flask, the global pool) share.

Their three reads as blocking calls for the chosen workload (the http workload
through one urllib3 keep-alive pool), and their ``main``: Werkzeug's threaded
server, ``app.run(threaded=True)``, without an access log like every contender.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from functools import partial

import urllib3
from flask import Flask
from workload import WORKLOAD, sleep_sources, upstream_urls

# Big enough that no thread ever waits for a connection or throws one away.
_POOL = urllib3.PoolManager(maxsize=1024, timeout=urllib3.Timeout(connect=5.0, read=10.0))


def get_json(url: str) -> object:
    response = _POOL.request("GET", url)
    if response.status >= 400:
        raise RuntimeError(f"{url} answered {response.status}")
    return json.loads(response.data)


def blocking_sources() -> dict[str, Callable[[], object]]:
    """Source name -> a blocking call that reads it, for ``BENCH_WORKLOAD``."""
    if WORKLOAD == "sleeps":
        return dict(sleep_sources())
    return {name: partial(get_json, url) for name, url in upstream_urls().items()}


def serve(app: Flask, description: str, default_port: int) -> None:
    """The contender's command line: ``--host`` and ``--port``, then Werkzeug."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log, like the others
    app.run(args.host, args.port, threaded=True)
