"""Contender: plain Flask, the three reads one after another, no pool.

Served by Werkzeug's threaded server (a thread per connection), as ``app.run(threaded=True)``.

    BENCH_WORKLOAD=sleeps python bench/contenders/serial_flask.py --port 18101
"""

from __future__ import annotations

from flask import Flask
from werkzeug_common import blocking_sources, serve
from workload import as_answer

SOURCES = blocking_sources()

app = Flask(__name__)


@app.get("/")
def index() -> dict[str, object]:
    return as_answer({name: read() for name, read in SOURCES.items()})


if __name__ == "__main__":
    serve(app, __doc__.split("\n\n")[0], 18101)
