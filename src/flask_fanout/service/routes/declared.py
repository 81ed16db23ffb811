"""The declared aggregate routes (``[routes.NAME]``): one ``GET`` view each.

Each view takes its path parameters from the URL map (typed by the service's
ASCII ``int``/``float`` converters, ``converters.py``) and its declared query
parameters from ``query.py``, then answers exactly as ``GET /`` does
(:func:`~.aggregate.read_sources`), reading only the route's sources, each
with the parameters it takes. The blueprint is built per app, from its config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from ..config import INT_MAX, RouteSpec
from ..openapi import Responses, error, path_parameter, query_parameter, sync_view
from ..sources import Source
from .aggregate import AGGREGATE_RESPONSES, read_sources
from .query import ParameterError, parse_query, schema

_RESPONSES: Responses = {
    **AGGREGATE_RESPONSES,
    400: error("missing_parameter or invalid_parameter: a query parameter (see parameter)."),
    404: error("not_found: a path parameter is not of its type or out of range."),
}
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
    "float": {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,40}\.[0-9]{1,40}$"},
    "string": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}

View = Callable[..., tuple[Response, int]]


def declared_routes(routes: Mapping[str, RouteSpec], sources: Mapping[str, Source]) -> APIBlueprint:
    """A blueprint with one ``GET`` per declared route (endpoint ``routes.NAME``)."""
    blueprint = APIBlueprint(
        "routes",
        __name__,
        tag={"name": "routes", "description": "Declared routes: some sources, with parameters."},
    )
    for route in routes.values():
        view = _view(route, {name: sources[name] for name in route.sources})
        view = _documented(blueprint, route, view)
        blueprint.add_url_rule(route.path, endpoint=route.name, view_func=view, methods=["GET"])
    return blueprint


def _view(route: RouteSpec, sources: Mapping[str, Source]) -> View:
    declared = route.query

    def view(**path_values: Any) -> tuple[Response, int]:
        try:
            query = parse_query(declared, request.args) if declared else {}
        except ParameterError as exc:
            return exc.response(), 400
        return read_sources(sources, {**path_values, **query})

    view.__name__ = view.__qualname__ = f"route_{route.name}"
    return view


def _documented(blueprint: APIBlueprint, route: RouteSpec, view: View) -> View:
    names = ", ".join(route.sources)
    view.__doc__ = (
        f"Read {names} at once for this request's parameters.\n\n"
        + (route.description or f"Declared as `[routes.{route.name}]` in the config file.")
        + "\n\nThe answer has the shape of `GET /` for these sources only."
    )
    for name, converter in route.path_params.items():
        view = path_parameter(
            name, schema=_PATH_SCHEMAS[converter], description=f"{converter} path parameter"
        )(view)
    for name, param in route.query.items():
        view = query_parameter(
            name,
            required=param.required,
            schema=schema(param),
            description=param.description or f"{param.type} query parameter",
        )(view)
    doc = blueprint.doc(operation_id=f"route_{route.name}", responses=_RESPONSES)
    documented: View = doc(sync_view(view))
    return documented
