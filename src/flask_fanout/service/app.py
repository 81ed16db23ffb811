"""The app factory: configuration, extension, sources and blueprints put together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from flask import Flask, Response
from werkzeug.datastructures import ImmutableDict
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import Map

from flask_fanout import Fanout

from .config import ServiceConfig, load_config
from .errors import register_error_handlers
from .openapi import setup_openapi, version
from .primes.routes import primes
from .routes import aggregate, operations
from .routes.converters import CONVERTERS
from .routes.declared import declared_routes
from .security import register_security
from .sources import Source
from .startup import build_checked_sources


class _Routes(Map):
    """URL rules matched as written: ``/is_prime//2`` is not redirected to ``/is_prime/2``.

    Werkzeug's default (``merge_slashes``) answers such paths with a 308 whose body
    is an HTML page; here they reach the views (a JSON 400 for a bad number) or 404.
    ``int`` and ``float`` are the service's ASCII, bounded converters.
    """

    default_converters = ImmutableDict({**Map.default_converters, **CONVERTERS})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("merge_slashes", False)
        super().__init__(*args, **kwargs)


class ServiceApp(APIFlask):
    """The service's Flask app: APIFlask only to generate ``/openapi.json`` and ``/docs``.

    Errors stay the service's own (``json_errors=False``) and no view validates or
    serializes through apiflask (see ``openapi.py``).
    """

    url_map_class = _Routes
    # apiflask's make_response only turns returned lists into JSON for Flask < 2.2,
    # which Flask 3 does itself: skip its extra checks on every response.
    make_response = Flask.make_response

    def make_default_options_response(self) -> Response:
        """``OPTIONS``: 204 with ``Allow`` (Flask's default is a 200 with an empty HTML body)."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


class ServiceState:
    """What the service keeps in ``app.extensions["fanout_service"]``."""

    def __init__(self, config: ServiceConfig, sources: dict[str, Source]) -> None:
        self.config = config
        self.sources = sources


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service; ``config`` overrides ``FANOUT_*`` settings from file and environment."""
    loaded = load_config(config)
    app = ServiceApp(
        __name__,
        title="flask-fanout",
        version=version(),
        json_errors=False,
        docs_oauth2_redirect_path=None,
    )
    setup_openapi(app)
    app.config.update(loaded.flask)
    app.config["MAX_CONTENT_LENGTH"] = loaded.service.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    fanout = Fanout(app)
    settings = app.extensions["fanout"].settings
    sources, _close = build_checked_sources(loaded, settings.io_threads)
    app.extensions["fanout_service"] = ServiceState(loaded, sources)
    app.register_blueprint(aggregate)
    if loaded.routes:
        app.register_blueprint(declared_routes(loaded.routes, sources))
    app.register_blueprint(primes)
    app.register_blueprint(operations)
    fanout.exempt(app, ["operations.healthz", "operations.readyz", "operations.metrics"])
    register_error_handlers(app)
    register_security(app)
    hops = loaded.service.proxy_hops
    if hops:  # behind that many proxies: client address, scheme, host, port and prefix
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    return app
