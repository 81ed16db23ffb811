"""A keep-alive HTTP client for the ``http`` sources: sockets, httptools and small pools.

Why not urllib3, the field's standard, or the standard library's ``http.client``?
On 2 cores at hundreds of requests per second the client's CPU per call decides
the race, and a GET over a reused connection costs about half as much here as
with ``http.client`` and a quarter of urllib3's PoolManager (``python
bench/http_client.py``; see bench/results/http_client.md). And why not
geventhttpclient, the llhttp-based pooled client Locust uses under gevent? It was
measured to be switched to if within 10% of this client's CPU per call, and is
not: 124 µs per call for one ``HTTPClient`` per host and 134 µs through
``HTTPClientPool``, against 63 µs here (1.97x and 2.12x, medians of three runs of
``python bench/http_client.py --calls 3000 --rounds 5``, 2026-12-03), about what
``http.client`` costs. A request is
serialized once (``wire.py``) and its answer parsed by llhttp through
httptools (``connection.py``); this module keeps idle connections per source
and host, caps a source's connections (``max_connections``), opens TLS and maps
failures to source errors. Messages name the URL as configured (``shown``),
never a header: headers may carry secrets.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask_fanout import CallError, run_blocking
from flask_fanout.process_local import PerProcess

from ...config import TlsFileError, TlsSettings, describe_tls_failure
from .connection import Answer, Connection, Key, StaleConnection
from .wire import Request, Target

# A reused keep-alive connection the server has closed in the meantime fails on
# first use with one of these, or ends before the first byte of an answer; it is
# retried once on a fresh connection (a POST too, as browsers do: nothing of the
# answer came, and the server closed an idle connection, not one it was reading).
_STALE = (BrokenPipeError, ConnectionResetError)
_TLS_STALE = (ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _PoolState:
    """One process's connections of a pool: the idle ones by host, how many are
    open (idle or in use), the slots of ``max_connections`` and the TLS context.

    Taking and giving back an idle connection, every call's path, is lock-free
    (``list.pop`` and ``append`` are atomic); counting open connections, only
    when one opens or closes, takes the lock. Under gevent a lock round trip is
    a few µs of the ~70 a call costs.
    """

    def __init__(self, limit: int | None, keep_idle: int) -> None:
        self.lock = threading.Lock()
        self.idle: dict[Key, list[Connection]] = {}
        self.open = 0
        self.limit = limit
        self.keep_idle = keep_idle
        self.slots = threading.BoundedSemaphore(limit) if limit is not None else None
        self.tls: ssl.SSLContext | None = None

    def take_idle(self, key: Key) -> Connection | None:
        idle = self.idle.get(key)
        try:
            return idle.pop() if idle else None
        except IndexError:  # another thread took the last one
            return None

    def reserve(self) -> None:
        """Count a connection about to open. Under a limit, a call holds a slot and
        no connection, so if the limit is reached one is idle (to another host): close it."""
        with self.lock:
            if self.limit is not None and self.open >= self.limit:
                for idle in list(self.idle.values()):
                    try:
                        victim = idle.pop(0)
                    except IndexError:
                        continue
                    victim.close()
                    self.open -= 1
                    break
            self.open += 1

    def discard(self, connection: Connection | None = None) -> None:
        if connection is not None:
            connection.close()
        with self.lock:
            self.open -= 1

    def give_back(self, connection: Connection, reusable: bool) -> None:
        idle = self.idle.get(connection.key)
        if idle is None:
            idle = self.idle.setdefault(connection.key, [])
        if reusable and len(idle) < self.keep_idle:
            idle.append(connection)
        else:
            self.discard(connection)

    def drop_idle(self, key: Key) -> None:
        with self.lock:
            idle = self.idle.pop(key, [])
            self.open -= len(idle)
        for connection in idle:
            connection.close()

    def close(self) -> None:
        for key in list(self.idle):
            self.drop_idle(key)


class ConnectionPool:
    """The connections of one source: kept alive, at most ``keep_idle`` idle per
    host, at most ``max_connections`` open at once (idle ones included), all with
    the source's TLS settings.

    The state belongs to one process (sockets must not cross gunicorn's fork); a
    connection is used by one call at a time, then handed back, unless the server
    asked to close it or the call failed.
    """

    def __init__(
        self,
        keep_idle: int,
        tls: TlsSettings | None = None,
        max_connections: int | None = None,
        contexts: TlsContexts | None = None,
    ) -> None:
        self.max_connections = max_connections
        self._tls = tls or TlsSettings()
        self._contexts = contexts or TlsContexts()
        keep = min(keep_idle, max_connections or keep_idle)
        self._state = PerProcess(lambda: _PoolState(max_connections, keep), close=_PoolState.close)

    @contextmanager
    def slot(self, deadline: float, shown: str) -> Iterator[None]:
        """Hold one of ``max_connections`` slots (waiting for one up to ``deadline``)."""
        slots = self._state.get().slots
        if slots is None:
            yield
            return
        if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise CallError(
                "timeout",
                f"no free connection to {shown} in time (max_connections = {self.max_connections})",
            )
        try:
            yield
        finally:
            slots.release()

    def send(self, request: Request, deadline: float, max_bytes: int, shown: str) -> Answer:
        """Send ``request``, read its answer whole, or raise :class:`CallError`."""
        state = self._state.get()
        connection = state.take_idle(request.target.key)
        if connection is not None:
            try:
                return self._exchange(state, connection, request, deadline, max_bytes, shown)
            except StaleConnection:
                # The server restarted or dropped idle connections: the other idle
                # ones are likely dead too. Drop them all; retry on a fresh one.
                state.drop_idle(request.target.key)
        connection = self._open(state, request.target, deadline, shown)
        try:
            return self._exchange(state, connection, request, deadline, max_bytes, shown, True)
        except StaleConnection as exc:
            raise CallError("bad_response", f"{shown} closed the connection: {exc}") from None

    def _open(self, state: _PoolState, target: Target, deadline: float, shown: str) -> Connection:
        state.reserve()
        try:
            return Connection(self._connect(state, target, deadline, shown), target.key)
        except BaseException:
            state.discard()
            raise

    def _connect(
        self, state: _PoolState, target: Target, deadline: float, shown: str
    ) -> socket.socket:
        try:
            sock = socket.create_connection((target.host, target.port), _remaining(deadline))
        except TimeoutError:
            raise CallError("timeout", f"could not connect to {shown} in time") from None
        except OSError as exc:
            raise CallError("unavailable", f"cannot connect to {shown}: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.scheme != "https":
            return sock
        try:
            if state.tls is None:
                state.tls = self._contexts.get(self._tls)
            return state.tls.wrap_socket(sock, server_hostname=target.host)
        except TimeoutError:
            sock.close()
            raise CallError("timeout", f"no TLS handshake with {shown} in time") from None
        except ssl.SSLError as exc:
            sock.close()
            reason = describe_tls_failure(exc)
            raise CallError("tls_error", f"TLS with {shown} failed: {reason}") from None
        except TlsFileError as exc:
            sock.close()
            raise CallError("tls_error", f"TLS settings for {shown}: {exc}") from None
        except OSError as exc:
            sock.close()
            raise CallError("tls_error", f"TLS handshake with {shown} failed: {exc}") from None
        except BaseException:
            sock.close()
            raise

    def _exchange(
        self,
        state: _PoolState,
        connection: Connection,
        request: Request,
        deadline: float,
        max_bytes: int,
        shown: str,
        fresh: bool = False,
    ) -> Answer:
        """One request; the connection goes back to the idle ones after a whole answer."""
        try:
            status, reusable = connection.exchange(
                request.wire, _remaining(deadline), max_bytes, shown
            )
        except _STALE as exc:
            state.discard(connection)
            raise StaleConnection(str(exc) or type(exc).__name__) from None
        except TimeoutError:
            state.discard(connection)
            raise CallError("timeout", f"no answer from {shown} in time") from None
        except ssl.SSLError as exc:
            state.discard(connection)
            if not fresh and isinstance(exc, _TLS_STALE):
                raise StaleConnection("closed before answering") from None
            reason = describe_tls_failure(exc)
            raise CallError("tls_error", f"TLS with {shown} failed: {reason}") from None
        except OSError as exc:
            state.discard(connection)
            raise CallError("unavailable", f"request to {shown} failed: {exc}") from None
        except BaseException:
            state.discard(connection)
            raise
        body = b"".join(connection.body)
        answer = Answer(status, connection.content_type, body, connection.location)
        connection.body = []
        state.give_back(connection, reusable)
        return answer

    def close(self) -> None:
        self._state.reset()


class TlsContexts:
    """One ``SSLContext`` per process and :class:`TlsSettings`, shared by the pools.

    Loading the system trust store takes 60-100 ms of C: it runs off the gevent
    hub (``run_blocking``), so the first HTTPS call does not stall the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: PerProcess[dict[TlsSettings, ssl.SSLContext]] = PerProcess(dict)

    def get(self, settings: TlsSettings) -> ssl.SSLContext:
        made = self._made.get()
        context = made.get(settings)
        if context is None:
            with self._lock:
                context = made.get(settings)
                if context is None:
                    context = made[settings] = run_blocking(settings.context)
        return context


class HttpClient:
    """The sources' pools (one per source), and plain GETs on a shared one."""

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._contexts = TlsContexts()
        self._pools: list[ConnectionPool] = []
        self._shared = self.pool()
        self._requests: dict[str, Request] = {}

    def pool(
        self, tls: TlsSettings | None = None, max_connections: int | None = None
    ) -> ConnectionPool:
        """A new pool, closed with this client."""
        pool = ConnectionPool(self._pool_size, tls, max_connections, self._contexts)
        self._pools.append(pool)
        return pool

    def get(self, url: str, timeout: float, max_bytes: int) -> tuple[int, str, bytes]:
        """GET ``url``; return (status, content type, body) or raise :class:`CallError`."""
        request = self._requests.get(url)
        if request is None:
            if len(self._requests) >= 1024:
                self._requests.clear()
            request = self._requests.setdefault(url, Request("GET", url))
        answer = self._shared.send(request, time.monotonic() + timeout, max_bytes, url)
        return answer.status, answer.content_type, answer.body

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


def _remaining(deadline: float) -> float:
    """Seconds left to ``deadline``; a deadline already past is a timeout, not a wait forever."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left
