"""Blueprints: ``aggregate`` (``GET /``), ``operations`` (health) and JSON errors."""

from __future__ import annotations

import logging
import time
from typing import Any

from apiflask import APIBlueprint
from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from flask_fanout import Outcome, gather, json_error, metrics_response

from .openapi import (
    OVERLOADED,
    Aggregate,
    Health,
    Ready,
    Responses,
    json_response,
    sync_view,
)
from .readiness import sources_check
from .sources import Source

log = logging.getLogger("flask_fanout.service")

aggregate = APIBlueprint(
    "aggregate",
    __name__,
    tag={"name": "aggregate", "description": "Every configured source, read at once."},
)
operations = APIBlueprint(
    "operations",
    __name__,
    tag={"name": "operations", "description": "Health, readiness and metrics."},
)


def _sources() -> dict[str, Source]:
    sources: dict[str, Source] = current_app.extensions["fanout_service"].sources
    return sources


_AGGREGATE: Responses = {
    200: json_response("At least one source succeeded.", Aggregate),
    502: json_response("Every source failed (same body: see errors).", Aggregate),
    503: OVERLOADED,
    504: json_response("Every source timed out (same body: see errors).", Aggregate),
}


@aggregate.get("/")
@aggregate.doc(operation_id="readAllSources", responses=_AGGREGATE)
@sync_view
def read_all_sources() -> tuple[Response, int]:
    """Read every configured source at once; answer with what came back in time.

    Each source has its own timeout and the whole request a deadline; a source that
    fails or times out becomes an entry of `errors` (code `timeout`, `unavailable`,
    `bad_response`, `query_failed`, `too_large` or `error`) and the others still answer.
    """
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


_HEALTH: Responses = {200: json_response("The process is alive.", Health)}
_READY: Responses = {
    200: json_response("Ready.", Ready),
    503: json_response("Not ready: the failing checks say why.", Ready),
}


@operations.get("/healthz")
@operations.doc(operation_id="healthz", responses=_HEALTH)
@sync_view
def healthz() -> Response:
    """The process is alive and serving."""
    return jsonify(status="ok")


@operations.get("/readyz")
@operations.doc(operation_id="readyz", responses=_READY)
@sync_view
def readyz() -> tuple[Response, int]:
    """Pools and sources are ready: safe to send traffic here."""
    state = current_app.extensions["fanout"]
    cpu_ready, cpu_reason = state.cpu.ready()
    checks = {
        "io_pool": {"ready": True, "size": state.settings.io_threads},
        "cpu": {"ready": cpu_ready, "backend": state.settings.cpu_backend, "detail": cpu_reason},
        "sources": sources_check(_sources()),
    }
    ready = all(check["ready"] for check in checks.values())
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503


_METRICS_TEXT: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    200: {
        "description": "Prometheus text format 0.0.4, every worker's metrics together.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@operations.get("/metrics")
@operations.doc(operation_id="metrics", responses=_METRICS_TEXT)
@sync_view
def metrics() -> Response:
    """Metrics in Prometheus' text format: requests, sources, pools, admission."""
    return metrics_response()


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
