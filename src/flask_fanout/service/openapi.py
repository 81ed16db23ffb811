"""The OpenAPI 3.1 spec at ``/openapi.json`` and the Swagger UI page at ``/docs``.

apiflask generates the spec from the code: the URL map gives the paths and path
parameters, ``@bp.doc`` on each view its summary, description (the docstring),
operation id and responses, and the marshmallow schemas below the response
bodies. Everything here is documentation only. apiflask's ``@input`` and
``@output`` would parse, validate and serialize every request; the service does
not use them, because its own parsers (``primes/numbers.py``) already validate input
exactly and answer with its JSON errors, and the hot paths must not pay for a
second pass. The things apiflask derives only from ``@input`` (a request body,
details of a path parameter, query parameters) are declared with
:func:`request_body`, :func:`path_parameter` and :func:`query_parameter` and
merged into the spec when it is built, once per process, on the first
``GET /openapi.json``. Views are registered unwrapped
(:func:`sync_view`) and the app skips apiflask's ``make_response`` (``app.py``),
so a request to the API runs exactly the code it would without apiflask.

The Swagger UI page loads its JavaScript and CSS from this service
(``/docs/assets/``, the files shipped by the ``flask-swagger-ui`` package), never
from a CDN, so it works on a machine without internet access.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata, resources
from typing import Any, TypeVar

from apiflask import APIFlask, Schema
from apiflask.fields import Boolean, Dict, Float, List, Nested, String
from flask import Blueprint
from marshmallow import INCLUDE

F = TypeVar("F", bound=Callable[..., Any])

ResponseDoc = dict[str, str | dict[str, dict[str, Any]]]
"""One response of ``@bp.doc(responses=...)``: description, content, headers."""
Responses = dict[int | str, ResponseDoc]
"""The ``responses`` argument of ``@bp.doc``, by status code."""

_EXTRA = "_fanout_openapi"

NUMBER_PATTERN = r"^[+-]?[0-9]+$"
"""One base-10 integer as the API accepts it: ASCII digits, optional sign."""
NUMBER_LIST_PATTERN = r"^[+-]?[0-9]+(,[+-]?[0-9]+)*$"
"""Comma-separated base-10 integers, the ``numbers`` of ``GET /is_prime/{numbers}``."""

DESCRIPTION = """\
Reads several sources at once (`GET /`) and tests primality exactly
(`GET /is_prime/{numbers}`, `POST /is_prime`).

