"""A keep-alive HTTP client for the ``http`` sources: sockets, httptools and a small pool.

Why not urllib3, the field's standard, or the standard library's ``http.client``?
On 2 cores at hundreds of requests per second the client's CPU per call decides
the race, and a GET over a reused connection costs about half as much here as
with ``http.client`` and a quarter of urllib3's PoolManager (``python
bench/http_client.py``; see bench/results/http_client.md). The protocol (status
line, headers, Content-Length, chunked bodies, keep-alive rules) is parsed by
llhttp, Node.js's parser, through httptools (the parser behind uvicorn). This
module writes one fixed GET per URL, feeds what it reads to the parser, keeps
idle connections per host and maps failures to source errors.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httptools

from flask_fanout import CallError
from flask_fanout.process_local import PerProcess

_READ_SIZE = 65536
_MAX_TARGETS = 4096  # parsed URLs kept; bounded, since a URL template makes one per value
_ACCEPT = "application/json, text/*;q=0.8"
# A reused keep-alive connection the server has closed in the meantime fails on
# first use with one of these, or ends before the first byte of an answer; a GET
# is idempotent, so it is retried once on a fresh connection.
_STALE = (BrokenPipeError, ConnectionResetError)


class _StaleConnection(Exception):
    """The server had closed the connection before or while we sent on it."""


@dataclass(frozen=True)
class _Target:
    """A URL parsed once: where to connect and the bytes of its GET."""

    scheme: str
    host: str
    port: int
    request: bytes

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        host = parts.hostname or ""
        port = parts.port or default_port
        authority = f"[{host}]" if ":" in host else host
        if port != default_port:
            authority += f":{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {quote(path, safe='/?&=%+:@!$,;~*()[]')} HTTP/1.1\r\n"
            f"Host: {authority}\r\nAccept: {_ACCEPT}\r\nUser-Agent: flask-fanout\r\n\r\n"
        )
        return cls(parts.scheme, host, port, request.encode("ascii"))

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


class _Connection:
    """A kept-alive socket and its parser, reused together: building a parser per
    answer cost more than parsing with it. The parser's callbacks land here."""

    __slots__ = (
        "body",
        "chunked",
        "close_delimited",
        "complete",
        "connection",
        "content_type",
        "length",
        "parser",
        "size",
        "sock",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = httptools.HttpResponseParser(self)
        self.on_message_begin()

    def on_message_begin(self) -> None:
        self.body: list[bytes] = []
        self.size = 0
        self.content_type = ""
        self.length: int | None = None
        self.chunked = False
        self.connection = b""
        self.close_delimited = False  # neither Content-Length nor chunked: read to EOF
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value.decode("latin-1")
        elif name == b"content-length" and value.strip().isdigit():
            self.length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            self.chunked = True
        elif name == b"connection":
            self.connection = value.lower()

    def on_headers_complete(self) -> None:
        self.close_delimited = self.length is None and not self.chunked

    def on_body(self, data: bytes) -> None:
        self.size += len(data)
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.close_delimited = False
        self.complete = True

    def get(self, request: bytes, timeout: float, max_bytes: int, url: str) -> tuple[int, bool]:
        """Send ``request``, read one whole answer: (status, whether to reuse the connection).

        The answer's content type and body are left on the connection.
        """
        self.sock.settimeout(timeout)
        _send(self.sock, request)
        self.on_message_begin()
        parser = self.parser
        received = False
        while not (self.complete and parser.get_status_code() >= 200):
            data = self.sock.recv(_READ_SIZE)
            if not data:
                if self.close_delimited:
                    return parser.get_status_code(), False
                if not received:
                    raise _StaleConnection("closed before answering")
                raise CallError("bad_response", f"{url} broke off its answer")
            received = True
            try:
                parser.feed_data(data)
            except httptools.HttpParserError:
                raise CallError("bad_response", f"{url} sent a malformed answer") from None
            if (self.length or 0) > max_bytes or self.size > max_bytes:
                raise CallError("too_large", f"{url} answered more than {max_bytes} bytes")
        # llhttp's should_keep_alive() is reset once a message is complete: apply its rule.
        if parser.get_http_version() == "1.0":
            return parser.get_status_code(), b"keep-alive" in self.connection
        return parser.get_status_code(), b"close" not in self.connection

    def close(self) -> None:
        self.sock.close()


class HttpClient:
    """GETs over keep-alive connections, at most ``pool_size`` idle ones per host.

    The pool belongs to one process (sockets must not cross gunicorn's fork); a
    connection is used by one call at a time, then handed back, unless the server
    asked to close it or the call failed.
    """

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._idle: PerProcess[dict[tuple[str, str, int], list[_Connection]]]
        self._idle = PerProcess(dict, close=_close_all)
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None

    def get(self, url: str, timeout: float, max_bytes: int) -> tuple[int, str, bytes]:
        """GET ``url``; return (status, content type, body) or raise :class:`CallError`."""
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _MAX_TARGETS:  # URL templates: one URL per value
                self._targets.clear()
            target = self._targets.setdefault(url, _Target.parse(url))
        idle = self._idle.get().setdefault(target.key, [])
        if idle:
            try:
                return self._exchange(idle.pop(), target, idle, timeout, max_bytes, url)
            except _StaleConnection:
                # The server restarted or dropped idle connections: the other idle
                # ones are likely dead too. Drop them all; retry on a fresh one.
                while idle:
                    idle.pop().close()
        try:
            connection = _Connection(self._connect(target, timeout))
        except TimeoutError:
            raise CallError("timeout", f"could not connect to {url} in time") from None
        except OSError as exc:
            raise CallError("unavailable", f"cannot connect to {url}: {exc}") from None
        try:
            return self._exchange(connection, target, idle, timeout, max_bytes, url)
        except _StaleConnection as exc:
            raise CallError("bad_response", f"{url} closed the connection: {exc}") from None

    def _connect(self, target: _Target, timeout: float) -> socket.socket:
        sock = socket.create_connection((target.host, target.port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.scheme != "https":
            return sock
        if self._tls is None:
            self._tls = ssl.create_default_context()
        try:
            return self._tls.wrap_socket(sock, server_hostname=target.host)
        except BaseException:
            sock.close()
            raise

    def _exchange(
        self,
        connection: _Connection,
        target: _Target,
        idle: list[_Connection],
        timeout: float,
        max_bytes: int,
        url: str,
    ) -> tuple[int, str, bytes]:
        """One GET; the connection goes back to ``idle`` after a whole answer, else closes."""
        try:
            status, reusable = connection.get(target.request, timeout, max_bytes, url)
        except _STALE as exc:
            connection.close()
            raise _StaleConnection(str(exc) or type(exc).__name__) from None
        except TimeoutError:
            connection.close()
            raise CallError("timeout", f"no answer from {url} in time") from None
        except OSError as exc:
            connection.close()
            raise CallError("unavailable", f"request to {url} failed: {exc}") from None
        except BaseException:
            connection.close()
            raise
        answer = status, connection.content_type, b"".join(connection.body)
        connection.body = []
        if reusable and len(idle) < self._pool_size:
            idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        self._idle.reset()


def _send(sock: socket.socket, data: bytes) -> None:
    """``sendall`` in one system call: gevent's asks for the send buffer size
    (``getsockopt``) before every send, and a GET fits in one ``send``."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


def _close_all(pools: dict[tuple[str, str, int], list[_Connection]]) -> None:
    for connections in pools.values():
        for connection in connections:
            connection.close()
