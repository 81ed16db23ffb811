"""The open-loop generator: ``GET /`` every 1/rate s, whatever the answers do.

A faster answer cannot bring more load, so configurations compare at the same offered
rate. Latency counts from when a request was due (no coordinated omission). Each answer's
body is read: goodput counts answers whose every source answered (no entry in
``errors``); a stale value counts as an answer and is counted apart.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Run:
    """What one open-loop run saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    good: int = 0
    stale: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0

    def count(self, latency: float, status: int, body: dict) -> None:
        """One answer: its latency, its status, its sources' error codes, good or not."""
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        for error in body.get("errors", {}).values():
            self.codes[error["code"]] = self.codes.get(error["code"], 0) + 1
        if status == 200 and not body.get("errors"):
            self.good += 1
            self.stale += bool(body.get("stale"))


class _Connections:
    """Kept-alive connections to the service: reused when free, opened when none is."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.free: list[Connection] = []

    async def get(self) -> Connection:
        if self.free:
            return self.free.pop()
        return await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        for _, writer in self.free:
            writer.close()


async def _request(connections: _Connections, scheduled: float, run: Run) -> None:
    """One GET /, its latency counted from when it was due."""
    try:
        reader, writer = await connections.get()
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = json.loads(await reader.readexactly(length))
    except (OSError, asyncio.IncompleteReadError, ValueError):
        run.errors += 1
        return
    latency = time.monotonic() - scheduled
    connections.free.append((reader, writer))
    run.count(latency, int(head.split(b" ", 2)[1]), body)


async def _load(port: int, rate: float, duration: float) -> Run:
    run, connections, tasks = Run(), _Connections(port), []
    began = time.monotonic()
    for n in range(int(rate * duration)):
        due = began + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(_request(connections, due, run)))
    await asyncio.gather(*tasks)
    run.seconds = time.monotonic() - began
    connections.close()
    return run


def open_loop(port: int, rate: float, duration: float) -> Run:
    """``rate`` requests a second to ``GET /`` on ``port`` for ``duration`` seconds."""
    return asyncio.run(_load(port, rate, duration))
