"""Admission control: a bounded number of requests in flight per worker.

Past the bound a request is answered 503 with ``Retry-After`` at once. Queueing
without bound only turns overload into timeouts for everyone; an early, cheap
"try again" keeps the requests that are admitted fast.

Rejection happens in a WSGI middleware, before Flask builds a request context:
under overload most requests are rejected, so a rejection must cost as little
CPU as possible, or rejecting starves the admitted requests.

A client that ignores ``Retry-After`` and retries at once on its kept-alive
connection would keep a worker busy doing nothing but 503s (1,300 such clients
cost more CPU than the admitted requests get). So under gevent each connection
remembers when its Retry-After ends: a request that arrives before then is still
read at once, and admitted if a slot is free, but if it is turned away again its
503 is sent only when the Retry-After it ignored is over. Only the early retries
of a rejected client wait; a request that gets a slot never does, so overload
never shows up as a slow 200.

A client that opens a new connection per request escapes that memory, and
retrying at once it churns through the listen queue, where every new
connection, the ones that will be admitted too, waits its turn behind the
rejected ones. So the first 503 of a connection is held too (``first_pause``,
the extension holds it for the whole Retry-After): a rejected client then waits
on a cheap sleeping greenlet instead of in the queue. At most ``max_held`` 503s
are held at once; past that they go out at once, so holding stays bounded.
"""

from __future__ import annotations

import json
import random
import time
import weakref
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import ClosingIterator

from .gate import Admission

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ROUTE_KEY = "flask_fanout.route"
"""The WSGI environ key where the app leaves the request's URL rule, for the controller."""


class AdmissionMiddleware:
    """Wrap a WSGI app: admit up to ``admission.limit`` requests, answer 503 beyond.

    ``exempt_paths`` (health checks, metrics) always go through. A slot is held
    until the response body has been sent. ``pause`` (seconds, 0 for none) bounds
    how long an early retry's 503 is held and must not exceed ``retry_after``;
    ``first_pause`` (at most ``pause``) how long a connection's first 503 is.
    """

    def __init__(
        self,
        app: WSGIApplication,
        admission: Admission,
        exempt_paths: Callable[[], Collection[str]],
        pause: Callable[[], float] = lambda: 0.0,
        retry_after: int = 1,
        first_pause: Callable[[], float] = lambda: 0.0,
        max_held: int = 2048,
    ) -> None:
        self.app = app
        self.admission = admission
        self._exempt_paths = exempt_paths
        self._pause = pause
        self._first_pause = first_pause
        self._max_held = max_held
        self.held = 0
        self._retry_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._bodies: dict[int, list[bytes]] = {}
        self._retry_after = str(retry_after)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self._exempt_paths():
            return self.app(environ, start_response)
        admission = self.admission
        started = time.perf_counter()
        if not admission.try_enter():
            connection = environ.get("gunicorn.sock") or environ.get("gunicorn.socket")
            self._hold(connection)
            body = self._body(admission.limit)
            start_response("503 Service Unavailable", self._headers(body))
            return body
        try:
            return ClosingIterator(
                self.app(environ, start_response), partial(self._finished, started, environ)
            )
        except BaseException:
            admission.leave()
            raise

    def _finished(self, started: float, environ: WSGIEnvironment) -> None:
        self.admission.leave(started, environ.get(ROUTE_KEY, ""))

    def _body(self, limit: int) -> list[bytes]:
        """The 503's body for this limit, made once per limit (it changes rarely)."""
        body = self._bodies.get(limit)
        if body is None:
            if len(self._bodies) > 64:
                self._bodies.clear()
            text = json.dumps(
                {
                    "error": "overloaded",
                    "message": "The server is at its limit of requests in flight; retry shortly.",
                    "limit": limit,
                }
            )
            body = self._bodies[limit] = [text.encode()]
        return body

    def _headers(self, body: list[bytes]) -> list[tuple[str, str]]:
        return [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body[0]))),
            ("Retry-After", self._retry_after),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]

    def _hold(self, connection: Any) -> None:
        """Hold a 503: a connection's first briefly, an early retry to its Retry-After."""
        pause = self._pause()
        if pause <= 0 or connection is None:
            return
        now = time.monotonic()
        retry_at = self._retry_at.get(connection)
        wait = (
            retry_at - now
            if retry_at is not None
            else self._first_pause() * random.uniform(0.5, 1.0)
        )
        if wait > 0 and self.held < self._max_held:
            self.held += 1
            try:
                time.sleep(wait)
            finally:
                self.held -= 1
            now = time.monotonic()
        # Jittered, so that clients turned away together do not return together, and
        # never past ``pause`` (at most the Retry-After sent): a client that waited
        # as told is not held.
        self._retry_at[connection] = now + pause * random.uniform(0.5, 1.0)


def exempt_paths_of(app: Any, endpoints: Collection[str]) -> frozenset[str]:
    """The literal URL paths of ``endpoints`` (rules without variables) in ``app``."""
    return frozenset(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint in endpoints and not rule.arguments
    )
