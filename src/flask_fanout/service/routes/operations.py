"""The ``operations`` blueprint: liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, jsonify

from flask_fanout import breaker_states, metrics_response

from ..openapi import Health, Ready, Responses, json_response, sync_view
from ..readiness import breakers_check, sources_check
from .aggregate import configured_sources

operations = APIBlueprint(
    "operations",
    __name__,
    tag={"name": "operations", "description": "Health, readiness and metrics."},
)

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
        "sources": sources_check(configured_sources()),
        "breakers": breakers_check(breaker_states()),
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
