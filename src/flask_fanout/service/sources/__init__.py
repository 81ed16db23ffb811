"""Source types (``file``, ``sql``, ``http``), built from the operator's configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from ..config import DEFAULT_POOL_SIZE, HttpSettings, SourceSpec
from .base import Source
from .file import FileSource
from .http import HttpClient, HttpSource
from .sql import EngineCache, EngineSpec, SqlSource

_log = logging.getLogger(__name__)


@dataclass
class SourceLimits:
    io_threads: int
    file_max_bytes: int
    http_max_bytes: int
    sql_max_rows: int
    default_timeout: float = 5.0
    """FANOUT_TIMEOUT: also a sql source's longest wait for a free connection."""


def build_sources(
    specs: Mapping[str, SourceSpec], limits: SourceLimits
) -> tuple[dict[str, Source], Callable[[], None]]:
    """Build every configured source; return them and a function that closes their pools."""
    engines = EngineCache()
    http = HttpClient(limits.io_threads)
    sources: dict[str, Source] = {}
    for name, spec in specs.items():
        options = spec.options
        if spec.type == "file":
            sources[name] = FileSource(name, options["path"], limits.file_max_bytes, spec.timeout)
        elif spec.type == "sql":
            engine = EngineSpec(
                make_url(options["url"]),
                options.get("pool_size", DEFAULT_POOL_SIZE),
                spec.timeout or limits.default_timeout,
            )
            sources[name] = SqlSource(
                name, engine, options["query"], engines, limits.sql_max_rows, spec.timeout
            )
        else:
            sources[name] = _http_source(name, options["settings"], http, limits, spec.timeout)

    def close() -> None:
        engines.dispose()
        http.close()

    return sources, close


def _http_source(
    name: str, settings: HttpSettings, http: HttpClient, limits: SourceLimits, timeout: float | None
) -> HttpSource:
    if not settings.tls.verify:
        _log.warning(
            "sources.%s: verify = false: TLS certificates of %s are NOT checked; anyone on"
            " the network path can read and change this source's requests and answers,"
            " its headers included",
            name,
            settings.shown_url,
        )
    pool = http.pool(settings.tls, settings.max_connections)
    return HttpSource(name, settings, pool, limits.http_max_bytes, timeout)


__all__ = [
    "FileSource",
    "HttpSource",
    "Source",
    "SourceLimits",
    "SqlSource",
    "build_sources",
]
