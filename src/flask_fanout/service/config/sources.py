"""The ``[sources.NAME]`` tables: their common keys, their types, and the embedded default.

Each type's own keys are checked by its module (``http.py``, ``sql.py``), a
source's call policy by ``policies.py``; this module checks the name, the type,
unknown and required keys and ``timeout``, and hands the rest on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_fanout import ConfigError, Policy

from ..demo.database import ensure_demo_database
from .http import HTTP_KEYS, HttpSettings, http_settings
from .policies import POLICY_KEYS, source_policy
from .settings import ServiceSettings
from .sql import SQL_KEYS, sql_options
from .tables import reject_unknown_keys

SOURCE_TYPES = {
    "file": {"required": {"path"}, "optional": set()},
    "sql": {"required": {"url", "query"}, "optional": set(SQL_KEYS)},
    "http": {"required": {"url"}, "optional": set(HTTP_KEYS)},
}
_COMMON_SOURCE_KEYS = {"type", "timeout"} | POLICY_KEYS
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
_PACKAGE_DATA = Path(__file__).parents[1] / "demo" / "data"


@dataclass(frozen=True)
class SourceSpec:
    """One ``[sources.NAME]`` table, checked."""

    name: str
    type: str
    options: Mapping[str, Any]
    timeout: float | None = None
    policy: Policy | None = None


def parse_sources(tables: object, environ: Mapping[str, str]) -> dict[str, SourceSpec]:
    """Check every ``[sources.NAME]`` table; ``${VAR}`` in values come from ``environ``."""
    if not isinstance(tables, Mapping):
        raise ConfigError("sources: must be a table of [sources.NAME] tables")
    return {name: _source_spec(name, table, environ) for name, table in tables.items()}


def _source_spec(name: str, table: object, environ: Mapping[str, str]) -> SourceSpec:
    where = f"sources.{name}"
    if not _SOURCE_NAME.match(name):
        raise ConfigError(f"{where}: a source name is letters, digits, '_' and '-'")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    kind = table.get("type")
    if kind not in SOURCE_TYPES:
        raise ConfigError(f"{where}.type: must be one of {', '.join(SOURCE_TYPES)}, got {kind!r}")
    rules = SOURCE_TYPES[kind]
    reject_unknown_keys(where, table, rules["required"] | rules["optional"] | _COMMON_SOURCE_KEYS)
    for key in sorted(rules["required"]):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise ConfigError(f"{where}.{key}: required, a non-empty string")
    timeout = table.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise ConfigError(f"{where}.timeout: must be a number of seconds > 0, got {timeout!r}")
    options = {k: v for k, v in table.items() if k not in _COMMON_SOURCE_KEYS}
    if kind == "sql":
        options.update(sql_options(where, table, environ))
    if kind == "http":
        options = {"url": table["url"], "settings": http_settings(where, table, environ)}
    seconds = float(timeout) if timeout is not None else None
    return SourceSpec(name, kind, options, seconds, source_policy(where, table))


def default_sources(settings: ServiceSettings) -> dict[str, SourceSpec]:
    """The embedded default: a bundled file, an embedded SQLite database, the demo upstream."""
    database = ensure_demo_database(Path(settings.data_dir) if settings.data_dir else None)
    return {
        "file": SourceSpec("file", "file", {"path": str(_PACKAGE_DATA / "sample.txt")}),
        "db": SourceSpec(
            "db",
            "sql",
            {"url": f"sqlite:///{database}", "query": "SELECT id, name, price FROM products"},
        ),
        "api": _http_spec("api", settings.upstream_url.rstrip("/") + "/api/data"),
    }


def _http_spec(name: str, url: str) -> SourceSpec:
    return SourceSpec(name, "http", {"url": url, "settings": HttpSettings(url, url)})
