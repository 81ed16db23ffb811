"""The request path of the metrics: time each request, note each ``gather`` call.

A request only appends one tuple to a deque (atomic under the GIL, so safe from
threads, greenlets and loky's callback thread alike); the flusher
(:mod:`.flusher`) turns the tuples into Prometheus samples once a second.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from ..access_log import access_log, log_request
from ..outcome import Outcome
from .sample import Sample

UNMATCHED_ROUTE = "unmatched"
"""``route`` label of requests that matched no URL rule (404, 405)."""

Calls = tuple[tuple[str, str, float], ...]
"""``gather`` calls of a request: (name, outcome code, seconds) each."""
Event = tuple[str | None, str, int, float, Calls | None]
"""(route, method, status, seconds, calls) per request; route None for calls
made outside a request."""

events: deque[Event] = deque()
chunks: deque[float] = deque()

# The request being served in this context: [start time, gather calls, token].
# A context variable, not flask.g: each LocalProxy access costs about 1 us, and
# one mutable list is shared even with contexts copied for threads.
_current: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "fanout_request", default=None
)


class Recorder:
    """What one app records; ``Fanout`` keeps it and calls it, the flusher samples it."""

    def __init__(
        self,
        *,
        metrics: bool,
        access_log: bool,
        sample: Callable[[], Sample],
        wake: Callable[[], None],
    ) -> None:
        self.metrics = metrics
        self.access_log = access_log
        self.sample = sample
        self.seen: dict[str, int] = {}
        """The totals of the last flush, to add only their growth."""
        self._wake = wake

    def calls(self, outcomes: Mapping[str, Outcome[Any]]) -> None:
        """Note each ``gather`` call's outcome for the request's metrics and access line."""
        if not (self.metrics or self.access_log):
            return
        made = tuple((name, o.code, o.elapsed) for name, o in outcomes.items())
        timing = _current.get()
        if timing is not None:  # in a request: recorded with it
            timing[1] = made if timing[1] is None else timing[1] + made
        elif self.metrics:
            events.append((None, "", 0, 0.0, made))
            self._wake()

    def chunk(self, seconds: float) -> None:
        """Note a CPU chunk's time from submission to result."""
        chunks.append(seconds)

    def install(self, app: Flask) -> None:
        """Time every request of ``app``, record it and write its access line."""
        if not (self.metrics or self.access_log):
            return
        record, write_log, wake = self.metrics, self.access_log, self._wake

        def finish(response: Response) -> Response:
            timing = _current.get()
            if timing is None:
                return response
            seconds = time.perf_counter() - timing[0]
            made = timing[1]
            try:
                _current.reset(timing[2])
            except ValueError:  # not the context that started it
                _current.set(None)
            current = request._get_current_object()  # type: ignore[attr-defined]
            rule = current.url_rule
            route = rule.rule if rule is not None else UNMATCHED_ROUTE
            method = current.method
            status = response.status_code
            if record:
                events.append((route, method, status, seconds, made))
                wake()
            if write_log and access_log.isEnabledFor(logging.INFO):
                log_request(method, route, current.path, status, seconds, made)
            return response

        app.before_request(_start)
        app.after_request(finish)


def _start() -> ResponseReturnValue | None:
    timing: list[Any] = [time.perf_counter(), None, None]
    timing[2] = _current.set(timing)
    return None