**Errors** are always JSON, for every status (400, 404, 405, 413, 503, 504, ...):
`{"error": "<machine code>", "message": "<sentence for a human>", ...details}`.
Clients branch on `error`; extra keys give details (for example `invalid` lists
the bad tokens of a 400 `invalid_number`). `503 overloaded` (with `Retry-After`)
answers any request past the worker's limit of requests in flight.
"""


# --------------------------------------------------------------------------- schemas


class Error(Schema):
    class Meta:
        unknown = INCLUDE
        description = (
            "Every error: a machine code, a sentence, and details under further keys"
            " (e.g. invalid, invalid_count, limit)."
        )

    error = String(required=True, metadata={"example": "invalid_number"})
    message = String(
        required=True, metadata={"example": "1 token(s) are not a base-10 integer (...)."}
    )


class SourceError(Schema):
    code = String(
        required=True,
        metadata={
            "description": (
                "timeout, unavailable, bad_response, tls_error, query_failed, too_large or error"
            ),
        },
    )
    message = String(required=True)


class Aggregate(Schema):
    class Meta:
        unknown = INCLUDE
        description = (
            "One key result_NAME per source NAME that succeeded (a file's text, a query's"
            " rows, an HTTP answer's JSON or text), plus errors and timing_ms."
        )

    errors = Dict(
        keys=String(),
        values=Nested(SourceError),
        required=True,
        metadata={"description": "The sources that failed, by name."},
    )
    timing_ms = Dict(
        keys=String(),
        values=Float(),
        required=True,
        metadata={"description": "Each source's time and the total, in milliseconds."},
    )


class PrimeResult(Schema):
    n = String(required=True, metadata={"description": "Canonical decimal form", "example": "7"})
    prime = Boolean(required=True)


class PrimeResults(Schema):
    results = List(
        Nested(PrimeResult),
        required=True,
        metadata={"description": "In input order, duplicates kept."},
    )


class Health(Schema):
    status = String(required=True, metadata={"enum": ["ok"]})


class Check(Schema):
    class Meta:
        unknown = INCLUDE
        description = "One readiness check; further keys give its details."

    ready = Boolean(required=True)


class Ready(Schema):
    class Meta:
        unknown = INCLUDE
        description = "Readiness of the pools and sources; a check that fails says why."

    status = String(required=True, metadata={"enum": ["ready", "not_ready"]})
    checks = Dict(keys=String(), values=Nested(Check), required=True)


PRIME_MAP: dict[str, Any] = {
    "type": "object",
    "description": "Each number's canonical decimal string mapped to whether it is prime.",
    "propertyNames": {"pattern": r"^(0|-?[1-9][0-9]*)$"},
    "additionalProperties": {"type": "boolean"},
    "example": {"2": True, "4": False, "17": True, "11": True},
}

IS_PRIME_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["numbers"],
    "properties": {
        "numbers": {
            "type": "array",
            "description": "JSON integers or decimal strings (for numbers of any size).",
            "items": {
                "oneOf": [
                    {"type": "integer"},
                    {"type": "string", "pattern": NUMBER_PATTERN},
                ]
            },
        }
    },
}


# --------------------------------------------------------------------------- responses


def json_response(
    description: str, schema: Any, headers: dict[str, dict[str, Any]] | None = None
) -> ResponseDoc:
    """A response of ``@bp.doc(responses=...)`` with a JSON body of ``schema``."""
    response: ResponseDoc = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def error(description: str, *, retry_after: bool = False) -> ResponseDoc:
    """An error response (the :class:`Error` body), with ``Retry-After`` if it has one."""
    if not retry_after:
        return json_response(description, Error)
    header = {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string"},
    }
    return json_response(description, Error, headers={"Retry-After": header})


OVERLOADED = error("overloaded: too many requests in flight in this worker.", retry_after=True)


# --------------------------------------------------------------------------- view decorators


def sync_view(view: F) -> F:
    """Mark a (synchronous) view so that apiflask's ``@doc`` registers it unwrapped.

    Put it below ``@bp.doc``. Otherwise ``@doc`` wraps the view in a function that
    looks up ``current_app.ensure_sync`` on every call (about 1.3 microseconds a
    request, more under load) for nothing: Flask itself already runs every view
    through ``ensure_sync``.
    """
    view.__dict__["_sync_ensured"] = True  # what apiflask's _ensure_sync checks
    return view


# --------------------------------------------------------------------------- what @doc cannot say


def request_body(schema: dict[str, Any], *, name: str, example: Any = None) -> Callable[[F], F]:
    """Document a JSON request body that the view parses itself (no validation here)."""
    body: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    if example is not None:
        body["example"] = example
    return _extra(
        "requestBody",
        {"required": True, "content": {"application/json": body}},
        schema={name: schema},
    )


def path_parameter(name: str, **details: Any) -> Callable[[F], F]:
    """Add ``details`` (description, schema, example) to the path parameter ``name``."""
    return _extra("parameters", {name: details})


def query_parameter(name: str, **details: Any) -> Callable[[F], F]:
    """Document the query parameter ``name`` (required, schema, description)."""
    return _extra("query", {name: {"in": "query", "name": name, **details}})


def _extra(key: str, value: Any, schema: dict[str, Any] | None = None) -> Callable[[F], F]:
    def mark(view: F) -> F:
        extra: dict[str, Any] = view.__dict__.setdefault(_EXTRA, {})
        if isinstance(value, dict) and isinstance(extra.get(key), dict):
            extra[key] = {**extra[key], **value}  # one parameter per call
        else:
            extra[key] = value
        extra.setdefault("schemas", {}).update(schema or {})
        return view

    return mark


def _merge_extras(app: APIFlask, spec: dict[str, Any] | str) -> dict[str, Any] | str:
    """Merge the fields declared with :func:`request_body` and :func:`path_parameter`."""
    if isinstance(spec, str):  # SPEC_FORMAT = "yaml": left as generated
        return spec
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for rule in app.url_map.iter_rules():
        extra = getattr(app.view_functions[rule.endpoint], _EXTRA, None)
        if not extra:
            continue
        path = re.sub(r"<([^<:]+:)?", "{", rule.rule).replace(">", "}")
        for method in sorted(rule.methods or ()):
            operation = spec.get("paths", {}).get(path, {}).get(method.lower())
            if operation is None:
                continue
            if "requestBody" in extra:
                operation["requestBody"] = extra["requestBody"]
            for parameter in operation.get("parameters", []):
                parameter.update(extra.get("parameters", {}).get(parameter["name"], {}))
            operation.setdefault("parameters", []).extend(extra.get("query", {}).values())
        schemas.update(extra["schemas"])
    return spec


# --------------------------------------------------------------------------- app wiring


def _swagger_ui_dist() -> str:
    """The directory of Swagger UI's dist files shipped by ``flask-swagger-ui``."""
    return str(resources.files("flask_swagger_ui") / "dist")


def setup_openapi(app: APIFlask) -> None:
    """Configure the spec and the docs page of ``app`` (an :class:`~apiflask.APIFlask`)."""
    # Relative URLs, resolved against /docs: the page and its assets stay together
    # even when the service is mounted under a prefix.
    assets = "docs/assets/"
    app.config.update(
        DESCRIPTION=DESCRIPTION,
        # No "servers": clients and the docs page call the host that served the spec.
        AUTO_SERVERS=False,
        # Every response is declared on its view, with our error shape.
        AUTO_404_RESPONSE=False,
        AUTO_VALIDATION_ERROR_RESPONSE=False,
        HTTP_ERROR_SCHEMA=Error,
        SWAGGER_UI_CSS=assets + "swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=assets + "swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=assets + "swagger-ui-standalone-preset.js",
        DOCS_FAVICON=assets + "favicon-32x32.png",
        SWAGGER_UI_CONFIG={"displayRequestDuration": True, "defaultModelsExpandDepth": 1},
    )
    app.register_blueprint(
        Blueprint(
            "docs_assets",
            __name__,
            static_folder=_swagger_ui_dist(),
            static_url_path="/docs/assets",
        )
    )
    app.spec_processor(lambda spec: _merge_extras(app, spec))


def version() -> str:
    try:
        return metadata.version("flask-fanout")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


__all__ = [
    "OVERLOADED",
    "Aggregate",
    "Error",
    "Health",
    "PrimeResults",
    "Ready",
    "ResponseDoc",
    "Responses",
    "error",
    "json_response",
    "path_parameter",
    "query_parameter",
    "request_body",
    "setup_openapi",
    "sync_view",
    "version",
]
