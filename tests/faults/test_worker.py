"""``fanout serve``'s gevent worker writes every kind of answer whole.

The worker sends a response's head and body in one system call; these answers
take the other paths: a streamed body (chunked), one larger than a send takes at
once, a 204 without a body, and HEAD, each followed by another request on the same
kept-alive connection, which would fail to parse after a framing mistake.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from email.utils import parsedate_to_datetime

import pytest

from flask_fanout.server.gunicorn import GC_THRESHOLDS

from .boom_app import BIG_TENS
from .conftest import Processes, Server


@pytest.fixture(scope="module")
def served(module_procs: Processes) -> Server:
    return module_procs.serve(
        "--workers", "1", "--app", "tests.faults.boom_app:create()",
        env={"FANOUT_CPU_BACKEND": "inline"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/stream", 200, b"piece 0;piece 1;piece 2;"),
        ("GET", "/big", 200, b"0123456789" * BIG_TENS),
        ("GET", "/empty", 204, b""),
        ("HEAD", "/big", 200, b""),
    ],
)
def test_answers_are_framed_right_on_a_kept_alive_connection(
    served: Server, method: str, path: str, status: int, body: bytes
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (status, body)
        if path == "/stream":
            assert answer.getheader("Transfer-Encoding") == "chunked"
        connection.request("GET", "/is_prime/7")  # the same connection, still in step
        after = connection.getresponse()
        assert (after.status, after.read()) == (200, b'{"7":true}\n')
    finally:
        connection.close()


def exchange(served: Server, request: bytes) -> bytes:
    """Send raw bytes on a fresh connection; return everything the server answered."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "field",
    [
        b"X-Folded: one\r\n two",  # obsolete line folding
        b"X-Space : value",  # whitespace before the colon
        b"no colon at all",
        b"X-Null: a\x00b",
        b"Content-Length: 0\r\nContent-Length: 0",
    ],
    ids=["folded", "space-before-colon", "no-colon", "nul", "two-lengths"],
)
def test_malformed_header_fields_are_400(served: Server, field: bytes) -> None:
    answer = exchange(served, b"GET /is_prime/7 HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


@pytest.mark.parametrize("path", ["/is_prime/7", "/stream", "/empty"])
def test_a_client_that_asks_to_close_is_told_the_connection_closes(
    served: Server, path: str
) -> None:
    """RFC 9112 9.6: a client's ``Connection: close`` is answered with one, and the
    server closes (``exchange`` reads to the end); without it a client such as wrk
    takes the connection for kept-alive and counts its closing as an error."""
    answer = exchange(
        served, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode()
    )
    head = answer.partition(b"\r\n\r\n")[0].lower().split(b"\r\n")
    assert head[0].startswith(b"http/1.1 2"), answer[:200]
    assert head.count(b"connection: close") == 1, head


def test_a_kept_alive_answer_says_nothing_of_closing(served: Server) -> None:
    answer = exchange(
        served,
        b"GET /is_prime/7 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /is_prime/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    first, second = answer.split(b"HTTP/1.1 200 ")[1:]
    assert b"connection: close" not in first.lower()
    assert b"connection: close" in second.lower()


def test_every_answer_carries_one_date_of_now(served: Server) -> None:
    before = time.time()
    answer = exchange(
        served,
        b"GET /is_prime/7 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    after = time.time()
    heads = [part.partition(b"\r\n\r\n")[0] for part in answer.split(b"HTTP/1.1 ")[1:]]
    assert len(heads) == 2, answer[:300]
    for head in heads:
        dates = [line[6:] for line in head.lower().split(b"\r\n") if line.startswith(b"date: ")]
        assert len(dates) == 1, head
        when = parsedate_to_datetime(dates[0].decode()).timestamp()
        assert int(before) <= when <= after, (dates, before, after)


def test_header_fields_reach_the_app(served: Server) -> None:
    """Names in any case, repeated fields and a body behind Content-Length."""
    body = b'{"numbers": [7, 8]}'
    answer = exchange(
        served,
        b"POST /is_prime HTTP/1.1\r\nHost: x\r\ncontent-TYPE:application/json\r\n"
        b"Content-Length: %d\r\nAccept: text/html\r\nAccept: application/json\r\n"
        b"Connection: close\r\n\r\n%s" % (len(body), body),
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert json.loads(payload)["results"] == [{"n": "7", "prime": True}, {"n": "8", "prime": False}]


def test_the_worker_freezes_the_loaded_app_and_collects_less_often(served: Server) -> None:
    state = served.get("/gc").json()
    assert tuple(state["threshold"]) == GC_THRESHOLDS
    assert state["frozen"] > 10_000  # the app and its imports, never walked again
