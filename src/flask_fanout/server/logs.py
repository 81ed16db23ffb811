"""JSON logs for ``fanout serve``: one object per line on stderr.

A record of the access log (:mod:`flask_fanout.access_log`) carries its fields
in ``record.fanout``; every other record becomes ``message``, with its whole
traceback as one string, so that a traceback stays one line in the log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO


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
