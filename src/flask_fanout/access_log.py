"""The access log: one record per request on ``flask_fanout.access``, with its fields.

The extension only emits; ``fanout serve`` (or the application) decides where
lines go, e.g. as JSON through :func:`flask_fanout.server.logs.configure_logging`.
Every logger of the project is under ``flask_fanout``: ``flask_fanout`` (a
``gather`` call that failed unexpectedly, with its traceback),
``flask_fanout.service`` (an unhandled view error, with its traceback) and
``flask_fanout.access`` (one line per request, at INFO).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

ACCESS_LOGGER = "flask_fanout.access"
access_log = logging.getLogger(ACCESS_LOGGER)

MAX_PATH_CHARS = 256
"""Longer request paths (``/is_prime/...`` URLs run to 8 KB) are cut in the log."""

AccessWriter = Callable[[dict[str, Any]], bool]
"""Writes an access line's fields itself, if it is where the record would go alone."""

_writer: AccessWriter | None = None


def set_access_writer(writer: AccessWriter | None) -> None:
    """Let ``writer`` write access lines without a ``LogRecord`` when it says it can.

    For the handler a server installs for these loggers
    (:func:`flask_fanout.server.logs.configure_logging`): a record, its handling
    and its locks cost ~25 us of every request in a serving worker, the line
    itself ~15. ``writer`` returns False whenever the record would reach any
    other handler or filter, and the record is made as usual.
    """
    global _writer
    _writer = writer


def log_request(
    method: str,
    route: str,
    path: str,
    status: int,
    seconds: float,
    calls: Sequence[tuple[str, str, float]] | None,
) -> None:
    """Write the access line of one request (the caller checked the level)."""
    if len(path) > MAX_PATH_CHARS:
        path = path[:MAX_PATH_CHARS] + "..."
    duration_ms = round(seconds * 1000, 2)
    fields: dict[str, Any] = {
        "event": "request",
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    if calls:
        fields["sources"] = {name: outcome for name, outcome, _ in calls}
    if _writer is not None and _writer(fields):
        return
    # makeRecord + handle is what ``info`` does, minus walking the stack for the
    # caller's file and line, which an access line does not need: ~5 us a request.
    record = access_log.makeRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.2f ms",
        (method, path, status, duration_ms),
        None,
        extra={"fanout": fields},
    )
    access_log.handle(record)
