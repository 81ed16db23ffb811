"""One keep-alive connection of the generator: send a GET, parse the answer, send the next.

A minimal HTTP/1.1 response parser (Content-Length, chunked, or until close), in
asyncio protocol callbacks: no task per request, little CPU.
"""

from __future__ import annotations

import asyncio
from typing import cast

from generator.state import Run

_MAX_HEAD_BYTES = 65536
_NO_BODY_STATUSES = frozenset({204, 304})


class Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses the answer, sends the next."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = run.loop.create_future()
        self.buffer = bytearray()
        self.sent_at: float | None = None
        self._reset_answer()

    def _reset_answer(self) -> None:
        self.status = 0
        self.head_done = False
        self.length: int | None = None  # bytes of body still expected
        self.chunked = False
        self.chunk_left = 0  # bytes of the current chunk plus its CRLF
        self.in_trailer = False
        self.close_after = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.run.open.add(self)
        self.send_next()

    def data_received(self, data: bytes) -> None:
        if self.sent_at is None:
            return  # nothing asked: stray bytes after a timeout
        self.buffer += data
        if not self.head_done and not self._parse_head():
            return
        if self._body_complete():
            self._finish()

    def eof_received(self) -> bool | None:
        if self.sent_at is not None and self.head_done and self.length is None and not self.chunked:
            self._finish()  # a body delimited by the end of the connection
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.open.discard(self)
        if self.sent_at is not None:
            self.fail("connection_closed" if exc is None else "connection_reset")
        if not self.closed.done():
            self.closed.set_result(None)

    # requests and answers

    def send_next(self) -> None:
        assert self.transport is not None
        if not self.run.may_send():
            self.transport.close()
            return
        self.run.sent += 1
        self.sent_at = self.run.clock()
        self.transport.write(self.run.request)

    def fail(self, kind: str) -> None:
        if self.sent_at is not None:
            self.run.record_failure(self.sent_at, kind)
            self.sent_at = None
        if self.transport is not None:
            self.transport.abort()

    def _parse_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD_BYTES:
                self.fail("bad_response")
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        del self.buffer[: end + 4]
        try:
            self._read_head(lines)
        except (ValueError, IndexError):
            self.fail("bad_response")
            return False
        self.head_done = True
        return True

    def _read_head(self, lines: list[bytes]) -> None:
        version, status = lines[0][:8], int(lines[0][9:12])
        http10 = version == b"HTTP/1.0"
        self.status = status
        self.close_after = http10
        retry_after = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                self.close_after = token == b"close" or (http10 and token != b"keep-alive")
            elif name == b"retry-after":
                retry_after = True
        if status in _NO_BODY_STATUSES:
            self.length, self.chunked = 0, False
        if status == 503 and not retry_after:
            self.run.missing_retry_after += 1

    def _body_complete(self) -> bool:
        if self.chunked:
            return self._consume_chunks()
        if self.length is None:
            self.buffer.clear()  # read until the server closes
            return False
        if len(self.buffer) < self.length:
            return False
        del self.buffer[: self.length]
        return True

    def _consume_chunks(self) -> bool:
        buffer = self.buffer
        while True:
            if self.chunk_left:
                taken = min(self.chunk_left, len(buffer))
                del buffer[:taken]
                self.chunk_left -= taken
                if self.chunk_left:
                    return False
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return False
            line = bytes(buffer[:line_end])
            del buffer[: line_end + 2]
            if self.in_trailer:
                if not line:
                    return True
                continue
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                self.in_trailer = True
            else:
                self.chunk_left = size + 2

    def _finish(self) -> None:
        assert self.sent_at is not None and self.transport is not None
        self.run.record_answer(self.sent_at, self.status)
        self.sent_at = None
        until_close = self.length is None and not self.chunked
        close = self.close_after or self.run.close_each or until_close
        self._reset_answer()
        if close:
            self.transport.close()
        else:
            self.send_next()
