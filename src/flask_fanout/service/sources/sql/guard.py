"""How each database gives up on a query at its deadline, and names its errors.

The answer to the client never waits past a source's timeout (``gather`` leaves
the call behind), but the query would go on holding a thread, a connection and
the server's time. So the deadline is also handed to the database: SQLite's
progress handler interrupts it, PostgreSQL's ``statement_timeout`` (set for this
transaction only) cancels it on the server, MariaDB's ``max_statement_time`` and
MySQL's ``max_execution_time`` (SELECT only) stop it there. Each also makes the
query's transaction read-only: a source only reads.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from flask_fanout import CallError

# SQLite checks its progress handler every this many virtual-machine steps.
_SQLITE_PROGRESS_STEPS = 1000

# One round trip: the timeout, and a read-only transaction (a source only reads).
_POSTGRES_LIMITS = text(
    "SELECT set_config('statement_timeout', :ms, true),"
    " set_config('transaction_read_only', 'on', true)"
)


def _remaining_ms(until: float) -> int:
    return max(1, int((until - time.monotonic()) * 1000))


def limit_query(connection: Connection, backend: str, until: float) -> None:
    """Make the next statement on ``connection`` stop at ``until`` (monotonic seconds)."""
    if backend == "sqlite":
        driver: Any = connection.connection.dbapi_connection
        driver.set_progress_handler(lambda: int(time.monotonic() > until), _SQLITE_PROGRESS_STEPS)
        driver.execute(f"PRAGMA busy_timeout = {_remaining_ms(until)}")
    elif backend == "postgresql":
        connection.execute(_POSTGRES_LIMITS, {"ms": str(_remaining_ms(until))})
    elif backend in ("mysql", "mariadb"):
        # Session settings (this connection only serves sources): one round trip.
        ms = _remaining_ms(until)
        if getattr(connection.dialect, "is_mariadb", False):
            limits = f"max_statement_time = {ms / 1000:.3f}, SESSION tx_read_only = 1"
        else:  # MySQL: SELECT statements only
            limits = f"max_execution_time = {ms}, SESSION transaction_read_only = 1"
        connection.exec_driver_sql(f"SET SESSION {limits}")


def unlimit_query(connection: Connection, backend: str) -> None:
    """Undo what :func:`limit_query` left on the connection beyond its transaction."""
    if backend == "sqlite":
        driver: Any = connection.connection.dbapi_connection
        driver.set_progress_handler(None, 0)


def sql_error(exc: BaseException | None, secret: str | None = None) -> CallError:
    """Name a driver error by SQLSTATE, PEP 249 class and message; never show ``secret``."""
    detail = hide(str(exc).strip() or type(exc).__name__, secret)[:300]
    lowered = detail.lower()
    kind = type(exc).__name__
    sqlstate = str(getattr(exc, "sqlstate", None) or "")
    number = exc.args[0] if exc is not None and exc.args else None
    if isinstance(number, int) and not isinstance(number, bool):  # MySQL/MariaDB
        return _mysql_error(number, detail)
    if sqlstate == "57014" or any(
        word in lowered for word in ("interrupted", "statement timeout", "max_statement_time")
    ):
        return CallError("timeout", f"the query ran past its timeout: {detail}")
    if sqlstate.startswith(("08", "57P")):  # connection exceptions, the server shutting down
        return CallError("unavailable", f"the database server is unavailable: {detail}")
    if "locked" in lowered or "busy" in lowered:
        return CallError("unavailable", f"the database is locked: {detail}")
    if "unable to open" in lowered or kind == "InterfaceError":
        return CallError("unavailable", f"cannot open the database: {detail}")
    if kind == "OperationalError" and "syntax" not in lowered and "no such" not in lowered:
        return CallError("unavailable", f"database error: {detail}")
    return CallError("query_failed", f"the query failed: {detail}")


# Server errors that are about reaching the server, not about the query.
_MYSQL_UNAVAILABLE = {1040, 1045, 1049, 1053, 1129, 1130, 1203, 1226}
_MYSQL_TIMEOUT = {1317, 1969, 3024}  # interrupted; max_statement_time; max_execution_time


def _mysql_error(number: int, detail: str) -> CallError:
    """MySQL's error numbers: 2000 and up are the client's (connecting, connection lost)."""
    if number in _MYSQL_TIMEOUT:
        return CallError("timeout", f"the query ran past its timeout: {detail}")
    if number >= 2000 or number in _MYSQL_UNAVAILABLE:
        return CallError("unavailable", f"the database server is unavailable: {detail}")
    return CallError("query_failed", f"the query failed: {detail}")


def hide(message: str, secret: str | None) -> str:
    """``message`` without ``secret`` (as written or URL-encoded)."""
    if not secret:
        return message
    for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
        message = message.replace(form, "***")
    return message
