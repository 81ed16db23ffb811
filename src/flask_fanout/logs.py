"""Structured logs: one JSON object per line, and the access log.

Every logger of the project is under ``flask_fanout``: ``flask_fanout`` (a
``gather`` call that failed unexpectedly, with its traceback),
``flask_fanout.service`` (an unhandled view error, with its traceback) and
``flask_fanout.access`` (one line per request, at INFO). The extension only
emits; ``fanout serve`` (or the application) decides where lines go, through
:func:`configure_logging`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

ACCESS_LOGGER = "flask_fanout.access"
access_log = logging.getLogger(ACCESS_LOGGER)

MAX_PATH_CHARS = 256
"""Longer request paths (``/is_prime/...`` URLs run to 8 KB) are cut in the log."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, then the fields.

    An access record carries its fields in ``record.fanout``; any other record
    gets ``message``, and ``exc_info`` with the whole traceback as one string, so
    a traceback stays one line in the log.
    """

    _encode = json.JSONEncoder(default=str).encode  # json.dumps(default=...) builds one a call
    _second: tuple[int, str] = (0, "")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fanout", None)
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return self._encode(entry)

    def _timestamp(self, created: float) -> str:
        """``2026-11-05T10:00:00.123Z`` (UTC); the part up to the second is cached."""
        second, prefix = self._second
        if int(created) != second:
            second = int(created)
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)  # one attribute: threads never see half of it
        return f"{prefix}.{int((created - second) * 1000):03d}Z"


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the ``flask_fanout`` loggers to ``stream`` (stderr) as JSON lines.

    Idempotent. The loggers stop propagating to the root logger, so an
    application's own root configuration does not print each line twice. Meant
    for a server process (``fanout serve`` calls it): it also stops every record
    of the process from carrying its thread's name (``threadName``).
    """
    logger = logging.getLogger("flask_fanout")
    if any(getattr(handler, "_fanout_json", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._fanout_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # No record of this process needs its thread's name: under gevent asking for
    # it makes a dummy thread per request greenlet, ~8 us of every access line.
    logging.logThreads = False
    logging.logMultiprocessing = False


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
