"""The load generator's parser and bookkeeping against tiny scripted servers.

Run with ``python -m pytest bench/tests`` (not part of the project's test suite).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadgen import LoadResult, run_load_async

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _serve_answers(answer: bytes, *, close: bool = False, pieces: int = 1) -> Handler:
    """A server that answers every request with ``answer``, sent in ``pieces`` writes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                step = max(1, len(answer) // pieces)
                for i in range(0, len(answer), step):
                    writer.write(answer[i : i + step])
                    await writer.drain()
                    await asyncio.sleep(0)
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


def _load(handler: Handler, **options: float) -> LoadResult:
    async def main() -> LoadResult:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await run_load_async(
                f"http://127.0.0.1:{port}/", 4, options.pop("duration", 1.5), **options
            )

    return asyncio.run(main())


def test_content_length_keep_alive() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    result = _load(_serve_answers(answer, pieces=3))
    assert result.errors == {} and result.reconnects == 0
    assert set(result.statuses) == {"200"} and result.answers > 100


def test_chunked_split_anywhere() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    result = _load(_serve_answers(answer, pieces=9))
    assert result.errors == {} and result.reconnects == 0 and result.answers > 100


def test_body_until_close_and_http10() -> None:
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"
    result = _load(_serve_answers(answer, close=True))
    assert result.errors == {} and result.answers > 50
    assert result.reconnects >= result.answers - 4


def test_close_opens_a_connection_per_request() -> None:
    """A client without keep-alive: it says so, and a close after each answer is no error."""
    requests: list[bytes] = []

    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    result = _load(one_answer, close=True, duration=1.0)
    assert result.errors == {} and result.answers > 50
    assert result.reconnects >= result.answers - 4
    assert all(b"\r\nConnection: close\r\n" in request for request in requests)


def test_503_without_retry_after_is_counted() -> None:
    with_header = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
    without = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    assert _load(_serve_answers(with_header)).missing_retry_after == 0
    result = _load(_serve_answers(without))
    assert result.missing_retry_after == result.answers > 0


def test_timeouts_and_resets_are_errors() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    timed_out = _load(hang, timeout=0.3, duration=1.0)
    assert timed_out.answers == 0 and timed_out.errors.get("timeout", 0) >= 4
    closed = _load(hang_up, duration=1.0)
    assert closed.answers == 0 and closed.errors.get("connection_closed", 0) > 4


def test_bounded_by_request_count() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    result = _load(_serve_answers(answer), max_requests=50, duration=30)
    assert result.requests_sent == 50 and result.answers == 50


def test_goodput_and_shedding_are_counted_apart() -> None:
    """Every other answer a fast 503: goodput counts the 200s only, their p99 is theirs."""
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
    ]

    async def alternate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for i in range(10**9):
                await reader.readuntil(b"\r\n\r\n")
                if i % 2 == 0:
                    await asyncio.sleep(0.02)  # the 200s are slow, the 503s instant
                writer.write(answers[i % 2])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    result = _load(alternate, duration=2.5)
    assert result.statuses.keys() == {"200", "503"} and result.connection_errors == 0
    assert result.goodput_rps > 0 and result.shed_rps > 0
    assert result.goodput_rps == result.rps_2xx  # only the 200s are good answers
    assert result.p50_200_ms >= 20 and result.p99_200_ms >= 20
    assert result.p50_ms < result.p50_200_ms  # the instant 503s would pull it down
