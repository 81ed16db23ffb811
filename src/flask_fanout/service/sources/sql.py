"""The ``sql`` source: one configured query through SQLAlchemy, rows as JSON objects."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url

from flask_fanout import CallError, run_blocking
from flask_fanout.process_local import PerProcess

from .base import NO_PARAMS, Params, json_ready

# SQLite checks its progress handler every this many virtual-machine steps.
_SQLITE_PROGRESS_STEPS = 1000


class EngineCache:
    """One SQLAlchemy engine per URL per process, its pool sized to the I/O pool."""

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._engines: PerProcess[dict[str, Engine]] = PerProcess(dict)

    def engine(self, url: str) -> Engine:
        engines = self._engines.get()
        engine = engines.get(url)
        if engine is None:
            engine = engines.setdefault(url, self._create(url))
        return engine

    def _create(self, url: str) -> Engine:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # Read-only: a missing file is an error instead of a new empty database.
            parsed = parsed.set(
                database=f"file:{parsed.database}", query={"mode": "ro", "uri": "true"}
            )
        return sqlalchemy.create_engine(parsed, pool_size=self._pool_size, max_overflow=0)

    def dispose(self) -> None:
        engines = self._engines.peek() or {}
        for engine in engines.values():
            engine.dispose()


@dataclass
class SqlSource:
    """Rows of one configured query, as a list of JSON objects."""

    name: str
    url: str
    query: str
    engines: EngineCache
    max_rows: int
    timeout: float | None = None
    parameters: frozenset[str] = frozenset()

    def read(self, timeout: float, params: Params = NO_PARAMS) -> list[dict[str, Any]]:
        engine = self.engines.engine(self.url)
        until = time.monotonic() + timeout
        try:
            with engine.connect() as connection:
                driver = connection.connection.dbapi_connection
                names, rows = run_blocking(self._fetch, driver, until)
        except sa_exc.TimeoutError:
            raise CallError("timeout", "no database connection free in time") from None
        except sa_exc.DBAPIError as exc:
            raise _sql_error(exc.orig) from None
        except engine.dialect.loaded_dbapi.Error as exc:
            raise _sql_error(exc) from None
        if len(rows) > self.max_rows:
            raise CallError("too_large", f"the query returned more than {self.max_rows} rows")
        return [dict(zip(names, map(json_ready, row), strict=True)) for row in rows]

    def _fetch(self, driver: Any, until: float) -> tuple[list[str], list[Any]]:
        """Run the query on the driver's connection; may block, so not on a greenlet."""
        if hasattr(driver, "set_progress_handler"):  # SQLite: make it give up at ``until``
            driver.set_progress_handler(
                lambda: int(time.monotonic() > until), _SQLITE_PROGRESS_STEPS
            )
            busy_ms = max(1, int((until - time.monotonic()) * 1000))
            driver.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor = driver.cursor()
        try:
            cursor.execute(self.query)
            names = [column[0] for column in cursor.description or ()]
            return names, list(cursor.fetchmany(self.max_rows + 1))
        finally:
            cursor.close()
            if hasattr(driver, "set_progress_handler"):
                driver.set_progress_handler(None, 0)


def _sql_error(exc: BaseException | None) -> CallError:
    """Name a driver error by PEP 249 class and message: locked, missing, bad query..."""
    detail = (str(exc).strip() or type(exc).__name__)[:300]
    lowered = detail.lower()
    kind = type(exc).__name__
    if "interrupted" in lowered:
        return CallError("timeout", f"the query ran past its timeout: {detail}")
    if "locked" in lowered or "busy" in lowered:
        return CallError("unavailable", f"the database is locked: {detail}")
    if "unable to open" in lowered or kind == "InterfaceError":
        return CallError("unavailable", f"cannot open the database: {detail}")
    if kind == "OperationalError" and "syntax" not in lowered and "no such" not in lowered:
        return CallError("unavailable", f"database error: {detail}")
    return CallError("query_failed", f"the query failed: {detail}")
