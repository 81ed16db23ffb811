"""Blueprints: ``aggregate`` (``GET /``), ``operations`` (health) and JSON errors."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from flask_fanout import Outcome, gather, json_error

from .sources import Source

log = logging.getLogger("flask_fanout.service")

aggregate = Blueprint("aggregate", __name__)
operations = Blueprint("operations", __name__)


def _sources() -> dict[str, Source]:
    sources: dict[str, Source] = current_app.extensions["fanout_service"].sources
    return sources


@aggregate.get("/")
def read_all_sources() -> tuple[Response, int]:
    """Read every configured source at once; answer with what came back in time."""
    started = time.monotonic()
    default_timeout = current_app.extensions["fanout"].settings.timeout
    timeouts = {name: s.timeout or default_timeout for name, s in _sources().items()}
    calls = {
        name: (lambda s=source, t=timeouts[name]: s.read(t)) for name, source in _sources().items()
    }
    outcomes = gather(calls, timeout=timeouts)
    return jsonify(_aggregate_body(outcomes, time.monotonic() - started)), _status(outcomes)


def _aggregate_body(outcomes: dict[str, Outcome[Any]], total: float) -> dict[str, Any]:
    body: dict[str, Any] = {f"result_{n}": o.value for n, o in outcomes.items() if o.ok}
    body["errors"] = {n: o.error.as_dict() for n, o in outcomes.items() if o.error is not None}
    timing = {name: round(o.elapsed * 1000, 1) for name, o in outcomes.items()}
    body["timing_ms"] = {**timing, "total": round(total * 1000, 1)}
    return body


def _status(outcomes: dict[str, Outcome[Any]]) -> int:
    """200 if anything succeeded; 504 if everything timed out; 502 otherwise."""
    errors = [o.error for o in outcomes.values()]
    if not outcomes or any(e is None for e in errors):
        return 200
    if all(e is not None and e.code == "timeout" for e in errors):
        return 504
    return 502


@operations.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving."""
    return jsonify(status="ok")


@operations.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Pools and sources are ready: safe to send traffic here."""
    state = current_app.extensions["fanout"]
    cpu_ready, cpu_reason = state.cpu.ready()
    checks = {
        "io_pool": {"ready": True, "size": state.settings.io_threads},
        "cpu": {"ready": cpu_ready, "backend": state.settings.cpu_backend, "detail": cpu_reason},
        "sources": {"ready": bool(_sources()), "names": sorted(_sources())},
    }
    ready = all(check["ready"] for check in checks.values())
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503


def register_error_handlers(app: Flask) -> None:
    """Every error is JSON: never an HTML page, never a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = json_error(exc.code or 500, code, exc.description or exc.name)
        for header in ("Allow", "Retry-After"):
            if exc.get_response().headers.get(header):
                response.headers[header] = exc.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.exception("unhandled error")
        return json_error(500, "internal_error", "The server failed to answer this request.")
