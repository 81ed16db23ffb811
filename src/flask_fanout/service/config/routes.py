"""Declared aggregate routes: the ``[routes.NAME]`` tables of the config file, checked.

A declared route is ``GET path`` reading some of the sources with the request's
typed parameters: path parameters typed by a converter (``int``, ``float`` or
``string``) and declared query-string parameters (``[routes.NAME.query.PARAM]``
with a ``type`` and an optional ``default``; without a default it is required).
Everything is checked here, at start-up, with errors naming ``routes.NAME.KEY``;
``startup.py`` checks, once the sources are built, that a route provides every
parameter its sources take.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_fanout import ConfigError

from .tables import reject_unknown_keys

CONVERTERS = ("int", "float", "string")
"""Converters a route path may use (``<int:user_id>``); a bare ``<name>`` is a string."""
QUERY_TYPES = ("int", "float", "string")
RESERVED_SEGMENTS = frozenset(
    {"is_prime", "healthz", "readyz", "metrics", "openapi.json", "docs", "static"}
)
"""First path segments of the built-in routes: a declared route may not start with one."""
INT_MAX = 2**63 - 1
"""Integers (path or query) are bounded to a signed 64-bit value: beyond is 404/400."""

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"<(?:([^<>:]*):)?([^<>:]*)>")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/-]*$")
_ROUTE_KEYS = {"path", "sources", "query", "description"}
_QUERY_KEYS = {"type", "default", "description"}
_MAX_PATH = 512


@dataclass(frozen=True)
class QueryParam:
    """One declared query-string parameter."""

    name: str
    type: str
    default: int | float | str | None = None
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class RouteSpec:
    """One ``[routes.NAME]`` table, checked."""

    name: str
    path: str
    sources: tuple[str, ...]
    path_params: Mapping[str, str] = field(default_factory=dict)
    """Path parameter name -> converter (``int``, ``float``, ``string``), in path order."""
    query: Mapping[str, QueryParam] = field(default_factory=dict)
    description: str = ""

    @property
    def parameters(self) -> frozenset[str]:
        """Every parameter name the route provides to its sources."""
        return frozenset(self.path_params) | frozenset(self.query)


def parse_routes(tables: object, source_names: Collection[str]) -> dict[str, RouteSpec]:
    """Check every ``[routes.NAME]`` table against the syntax and the configured sources."""
    if not isinstance(tables, Mapping):
        raise ConfigError("routes: must be a table of [routes.NAME] tables")
    routes = {name: _route(name, table, source_names) for name, table in tables.items()}
    shapes: dict[str, str] = {}
    for route in routes.values():
        shape = _PLACEHOLDER.sub(lambda m: f"<{m.group(1) or 'string'}>", route.path)
        if shape in shapes:
            raise ConfigError(
                f"routes.{route.name}.path: {route.path} clashes with routes.{shapes[shape]}"
            )
        shapes[shape] = route.name
    return routes


def _route(name: str, table: object, source_names: Collection[str]) -> RouteSpec:
    where = f"routes.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: a route name is letters, digits, '_' and '-'")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    reject_unknown_keys(where, table, _ROUTE_KEYS)
    path = table.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path: required, a string such as '/users/<int:user_id>'")
    path_params = _path_params(path, f"{where}.path")
    query = _query_params(table.get("query", {}), f"{where}.query")
    for param in sorted(set(query) & set(path_params)):
        raise ConfigError(f"{where}.query.{param}: already a parameter of the path")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}.description: must be a string")
    sources = _sources(table.get("sources"), f"{where}.sources", source_names)
    return RouteSpec(name, path, sources, path_params, query, description)


def _path_params(path: str, where: str) -> dict[str, str]:
    """Check the path's syntax; return its parameters and their converters."""
    if not path.startswith("/") or len(path) > _MAX_PATH:
        raise ConfigError(f"{where}: must start with '/' and be at most {_MAX_PATH} characters")
    params: dict[str, str] = {}
    for match in _PLACEHOLDER.finditer(path):
        converter, param = match.group(1), match.group(2)
        if converter is not None and converter not in CONVERTERS:
            raise ConfigError(
                f"{where}: converter {converter!r} of <{match.group(0)[1:-1]}>: "
                f"use one of {', '.join(CONVERTERS)}"
            )
        if not _IDENTIFIER.match(param):
            raise ConfigError(f"{where}: parameter name {param!r} must be a Python identifier")
        if param in params:
            raise ConfigError(f"{where}: parameter {param!r} appears twice")
        params[param] = converter or "string"
    literal = _PLACEHOLDER.sub("x", path)
    if not _LITERAL.match(literal):
        raise ConfigError(
            f"{where}: {path!r} has characters a path may not (allowed besides <conv:name>:"
            " letters, digits and -._~!$&'()*+,;=:@/)"
        )
    segments = path.split("/")[1:]
    if path == "/" or "" in segments:
        raise ConfigError(f"{where}: no empty segment ('//', a trailing '/'), and not '/'")
    if any(segment in (".", "..") for segment in segments):
        raise ConfigError(f"{where}: no '.' or '..' segment")
    first = segments[0]
    if "<" in first or first in RESERVED_SEGMENTS:
        raise ConfigError(
            f"{where}: the first segment must be a literal other than the built-in "
            f"routes' ({', '.join(sorted(RESERVED_SEGMENTS))}), got {first!r}"
        )
    return params


def _sources(value: object, where: str, source_names: Collection[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise ConfigError(f"{where}: required, a non-empty list of source names")
    for name in value:
        if name not in source_names:
            known = ", ".join(sorted(source_names))
            raise ConfigError(f"{where}: unknown source {name!r} (configured: {known})")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: a source is listed twice")
    return tuple(value)


def _query_params(tables: object, where: str) -> dict[str, QueryParam]:
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{where}: must be a table of [{where}.NAME] tables")
    return {name: _query_param(name, table, f"{where}.{name}") for name, table in tables.items()}


def _query_param(name: str, table: object, where: str) -> QueryParam:
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{where}: a parameter name must be a Python identifier")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table with type (and default)")
    reject_unknown_keys(where, table, _QUERY_KEYS)
    kind = table.get("type")
    if kind not in QUERY_TYPES:
        raise ConfigError(f"{where}.type: must be one of {', '.join(QUERY_TYPES)}, got {kind!r}")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}.description: must be a string")
    default = _default(kind, table.get("default"), f"{where}.default")
    return QueryParam(name, kind, default, description)


def _default(kind: str, value: Any, where: str) -> int | float | str | None:
    """The declared default, of the declared type (an int where a float is declared is fine)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{where}: must be a {kind}, got a boolean")
    if kind == "int" and isinstance(value, int) and -INT_MAX <= value <= INT_MAX:
        return value
    if kind == "float" and isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if kind == "string" and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: must be a {kind}, got {value!r}")
