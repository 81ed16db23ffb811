"""Service settings: the TOML file ``FANOUT_CONFIG``, ``FANOUT_*`` variables, defaults.

Precedence, lowest first: built-in defaults, the TOML file, the environment, the
``config`` mapping given to ``create_app``. Everything is validated here, at
start-up, and an error names the key it is about.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_fanout import ConfigError, Settings

from .routes import RouteSpec, parse_routes
from .settings import ServiceSettings, service_settings, setting_keys
from .sources import SourceSpec, default_sources, parse_sources


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
    known = setting_keys()
    scalars = {}
    for key, value in document.items():
        if key in ("sources", "routes"):
            continue
        name = key.upper() if key.upper().startswith("FANOUT_") else f"FANOUT_{key.upper()}"
        if name not in known:
            raise ConfigError(f"{key}: unknown setting in the config file")
        scalars[name] = value
    return scalars


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Merge defaults, the TOML file, the environment and ``overrides``; validate all."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    path = overrides.get("FANOUT_CONFIG") or environ.get("FANOUT_CONFIG") or None
    document = _read_toml(str(path)) if path else {}

    values: dict[str, Any] = _toml_scalars(document)
    known = setting_keys()
    values.update({k: v for k, v in environ.items() if k in known})
    values.update({k: v for k, v in overrides.items() if k in known})
    Settings.from_mapping(values)  # fail here, naming the key, before anything starts
    service = service_settings(values)

    sources = parse_sources(document.get("sources", {}), environ)
    if path and not sources:
        raise ConfigError(f"sources: {path} defines no [sources.NAME] table")
    if not sources:
        sources = default_sources(service)
    routes = parse_routes(document.get("routes", {}), sources)
    return ServiceConfig(values, service, sources, str(path) if path else None, routes)
