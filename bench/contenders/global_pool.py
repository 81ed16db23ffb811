"""Contender: the original example's pattern, on Werkzeug's threaded server.

A module-global ``ThreadPoolExecutor()`` of the default size (``min(32, cpus + 4)``:
6 threads on 2 cores) shared by every request; each request submits its three reads
and waits on ``.result()``.

    BENCH_WORKLOAD=sleeps python bench/contenders/global_pool.py --port 18102
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from werkzeug_common import blocking_sources, serve
from workload import as_answer

SOURCES = blocking_sources()

executor = ThreadPoolExecutor()
app = Flask(__name__)


@app.get("/")
def index() -> dict[str, object]:
    futures = {name: executor.submit(read) for name, read in SOURCES.items()}
    return as_answer({name: future.result() for name, future in futures.items()})


if __name__ == "__main__":
    serve(app, __doc__.split("\n\n")[0], 18102)
