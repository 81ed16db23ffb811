"""The app factory: configuration, extension, sources and blueprints put together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from flask_fanout import Fanout

from .config import ServiceConfig, load_config
from .primes_routes import primes
from .routes import aggregate, operations, register_error_handlers
from .sources import Source, SourceLimits, build_sources


class ServiceState:
    """What the service keeps in ``app.extensions["fanout_service"]``."""

    def __init__(self, config: ServiceConfig, sources: dict[str, Source]) -> None:
        self.config = config
        self.sources = sources


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service; ``config`` overrides ``FANOUT_*`` settings from file and environment."""
    loaded = load_config(config)
    app = Flask(__name__)
    app.config.update(loaded.flask)
    app.config["MAX_CONTENT_LENGTH"] = loaded.service.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    fanout = Fanout(app)
    settings = app.extensions["fanout"].settings
    sources, _close = build_sources(
        loaded.sources,
        SourceLimits(
            io_threads=settings.io_threads,
            file_max_bytes=loaded.service.file_max_bytes,
            http_max_bytes=loaded.service.http_max_bytes,
            sql_max_rows=loaded.service.sql_max_rows,
        ),
    )
    app.extensions["fanout_service"] = ServiceState(loaded, sources)
    app.register_blueprint(aggregate)
    app.register_blueprint(primes)
    app.register_blueprint(operations)
    fanout.exempt(app, ["operations.healthz", "operations.readyz"])
    register_error_handlers(app)
    return app
