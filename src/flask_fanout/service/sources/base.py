"""What every source is: a name, a timeout and a ``read``.

Each source's ``read(timeout, params)`` either returns a JSON-ready value or raises
:class:`~flask_fanout.CallError` with a code the client can branch on. The
timeout is also applied at the I/O level (socket timeouts, SQLite's progress
handler), so a thread left behind by a timed-out request is freed soon after.
Sources are built from the operator's configuration only: no request chooses a
path, a URL or a query. A request only brings ``params``, values of the route's
typed parameters, which a source uses as URL-encoded path or query values or as
SQL bind parameters; ``parameters`` names the ones a source needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

Params = Mapping[str, str | int | float]
"""A route's parameter values, already typed by Flask's converters."""

NO_PARAMS: Params = {}


class Source(Protocol):
    name: str
    timeout: float | None
    parameters: frozenset[str]

    def read(self, timeout: float, params: Params = NO_PARAMS) -> Any: ...


def json_ready(value: Any) -> Any:
    """Column values JSON can carry; everything else becomes a string."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)
