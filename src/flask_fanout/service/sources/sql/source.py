"""The ``sql`` source: one configured query through SQLAlchemy, rows as JSON objects.

The query is the operator's; a request only brings values for its bind
parameters (``WHERE user_id = :user_id``), which go to the driver as parameters
through :func:`sqlalchemy.text`, never into the SQL text. With a driver written
in C the statement runs on a real thread (``run_blocking``), so it cannot stall a
gevent worker; the pool's checkout, and a pure-Python driver, stay on the greenlet.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from flask_fanout import CallError, run_blocking

from ..base import NO_PARAMS, Params, json_ready
from .engine import EngineCache, EngineSpec, blocks_in_c
from .guard import limit_query, sql_error, unlimit_query

_USED = "flask_fanout.used"  # in a connection's info: it served a read before


class _Stale(Exception):
    """A pooled connection turned out dead (the server restarted): try a fresh one."""

    def __init__(self, error: sa_exc.DBAPIError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class SqlSource:
    """Rows of one configured query, as a list of JSON objects."""

    name: str
    spec: EngineSpec
    query: str
    engines: EngineCache
    max_rows: int
    timeout: float | None = None
    parameters: frozenset[str] = field(init=False)
    """The query's bind parameter names: a read needs a value for each."""

    def __post_init__(self) -> None:
        self._statement: TextClause = text(self.query)
        self.parameters = frozenset(self._statement.compile().params)

    @property
    def url(self) -> URL:
        return self.spec.url

    def read(self, timeout: float, params: Params = NO_PARAMS) -> list[dict[str, Any]]:
        missing = sorted(self.parameters - set(params))
        if missing:
            listed = ", ".join(f":{name}" for name in missing)
            raise CallError("query_failed", f"no value for the query's parameters {listed}")
        binds = {name: params[name] for name in self.parameters}
        until = time.monotonic() + timeout
        try:
            names, rows = self._read(self.engines.engine(self.spec), binds, until)
        except sa_exc.TimeoutError:
            raise CallError("timeout", "no database connection free in time") from None
        except sa_exc.DBAPIError as exc:
            raise sql_error(exc.orig, self.url.password) from None
        except OverflowError as exc:  # SQLite: an integer beyond 64 bits
            raise CallError("query_failed", f"a parameter is out of range: {exc}") from None
        if len(rows) > self.max_rows:
            raise CallError("too_large", f"the query returned more than {self.max_rows} rows")
        return [dict(zip(names, map(json_ready, row), strict=True)) for row in rows]

    def _read(
        self, engine: Engine, binds: dict[str, Any], until: float
    ) -> tuple[list[str], list[Any]]:
        """Check out a connection and fetch; once more on a fresh one if a pooled one was dead."""
        for retry in (True, False):
            try:
                return self._read_once(engine, binds, until)
            except _Stale as stale:
                if not retry or time.monotonic() >= until:
                    raise stale.error from None
        raise AssertionError("unreachable")

    def _read_once(
        self, engine: Engine, binds: dict[str, Any], until: float
    ) -> tuple[list[str], list[Any]]:
        with engine.connect() as connection:  # the pool's wait: cooperative under gevent
            reused = bool(connection.info.get(_USED))
            connection.info[_USED] = True
            try:
                if blocks_in_c(engine.dialect):
                    return run_blocking(self._fetch, connection, binds, until)
                return self._fetch(connection, binds, until)
            except sa_exc.DBAPIError as exc:
                # SQLAlchemy invalidated the pool on a disconnect: every connection
                # opened before it is replaced on its next checkout.
                if reused and exc.connection_invalidated:
                    raise _Stale(exc) from None
                raise

    def _fetch(
        self, connection: Connection, binds: dict[str, Any], until: float
    ) -> tuple[list[str], list[Any]]:
        """Run the query to ``until`` and end its transaction (a C driver's: on a real thread)."""
        backend = connection.dialect.name
        try:
            limit_query(connection, backend, until)
            result = connection.execute(self._statement, binds)
            if not result.returns_rows:
                return [], []
            return list(result.keys()), list(result.fetchmany(self.max_rows + 1))
        finally:
            with contextlib.suppress(sa_exc.DBAPIError):  # gone: the pool replaces it
                unlimit_query(connection, backend)
                if not connection.invalidated:
                    connection.rollback()  # here, so the pool's reset has nothing to send
