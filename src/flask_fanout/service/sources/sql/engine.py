"""SQL engines of the sql sources: built per process, connections opened off the hub.

Under gevent a database driver written in C (psycopg's libpq, a MySQL client
library) would freeze the worker's hub while it waits on the server. The query
itself runs on a real thread (see ``source.py``); here the other long wait, opening a
connection, is sent there too, through SQLAlchemy's ``do_connect`` event. What
stays on the greenlet is the pool's bookkeeping, which is cooperative, and all
of a pure-Python driver (PyMySQL), whose sockets gevent patches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, Engine

from flask_fanout import run_blocking
from flask_fanout.process_local import PerProcess

from ...config import DEFAULT_POOL_SIZE

_PURE_PYTHON_DRIVERS = {"pymysql", "pg8000"}

APPLICATION_NAME = "flask-fanout"
"""How our PostgreSQL sessions name themselves in ``pg_stat_activity``."""


@dataclass(frozen=True)
class EngineSpec:
    """What an engine is made of; sources with equal specs share one engine."""

    url: URL
    pool_size: int = DEFAULT_POOL_SIZE
    pool_timeout: float = 5.0
    """Longest wait for a free connection, seconds (then the read is a ``timeout``)."""


class EngineCache:
    """One SQLAlchemy engine per :class:`EngineSpec` per process."""

    def __init__(self) -> None:
        self._engines: PerProcess[dict[EngineSpec, Engine]] = PerProcess(dict)

    def engine(self, spec: EngineSpec) -> Engine:
        engines = self._engines.get()
        engine = engines.get(spec)
        if engine is None:
            engine = engines.setdefault(spec, create_engine(spec))
        return engine

    def dispose(self) -> None:
        engines = self._engines.peek() or {}
        for engine in engines.values():
            engine.dispose()


def create_engine(spec: EngineSpec) -> Engine:
    """The engine of ``spec``: SQLite files read-only, other servers connected off the hub."""
    url = spec.url
    backend = url.get_backend_name()
    options: dict[str, Any] = {}
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            return sqlalchemy.create_engine(url)  # one connection per thread, nothing to size
        # Read-only: a missing file is an error instead of a new empty database.
        url = url.set(database=f"file:{url.database}", query={"mode": "ro", "uri": "true"})
    elif backend == "postgresql" and url.get_driver_name() == "psycopg":
        options["connect_args"] = _psycopg_arguments(url, spec.pool_timeout)
    engine = sqlalchemy.create_engine(
        url,
        pool_size=spec.pool_size,
        max_overflow=0,
        pool_timeout=spec.pool_timeout,
        **options,
    )
    if backend != "sqlite" and blocks_in_c(engine.dialect):  # SQLite: a local file opens at once
        event.listen(engine, "do_connect", _connect_off_hub)
    return engine


def blocks_in_c(dialect: Dialect) -> bool:
    """Whether the driver waits for its server in C (so, under gevent, on a real thread).

    A pure-Python driver talks through Python's sockets, which gevent makes
    cooperative; it must stay on the greenlet, since a gevent socket belongs to
    the thread that made it and cannot be used from another.
    """
    return dialect.driver not in _PURE_PYTHON_DRIVERS


def _psycopg_arguments(url: URL, wait: float) -> dict[str, Any]:
    """libpq's connect timeout (whole seconds, at least 2) and a name, unless the URL has them."""
    arguments: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        arguments["connect_timeout"] = max(2, math.ceil(wait))
    if "application_name" not in url.query:
        arguments["application_name"] = APPLICATION_NAME
    return arguments


def _connect_off_hub(
    dialect: Dialect, record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """Open the DBAPI connection on a real thread under gevent (directly elsewhere)."""
    return run_blocking(dialect.connect, *cargs, **cparams)
