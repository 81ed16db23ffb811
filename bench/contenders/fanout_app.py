"""Contender: flask-fanout, the sleeps workload as a user's own Flask app would write it.

The three blocking reads go through ``gather`` on the extension's I/O pool; served by
``fanout serve --app`` with the product's defaults (worker class, workers, pool sizes):

    PYTHONPATH=bench/contenders fanout serve --port 18106 --app fanout_app:app

The http workload is the product service itself, with three http sources:
``fanout serve --config bench/configs/http_sources.toml``.
"""

from __future__ import annotations

import os

from flask import Flask
from workload import as_answer, sleep_sources

from flask_fanout import Fanout, gather

SOURCES = sleep_sources()

app = Flask(__name__)
# FANOUT_* environment variables override the defaults, as they do for the service.
app.config.update({k: v for k, v in os.environ.items() if k.startswith("FANOUT_")})
Fanout(app)


@app.get("/")
def index() -> tuple[dict[str, object], int]:
    """The service's contract: 200 if any read succeeded, 504 if all timed out, else 502."""
    outcomes = gather(dict(SOURCES), timeout=2.0)
    answer = as_answer({n: o.value for n, o in outcomes.items() if o.ok})
    errors = {n: o.error for n, o in outcomes.items() if o.error is not None}
    answer["errors"] = {n: {"code": e.code, "message": e.message} for n, e in errors.items()}
    if len(errors) < len(outcomes):
        return answer, 200
    return answer, 504 if all(e.code == "timeout" for e in errors.values()) else 502
