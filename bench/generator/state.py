"""The shared state of one run of the generator: where it goes, its bounds, its records."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from generator.protocol import Connection


@dataclass(frozen=True)
class Target:
    """Where the requests go."""

    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL, got {url!r}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(parts.hostname, parts.port or 80, path)

    def request_bytes(self, close: bool = False) -> bytes:
        head = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode()


class Run:
    """Shared state of one run: bounds, records and the connection slots."""

    def __init__(
        self, target: Target, duration: float, max_requests: int, timeout: float, close: bool
    ) -> None:
        self.target = target
        self.close_each = close  # a client without keep-alive: one request per connection
        self.request = target.request_bytes(close)
        self.timeout = timeout
        self.max_requests = max_requests
        self.loop = asyncio.get_running_loop()
        self.clock = time.monotonic  # not loop.time(): uvloop's is cached, in whole ms
        self.started = self.clock()
        self.deadline = self.started + duration
        self.stopped_at: float | None = None
        self.sent = 0
        self.reconnects = 0
        self.missing_retry_after = 0
        self.answers: list[tuple[float, float, int]] = []  # (start, end, HTTP status)
        self.failures: list[tuple[float, float, str]] = []  # (start, end, error kind)
        self.open: set[Connection] = set()

    def may_send(self) -> bool:
        if self.stopped_at is not None:
            return False
        if self.sent < self.max_requests and self.clock() < self.deadline:
            return True
        self.stopped_at = min(self.clock(), self.deadline)
        return False

    def record_answer(self, start: float, status: int) -> None:
        self.answers.append((start, self.clock(), status))

    def record_failure(self, start: float, kind: str) -> None:
        self.failures.append((start, self.clock(), kind))

    def sweep_timeouts(self) -> None:
        now = self.clock()
        for conn in list(self.open):
            if conn.sent_at is not None and now - conn.sent_at > self.timeout:
                conn.fail("timeout")
