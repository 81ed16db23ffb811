"""One kept-alive HTTP/1.1 connection: send a prepared request, parse its answer.

The protocol (status line, headers, Content-Length, chunked bodies, keep-alive
rules) is parsed by llhttp, Node.js's parser, through httptools (the parser
behind uvicorn). Pools and errors for the sources are ``client.py``'s.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

import httptools

from flask_fanout import CallError

_READ_SIZE = 65536
Key = tuple[str, str, int]
"""(scheme, host, port): which connections can serve a request."""


class StaleConnection(Exception):
    """The server had closed the connection before or while we sent on it."""


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes
    location: str | None


class Connection:
    """A kept-alive socket and its parser, reused together: building a parser per
    answer cost more than parsing with it. The parser's callbacks land here."""

    __slots__ = (
        "body",
        "chunked",
        "close_delimited",
        "complete",
        "connection",
        "content_type",
        "key",
        "length",
        "location",
        "parser",
        "size",
        "sock",
    )

    def __init__(self, sock: socket.socket, key: Key) -> None:
        self.sock = sock
        self.key = key
        self.parser = httptools.HttpResponseParser(self)
        self.on_message_begin()

    def on_message_begin(self) -> None:
        self.body: list[bytes] = []
        self.size = 0
        self.content_type = ""
        self.location: str | None = None
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
        elif name == b"location":
            self.location = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.close_delimited = self.length is None and not self.chunked

    def on_body(self, data: bytes) -> None:
        self.size += len(data)
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.close_delimited = False
        self.complete = True

    def exchange(
        self, request: bytes, timeout: float, max_bytes: int, url: str
    ) -> tuple[int, bool]:
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
                    raise StaleConnection("closed before answering")
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


def _send(sock: socket.socket, data: bytes) -> None:
    """``sendall`` in one system call: gevent's asks for the send buffer size
    (``getsockopt``) before every send, and a request usually fits in one ``send``."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])
