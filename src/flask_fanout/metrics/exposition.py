"""The ``/metrics`` answer: every worker's metrics in Prometheus' text format."""

from __future__ import annotations

from flask import Response

from .flusher import flush

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes this process's values to shared files."""
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def metrics_response() -> Response:
    """The metrics of every worker in Prometheus' text format (for ``GET /metrics``).

    In multiprocess mode the answer aggregates the files of all the workers, so
    any worker can answer the scrape; otherwise it is the default registry.
    """
    flush()
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    registry = REGISTRY
    if multiprocess_mode():
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
