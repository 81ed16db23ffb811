"""Service settings: the TOML file ``FANOUT_CONFIG``, ``FANOUT_*`` variables, defaults.

Precedence, lowest first: built-in defaults, the TOML file, the environment, the
``config`` mapping given to ``create_app``. Everything is validated here, at
start-up, and an error names the key it is about.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from flask_fanout import ConfigError, Settings
from flask_fanout.settings import parse_int, read_setting

from .demo.database import ensure_demo_database
from .http_config import HTTP_KEYS, HttpSettings, http_settings
from .primes import PrimeLimits
from .route_config import RouteSpec, parse_routes

SOURCE_TYPES = {
    "file": {"required": {"path"}, "optional": set()},
    "sql": {"required": {"url", "query"}, "optional": set()},
    "http": {"required": {"url"}, "optional": set(HTTP_KEYS)},
}
_COMMON_SOURCE_KEYS = {"type", "timeout"}
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
_PACKAGE_DATA = Path(__file__).parent / "demo" / "data"


@dataclass(frozen=True)
class SourceSpec:
    """One ``[sources.NAME]`` table, checked."""

    name: str
    type: str
    options: Mapping[str, Any]
    timeout: float | None = None


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of the service itself (the extension's are :class:`Settings`)."""

    file_max_bytes: int = 1 << 20
    """FANOUT_FILE_MAX_BYTES: a file source larger than this is an error."""
    http_max_bytes: int = 4 << 20
    """FANOUT_HTTP_MAX_BYTES: an HTTP answer larger than this is an error."""
    sql_max_rows: int = 1000
    """FANOUT_SQL_MAX_ROWS: rows a sql source may return."""
    max_body_bytes: int = 4 << 20
    """FANOUT_MAX_BODY_BYTES: largest request body accepted (413 above it)."""
    prime_max_numbers: int = PrimeLimits().max_numbers
    """FANOUT_PRIME_MAX_NUMBERS: numbers per primality request."""
    prime_max_digits: int = PrimeLimits().max_digits
    """FANOUT_PRIME_MAX_DIGITS: decimal digits per number."""
    prime_max_total_digits: int = PrimeLimits().max_total_digits
    """FANOUT_PRIME_MAX_TOTAL_DIGITS: decimal digits per request."""
    data_dir: str = ""
    """FANOUT_DATA_DIR: where the embedded default database lives."""
    upstream_url: str = "http://127.0.0.1:8001"
    """FANOUT_UPSTREAM_URL: the demo upstream called by the default ``api`` source."""
    proxy_hops: int = field(default=0, metadata={"minimum": 0})
    """FANOUT_PROXY_HOPS: reverse proxies in front whose X-Forwarded-* headers are trusted."""

    @property
    def prime_limits(self) -> PrimeLimits:
        return PrimeLimits(
            max_numbers=self.prime_max_numbers,
            max_digits=self.prime_max_digits,
            max_total_digits=self.prime_max_total_digits,
        )


@dataclass(frozen=True)
class ServiceConfig:
    """Everything ``create_app`` needs, validated."""

    flask: dict[str, Any]
    """``FANOUT_*`` values for ``app.config`` (read again by ``Fanout``)."""
    service: ServiceSettings
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    config_file: str | None = None
    routes: dict[str, RouteSpec] = field(default_factory=dict)
    """The declared ``[routes.NAME]`` (``GET /`` is always there)."""


def _setting_keys() -> set[str]:
    return {f"FANOUT_{f.name.upper()}" for cls in (Settings, ServiceSettings) for f in fields(cls)}


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"FANOUT_CONFIG: no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"FANOUT_CONFIG: {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"FANOUT_CONFIG: cannot read {path}: {exc.strerror}") from None


def _toml_scalars(document: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys of the file: ``io_threads = 64`` or ``FANOUT_IO_THREADS = 64``."""
    known = _setting_keys()
    scalars = {}
    for key, value in document.items():
        if key in ("sources", "routes"):
            continue
        name = key.upper() if key.upper().startswith("FANOUT_") else f"FANOUT_{key.upper()}"
        if name not in known:
            raise ConfigError(f"{key}: unknown setting in the config file")
        scalars[name] = value
    return scalars


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
    unknown = set(table) - rules["required"] - rules["optional"] - _COMMON_SOURCE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    for key in sorted(rules["required"]):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise ConfigError(f"{where}.{key}: required, a non-empty string")
    timeout = table.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise ConfigError(f"{where}.timeout: must be a number of seconds > 0, got {timeout!r}")
    if kind == "sql":
        try:
            make_url(table["url"]).get_dialect()
        except Exception as exc:
            raise ConfigError(f"{where}.url: not a usable SQLAlchemy URL: {exc}") from None
    options = {k: v for k, v in table.items() if k not in _COMMON_SOURCE_KEYS}
    if kind == "http":
        options = {"url": table["url"], "settings": http_settings(where, table, environ)}
    return SourceSpec(name, kind, options, float(timeout) if timeout is not None else None)


def _service_settings(values: Mapping[str, Any]) -> ServiceSettings:
    defaults = ServiceSettings()
    parsed: dict[str, Any] = {}
    for f in fields(ServiceSettings):
        key, default = f"FANOUT_{f.name.upper()}", getattr(defaults, f.name)
        parse = parse_int(f.metadata.get("minimum", 1)) if isinstance(default, int) else str
        parsed[f.name] = read_setting(values, key, parse, default)
    return ServiceSettings(**parsed)


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


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Merge defaults, the TOML file, the environment and ``overrides``; validate all."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    path = overrides.get("FANOUT_CONFIG") or environ.get("FANOUT_CONFIG") or None
    document = _read_toml(str(path)) if path else {}

    values: dict[str, Any] = _toml_scalars(document)
    known = _setting_keys()
    values.update({k: v for k, v in environ.items() if k in known})
    values.update({k: v for k, v in overrides.items() if k in known})
    Settings.from_mapping(values)  # fail here, naming the key, before anything starts
    service = _service_settings(values)

    tables = document.get("sources", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("sources: must be a table of [sources.NAME] tables")
    sources = {name: _source_spec(name, table, environ) for name, table in tables.items()}
    if path and not sources:
        raise ConfigError(f"sources: {path} defines no [sources.NAME] table")
    if not sources:
        sources = default_sources(service)
    routes = parse_routes(document.get("routes", {}), sources)
    return ServiceConfig(values, service, sources, str(path) if path else None, routes)
