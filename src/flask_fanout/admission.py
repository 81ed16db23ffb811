"""Admission control: a bounded number of requests in flight per worker.

Past the bound a request is answered 503 with ``Retry-After`` at once. Queueing
without bound only turns overload into timeouts for everyone; an early, cheap
"try again" keeps the requests that are admitted fast.

Rejection happens in a WSGI middleware, before Flask builds a request context:
under overload most requests are rejected, so a rejection must cost as little
CPU as possible, or rejecting starves the admitted requests.

A client that ignores ``Retry-After`` and retries at once on its kept-alive
connection would still keep a gevent worker busy doing nothing but 503s (1,300
such clients cost more CPU than the admitted requests get). So under gevent,
after a 503 has been sent, the connection is not read again for ``pause``
seconds: the 503 itself goes out at once, the parked connection costs no CPU,
and admitted requests keep their latency. The request read after the pause has
already waited, so it is admitted only once fresh requests stopped being
turned away: otherwise the wait would show up as a slow 200.
"""

from __future__ import annotations

import json
import random
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import ClosingIterator

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Admission:
    """A non-blocking counting gate."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._inflight = 0
        self.rejected = 0
        self._lock = threading.Lock()

    @property
    def inflight(self) -> int:
        return self._inflight

    def try_enter(self) -> bool:
        """Take a slot if one is free; never wait."""
        with self._lock:
            if self._inflight >= self.limit:
                self.rejected += 1
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._inflight -= 1


class AdmissionMiddleware:
    """Wrap a WSGI app: admit up to ``admission.limit`` requests, answer 503 beyond.

    ``exempt_paths`` (health checks, metrics) always go through. A slot is held
    until the response body has been sent.
    """

    def __init__(
        self,
        app: WSGIApplication,
        admission: Admission,
        exempt_paths: Callable[[], Collection[str]],
        pause: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.app = app
        self.admission = admission
        self._exempt_paths = exempt_paths
        self._pause = pause
        self._parked: weakref.WeakSet[Any] = weakref.WeakSet()
        self._pressure_until = 0.0
        body = json.dumps(
            {
                "error": "overloaded",
                "message": "The server is at its limit of requests in flight; retry shortly.",
                "limit": admission.limit,
            }
        ).encode()
        self._body = [body]
        self._headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "1"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self._exempt_paths():
            return self.app(environ, start_response)
        connection = environ.get("gunicorn.sock") or environ.get("gunicorn.socket")
        was_parked = connection is not None and connection in self._parked
        if was_parked:
            self._parked.discard(connection)
        # A request read after a pause has waited already: admitting it would be a
        # slow 200. It gets a slot only once no fresh request was turned away for
        # a while, i.e. when the overload is over.
        now = time.monotonic()
        held_back = was_parked and now < self._pressure_until
        if held_back or not self.admission.try_enter():
            start_response("503 Service Unavailable", list(self._headers))
            pause = self._pause()
            if pause <= 0 or connection is None:
                return self._body
            if not was_parked:
                self._pressure_until = now + 2 * pause
            self._parked.add(connection)
            # Jittered, so that clients turned away together do not return together.
            return ClosingIterator(
                self._body, partial(time.sleep, pause * random.uniform(0.5, 1.5))
            )
        try:
            return ClosingIterator(self.app(environ, start_response), self.admission.leave)
        except BaseException:
            self.admission.leave()
            raise


def exempt_paths_of(app: Any, endpoints: Collection[str]) -> frozenset[str]:
    """The literal URL paths of ``endpoints`` (rules without variables) in ``app``."""
    return frozenset(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint in endpoints and not rule.arguments
    )
