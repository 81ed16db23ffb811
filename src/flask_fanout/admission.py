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
already waited, so it is never admitted (the wait would show up as a slow
200): it gets a 503 and ``Connection: close``, and the client's next request,
on a new connection, is judged on arrival.
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

    def count_rejection(self) -> None:
        with self._lock:
            self.rejected += 1

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
        if connection is not None and connection in self._parked:
            # This request waited out the pause: admitting it would make a slow
            # 200. It gets its 503 and the connection closes, so the client's next
            # request comes on a new connection and is judged on arrival.
            self._parked.discard(connection)
            self.admission.count_rejection()
            start_response("503 Service Unavailable", [*self._headers, ("Connection", "close")])
            return self._body
        if not self.admission.try_enter():
            start_response("503 Service Unavailable", list(self._headers))
            pause = self._pause()
            if pause <= 0 or connection is None:
                return self._body
            self._parked.add(connection)
            # Jittered, so that clients turned away together do not return together.
            jittered = pause * random.uniform(0.5, 1.5)
            return ClosingIterator(self._body, partial(time.sleep, jittered))
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
