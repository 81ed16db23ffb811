"""The ``aggregate`` blueprint: ``GET /`` reads every configured source at once.

:func:`read_sources` is the one answer of every aggregate route: ``GET /`` and
the declared routes (``declared.py``) only choose the sources and parameters.
``GET /`` reads the sources that take no parameter; a source that does is read
only by the declared routes that provide its parameters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, jsonify

from flask_fanout import Outcome, gather

from ..openapi import OVERLOADED, Aggregate, Responses, json_response, sync_view
from ..sources import Source
from ..sources.base import NO_PARAMS, Params

aggregate = APIBlueprint(
    "aggregate",
    __name__,
    tag={"name": "aggregate", "description": "Every configured source, read at once."},
)


def configured_sources() -> dict[str, Source]:
    sources: dict[str, Source] = current_app.extensions["fanout_service"].sources
    return sources


AGGREGATE_RESPONSES: Responses = {
    200: json_response("At least one source succeeded.", Aggregate),
    502: json_response("Every source failed (same body: see errors).", Aggregate),
    503: OVERLOADED,
    504: json_response("Every source timed out (same body: see errors).", Aggregate),
}


@aggregate.get("/")
@aggregate.doc(operation_id="readAllSources", responses=AGGREGATE_RESPONSES)
@sync_view
def read_all_sources() -> tuple[Response, int]:
    """Read every configured source at once; answer with what came back in time.

    Each source has its own timeout and the whole request a deadline; a source that
    fails or times out becomes an entry of `errors` (code `timeout`, `unavailable`,
    `bad_response`, `tls_error`, `query_failed`, `too_large` or `error`) and the
    others still answer.
    """
    sources = configured_sources()
    return read_sources({name: s for name, s in sources.items() if not s.parameters}, NO_PARAMS)


def read_sources(sources: Mapping[str, Source], params: Params) -> tuple[Response, int]:
    """Read ``sources`` at once, each with the ``params`` it takes; the aggregate answer."""
    started = time.monotonic()
    default_timeout = current_app.extensions["fanout"].settings.timeout
    timeouts = {name: s.timeout or default_timeout for name, s in sources.items()}
    calls = {
        name: partial(source.read, timeouts[name], _taken(source, params))
        for name, source in sources.items()
    }
    outcomes = gather(calls, timeout=timeouts)
    return jsonify(_aggregate_body(outcomes, time.monotonic() - started)), _status(outcomes)


def _taken(source: Source, params: Params) -> Params:
    """The values of the parameters ``source`` takes, and no others."""
    if not source.parameters:
        return NO_PARAMS
    return {name: params[name] for name in source.parameters}


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
