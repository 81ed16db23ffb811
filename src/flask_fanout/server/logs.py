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

import orjson

from ..access_log import ACCESS_LOGGER, access_log, set_access_writer


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, then the fields.

    An access record carries its fields in ``record.fanout``; any other record
    gets ``message``, and ``exc_info`` with the whole traceback as one string, so
    a traceback stays one line in the log.
    """

    _second: tuple[int, str] = (0, "")

    def format(self, record: logging.LogRecord) -> str:
        entry = self.head(record.created, record.levelname.lower(), record.name)
        fields = getattr(record, "fanout", None)
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return _encode(entry)

    def head(self, created: float, level: str, logger: str) -> dict[str, Any]:
        """The keys every line starts with."""
        return {"ts": self._timestamp(created), "level": level, "logger": logger}

    def _timestamp(self, created: float) -> str:
        """``2026-11-05T10:00:00.123Z`` (UTC); the part up to the second is cached."""
        second, prefix = self._second
        if int(created) != second:
            second = int(created)
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)  # one attribute: threads never see half of it
        return f"{prefix}.{int((created - second) * 1000):03d}Z"


_encode_stdlib = json.JSONEncoder(default=str).encode  # json.dumps(default=...) builds one a call


def _encode(entry: dict[str, Any]) -> str:
    """One JSON line: orjson, else the standard library for what orjson refuses.

    The access line is written for every request: in a serving worker the standard
    library's encoder took ~12 us of the line's ~70 (cProfile around
    ``log_request`` in a worker at 1,000 requests/s); orjson encodes it ~10x
    faster. It refuses integers past 64 bits and keys that are not strings,
    which the standard library writes.
    """
    try:
        return orjson.dumps(entry, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _encode_stdlib(entry)


class JsonLines(logging.StreamHandler[TextIO]):
    """JSON lines on a stream, and the access log's lane that skips the record."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.formatter: JsonFormatter = JsonFormatter()

    def write_access(self, fields: dict[str, Any]) -> bool:
        """Write an access line as its record would be written, if only this handler
        would see that record; else False."""
        if not self._alone_for(access_log):
            return False
        entry = self.formatter.head(time.time(), "info", ACCESS_LOGGER)
        entry.update(fields)
        line = _encode(entry) + self.terminator
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(line)
            self.stream.flush()  # what ``self.flush()`` does, without taking the lock again
        return True

    def _alone_for(self, logger: logging.Logger) -> bool:
        """Whether an INFO record of ``logger`` reaches this handler, unfiltered, and no other."""
        if self.filters or self.level > logging.INFO or logger.disabled:
            return False
        found = False
        current: logging.Logger | None = logger
        while current is not None:
            if current.filters:
                return False
            for handler in current.handlers:
                if handler is not self:
                    return False
                found = True
            if not current.propagate:
                break
            current = current.parent
        return found


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the ``flask_fanout`` loggers to ``stream`` (stderr) as JSON lines.

    Idempotent. The loggers stop propagating to the root logger, so an
    application's own root configuration does not print each line twice. Meant
    for a server process (``fanout serve`` calls it): it also stops every record
    of the process from carrying its thread's name (``threadName``).
    """
    logger = logging.getLogger("flask_fanout")
    if any(isinstance(handler, JsonLines) for handler in logger.handlers):
        return
    handler = JsonLines(stream or sys.stderr)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    set_access_writer(handler.write_access)
    # No record of this process needs its thread's name: under gevent asking for
    # it makes a dummy thread per request greenlet, ~8 us of every access line.
    logging.logThreads = False
    logging.logMultiprocessing = False
