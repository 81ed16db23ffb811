"""What start-up checks once the sources exist, shared by ``create_app`` and ``fanout serve``.

Whether a declared route provides every parameter of its sources is known only
from the built sources (an http source's URL template, a sql source's bind
parameters). Building them is cheap (no connection, no pool until first use),
so ``fanout serve`` does it in gunicorn's master too, before forking: a bad
config stops there with one line instead of a traceback in every worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask_fanout import ConfigError, Settings

from .config import RouteSpec, ServiceConfig
from .sources import Source, SourceLimits, build_sources

log = logging.getLogger("flask_fanout.service")


def build_checked_sources(
    config: ServiceConfig, io_threads: int
) -> tuple[dict[str, Source], Callable[[], None]]:
    """Build the sources and check the routes against them; raise ConfigError if bad."""
    service = config.service
    sources, close = build_sources(
        config.sources,
        SourceLimits(
            io_threads=io_threads,
            file_max_bytes=service.file_max_bytes,
            http_max_bytes=service.http_max_bytes,
            sql_max_rows=service.sql_max_rows,
            default_timeout=Settings.from_mapping(config.flask).timeout,
        ),
    )
    try:
        check_route_parameters(config.routes, sources)
    except BaseException:
        close()
        raise
    return sources, close


def check_route_parameters(routes: Mapping[str, RouteSpec], sources: Mapping[str, Source]) -> None:
    """Every source of a route gets every parameter it takes from that route.

    A source that takes parameters and is on no route is never read: a warning.
    """
    for route in routes.values():
        for name in route.sources:
            missing = sorted(sources[name].parameters - route.parameters)
            if missing:
                raise ConfigError(
                    f"routes.{route.name}.sources: source {name!r} takes "
                    f"{', '.join(missing)}, which the route does not provide (a path "
                    f"parameter, or a [routes.{route.name}.query.NAME] table)"
                )
    listed = {name for route in routes.values() for name in route.sources}
    for name, source in sources.items():
        if source.parameters and name not in listed:
            log.warning(
                "sources.%s takes %s: GET / does not read it, and no [routes.NAME] lists it",
                name,
                ", ".join(sorted(source.parameters)),
            )
