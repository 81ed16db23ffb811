"""A sql source's keys, checked at start-up: its URL (``${VAR}`` expanded) and ``pool_size``.

The URL is kept as SQLAlchemy's ``URL``, whose ``repr`` and ``str`` hide the
password; errors never show the expanded URL. The driver is only looked up, not
imported: ``fanout serve`` reads the config in gunicorn's master, before gevent
patches the workers, and psycopg chooses how it waits when it is imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import make_url

from flask_fanout import ConfigError

from .envvars import expand_env, names_env

SQL_KEYS = {"pool_size"}
"""Optional keys of a sql source, besides ``url``, ``query`` and ``timeout``."""

DEFAULT_POOL_SIZE = 10
"""Connections of a sql source per worker process, unless its ``pool_size`` says otherwise."""

# SQLAlchemy's plain ``postgresql://`` and ``mysql://`` mean psycopg2 and mysqlclient;
# the drivers offered as extras (and tested) are psycopg 3 and PyMySQL.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
# Driver module -> the extra of flask-fanout that installs it.
_DRIVER_EXTRAS = {"psycopg": "postgres", "pymysql": "mysql"}


def sql_options(where: str, table: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The checked ``url`` (a ``URL``, its driver installed) and ``pool_size``."""
    pool_size = table.get("pool_size", DEFAULT_POOL_SIZE)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ConfigError(f"{where}.pool_size: must be an integer >= 1, got {pool_size!r}")
    raw = table["url"]
    try:
        url = make_url(expand_env(raw, f"{where}.url", environ))
        url = url.set(drivername=_DEFAULT_DRIVERS.get(url.drivername, url.drivername))
        dialect = url.get_dialect()
    except ConfigError:
        raise
    except Exception as exc:
        why = "check the values it takes from the environment" if names_env(raw) else exc
        raise ConfigError(f"{where}.url: not a usable SQLAlchemy URL: {why}") from None
    module = dialect.driver
    if module in _DRIVER_EXTRAS and importlib.util.find_spec(module) is None:
        extra = _DRIVER_EXTRAS[module]
        raise ConfigError(
            f"{where}.url: the {module} driver is not installed: "
            f"pip install 'flask-fanout[{extra}]'"
        )
    return {"url": url, "pool_size": pool_size}
