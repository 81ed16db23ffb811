"""The bundled demo upstream: a small asyncio HTTP/1.1 server with keep-alive.

It is what the default ``api`` source calls, and it doubles as the misbehaving
upstream of the tests and benchmarks, so every fault mode is a path:

=====================  ===================================================
``/api/data``           a JSON document (the demo payload)
``/delay/<ms>``         JSON, answered after ``ms`` milliseconds
``/hang``               never answers (until the client goes away)
``/status/<code>``      JSON with that status code
``/garbage``            ``application/json`` that does not parse
``/text``               a ``text/plain`` body
``/chunked``            JSON sent with ``Transfer-Encoding: chunked``
``/close``              promises a body, sends half of it and hangs up
``/once``               JSON, then closes the kept-alive connection silently
=====================  ===================================================

``?delay_ms=N`` delays any of them. asyncio keeps one process cheap at
thousands of concurrent slow answers, which is what the load benchmark needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

_HANG_SECONDS = 3600.0
_MAX_HEADER_BYTES = 65536

DEMO_PAYLOAD = {
    "source": "flask-fanout demo upstream",
    "items": [
        {"id": 1, "name": "alpha"},
        {"id": 2, "name": "beta"},
        {"id": 3, "name": "gamma"},
    ],
}


def _response(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    *,
    keep_alive: bool = True,
) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _json(status: int, payload: object, *, keep_alive: bool = True) -> bytes:
    return _response(status, json.dumps(payload).encode(), keep_alive=keep_alive)


async def _answer(path: str, writer: asyncio.StreamWriter, keep_alive: bool) -> bool:
    """Write the answer for ``path``; return False when the connection must close."""
    parts = urlsplit(path)
    query = parse_qs(parts.query)
    delay_ms = float(query.get("delay_ms", ["0"])[0] or 0)
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)
    segments = [s for s in parts.path.split("/") if s]
    route = segments[0] if segments else ""
    arg = segments[1] if len(segments) > 1 else ""

    if route in ("", "api"):
        writer.write(_json(200, DEMO_PAYLOAD, keep_alive=keep_alive))
    elif route == "delay" and arg.isdigit():
        await asyncio.sleep(int(arg) / 1000)
        writer.write(_json(200, {"delay_ms": int(arg)}, keep_alive=keep_alive))
    elif route == "hang":
        await asyncio.sleep(_HANG_SECONDS)
        return False
    elif route == "status" and arg.isdigit() and 100 <= int(arg) <= 599:
        payload = {"status": int(arg)}
        writer.write(_json(int(arg), payload, keep_alive=keep_alive))
    elif route == "garbage":
        writer.write(_response(200, b'{"not": json', keep_alive=keep_alive))
    elif route == "text":
        writer.write(_response(200, b"plain words", "text/plain", keep_alive=keep_alive))
    elif route == "chunked":
        body = json.dumps(DEMO_PAYLOAD).encode()
        half = len(body) // 2
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for piece in (body[:half], body[half:]):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
    elif route == "once":
        writer.write(_json(200, {"once": True}, keep_alive=True))
        await writer.drain()
        return False
    elif route == "close":
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"partial": '
        )
        await writer.drain()
        return False
    else:
        writer.write(_json(404, {"error": "not_found"}, keep_alive=keep_alive))
    await writer.drain()
    return keep_alive


@dataclass
class _Server:
    """A running upstream: where it listens and what it was asked (for tests)."""

    url: str = ""
    log: list[tuple[str, float, float]] | None = field(default_factory=list)
    """(path, start, end) per answered request, in ``time.monotonic()`` seconds,
    for the tests that run it in a thread; None in ``fanout upstream`` (and the
    benchmarks' upstream), which runs for hours: kept there, it grew by ~200
    bytes a request (36 MB after 178,000 requests) without end."""
    connections: int = 0
    """Connections accepted so far."""


async def _handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: _Server
) -> None:
    server.connections += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                _method, path, version = lines[0].split(" ", 2)
            except ValueError:
                writer.write(_json(400, {"error": "bad_request"}, keep_alive=False))
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            connection = headers.get("connection", "").lower()
            keep_alive = connection != "close" and (
                version == "HTTP/1.1" or connection == "keep-alive"
            )
            started = time.monotonic()
            keep_open = await _answer(path, writer, keep_alive)
            if server.log is not None:
                server.log.append((path, started, time.monotonic()))
            if not keep_open:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    except asyncio.CancelledError:
        # The server is stopping. Ending normally keeps Python 3.11's stream
        # callback from logging the cancellation as an error.
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(
    host: str, port: int, server: _Server, started: threading.Event | None = None
) -> None:
    listener = await asyncio.start_server(
        lambda r, w: _handle(r, w, server),
        host,
        port,
        limit=_MAX_HEADER_BYTES,
        backlog=4096,
        reuse_address=True,
    )
    async with listener:
        server.url = f"http://{host}:{listener.sockets[0].getsockname()[1]}"
        if started is not None:
            started.set()
        await listener.serve_forever()


def run(host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve until interrupted (``fanout upstream``)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(host, port, _Server(log=None)))


@contextlib.contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[_Server]:
    """Run the upstream on a daemon thread (``port=0`` picks a free port)."""
    server, started = _Server(), threading.Event()
    loop = asyncio.new_event_loop()
    task = loop.create_task(_serve(host, port, server, started))

    def serve() -> None:
        asyncio.set_event_loop(loop)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        # Connections still open (a hanging /hang, say) end with the server.
        pending = asyncio.all_tasks(loop)
        for leftover in pending:
            leftover.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve, name="fanout-upstream", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the demo upstream did not start")
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(5)
