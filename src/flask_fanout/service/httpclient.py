"""A keep-alive HTTP client for the ``http`` sources: ``http.client`` plus a small pool.

Why not urllib3's PoolManager, the field's standard? On 2 cores at hundreds of
requests per second the client's CPU per call decides the race, and the
standard library's ``http.client`` on a reused connection costs about half of
what urllib3 spends around the same ``http.client`` calls (URL parsing, timeout
objects, the dropped-connection poll, response wrapping): measured with
``python bench/http_client.py`` (see bench/README.md). The protocol work (status
line, headers, Content-Length, chunked bodies, ``Connection: close``) stays in
``http.client``; this module only keeps idle connections per host and maps
failures to source errors.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from flask_fanout import CallError
from flask_fanout.process_local import PerProcess

_ACCEPT = {"Accept": "application/json, text/*;q=0.8"}

# A reused keep-alive connection the server has closed in the meantime fails on
# first use with one of these; a GET is idempotent, so it is retried once on a
# fresh connection.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class _StaleConnection(Exception):
    """The server had closed the connection before or while we sent on it."""


Target = tuple[str, str, int, str]
"""(scheme, host, port, path with query) of a URL, parsed once."""


def _target(url: str) -> Target:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname or "", port, path


class HttpClient:
    """GETs over keep-alive connections, at most ``pool_size`` idle ones per host.

    The pool belongs to one process (connections must not cross gunicorn's fork);
    a connection is used by one call at a time, then handed back, unless the
    server asked to close it or the call failed.
    """

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._idle: PerProcess[dict[tuple[str, str, int], list[http.client.HTTPConnection]]]
        self._idle = PerProcess(dict, close=_close_all)
        self._targets: dict[str, Target] = {}

    def get(self, url: str, timeout: float, max_bytes: int) -> tuple[int, str, bytes]:
        """GET ``url``; return (status, content type, body) or raise :class:`CallError`."""
        target = self._targets.get(url)
        if target is None:
            target = self._targets.setdefault(url, _target(url))
        scheme, host, port, path = target
        idle = self._idle.get().setdefault((scheme, host, port), [])
        if idle:
            try:
                return self._exchange(idle.pop(), idle, path, timeout, max_bytes, url)
            except _StaleConnection:
                # The server restarted or dropped idle connections: the other idle
                # ones are likely dead too. Drop them all; retry on a fresh one.
                while idle:
                    idle.pop().close()
        try:
            return self._exchange(self._connect(target), idle, path, timeout, max_bytes, url)
        except _StaleConnection as exc:
            raise CallError("bad_response", f"{url} closed the connection: {exc}") from None

    def _connect(self, target: Target) -> http.client.HTTPConnection:
        scheme, host, port, _ = target
        factory: Callable[..., http.client.HTTPConnection] = (
            http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        )
        return factory(host, port)

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        idle: list[http.client.HTTPConnection],
        path: str,
        timeout: float,
        max_bytes: int,
        url: str,
    ) -> tuple[int, str, bytes]:
        """One GET; the connection goes back to ``idle`` after a whole answer, else closes."""
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            return self._read_answer(connection, idle, path, max_bytes, url)
        except _STALE as exc:
            connection.close()
            raise _StaleConnection(str(exc) or type(exc).__name__) from None
        except BaseException:
            connection.close()
            raise

    def _read_answer(
        self,
        connection: http.client.HTTPConnection,
        idle: list[http.client.HTTPConnection],
        path: str,
        max_bytes: int,
        url: str,
    ) -> tuple[int, str, bytes]:
        try:
            connection.request("GET", path, headers=_ACCEPT)
            response = connection.getresponse()
            if response.length is not None and response.length > max_bytes:
                raise CallError("too_large", f"{url} answered more than {max_bytes} bytes")
            # With a Content-Length, read() raises IncompleteRead on a short body;
            # a chunked or read-until-close body is capped instead.
            body = response.read() if response.length is not None else response.read(max_bytes + 1)
        except _STALE:
            raise
        except TimeoutError:
            raise CallError("timeout", f"no answer from {url} in time") from None
        except (ConnectionRefusedError, socket.gaierror) as exc:
            raise CallError("unavailable", f"cannot connect to {url}: {exc}") from None
        except http.client.IncompleteRead:
            raise CallError("bad_response", f"{url} broke off its answer") from None
        except (http.client.HTTPException, OSError) as exc:
            raise CallError("unavailable", f"request to {url} failed: {exc}") from None
        if len(body) > max_bytes:
            raise CallError("too_large", f"{url} answered more than {max_bytes} bytes")
        if response.will_close or not response.isclosed() or len(idle) >= self._pool_size:
            connection.close()
        else:
            idle.append(connection)
        return response.status, response.getheader("Content-Type", ""), body

    def close(self) -> None:
        self._idle.reset()


def _close_all(pools: dict[tuple[str, str, int], list[http.client.HTTPConnection]]) -> None:
    for connections in pools.values():
        for connection in connections:
            connection.close()
