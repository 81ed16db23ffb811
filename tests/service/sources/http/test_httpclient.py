"""The http sources' client against a real socket server that sends scripted bytes.

The demo upstream covers the common answers (see test_aggregate.py); this server
sends the framings it never does: bodies delimited by close, 1xx answers,
HTTP/1.0, lies in Content-Length, answers that never come.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from flask_fanout import CallError
from flask_fanout.service.sources.http import HttpClient

CLOSE = b"<close>"  # a script step: close the connection after sending what came before
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclass
class ScriptedServer:
    """Answers the n-th request (over all connections) with ``script[n]``."""

    script: list[bytes]
    listener: socket.socket = field(default_factory=socket.socket)
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/data"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            pending = b""
            while self.script:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(4096)
                    if not data:
                        return
                    pending += data
                request, _, pending = pending.partition(b"\r\n\r\n")
                self.requests.append(request)
                answer = self.script.pop(0)
                conn.sendall(answer.replace(CLOSE, b""))
                if answer.endswith(CLOSE):
                    return


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer([])
    server.listener.bind(("127.0.0.1", 0))
    server.listener.listen()
    threading.Thread(target=server.serve, daemon=True).start()
    yield server
    server.listener.close()


def ok(body: bytes, *headers: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def test_the_request_is_one_well_formed_get(scripted: ScriptedServer) -> None:
    scripted.script = [ok(b"{}")]
    client = HttpClient(4)
    client.get(scripted.url.replace("/data", "/a b/é?x=1"), 2.0, 1024)
    request_line, *headers = scripted.requests[0].split(b"\r\n")
    assert request_line == b"GET /a%20b/%C3%A9?x=1 HTTP/1.1"
    assert b"Host: 127.0.0.1:%d" % scripted.listener.getsockname()[1] in headers


def test_keep_alive_reuses_one_connection(scripted: ScriptedServer) -> None:
    scripted.script = [ok(b"one", b"Content-Type: text/plain"), ok(b"two"), ok(b"three")]
    client = HttpClient(4)
    answers = [client.get(scripted.url, 2.0, 1024) for _ in range(3)]
    assert answers[0] == (200, "text/plain", b"one")
    assert [body for _, _, body in answers] == [b"one", b"two", b"three"]
    assert scripted.connections == 1


def test_connection_close_is_not_reused(scripted: ScriptedServer) -> None:
    scripted.script = [ok(b"one", b"Connection: close"), ok(b"two")]
    client = HttpClient(4)
    assert client.get(scripted.url, 2.0, 1024)[2] == b"one"
    assert client.get(scripted.url, 2.0, 1024)[2] == b"two"
    assert scripted.connections == 2


def test_http_1_0_closes_unless_kept_alive(scripted: ScriptedServer) -> None:
    scripted.script = [
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\none",
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\ntwo",
        ok(b"three"),
    ]
    client = HttpClient(4)
    assert [client.get(scripted.url, 2.0, 1024)[2] for _ in range(3)] == [b"one", b"two", b"three"]
    assert scripted.connections == 2  # the second answer did not keep its connection


def test_a_body_delimited_by_close(scripted: ScriptedServer) -> None:
    scripted.script = [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end" + CLOSE]
    client = HttpClient(4)
    assert client.get(scripted.url, 2.0, 1024) == (200, "text/plain", b"until the end")


def test_informational_answers_are_skipped(scripted: ScriptedServer) -> None:
    scripted.script = [b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final")]
    assert HttpClient(4).get(scripted.url, 2.0, 1024) == (200, "", b"final")


def test_a_chunked_body(scripted: ScriptedServer) -> None:
    scripted.script = [
        CHUNKED + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        ok(b"next"),
    ]
    client = HttpClient(4)
    assert client.get(scripted.url, 2.0, 1024)[2] == b"abcde"
    assert client.get(scripted.url, 2.0, 1024)[2] == b"next"
    assert scripted.connections == 1


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", "too_large"),
        (CHUNKED + b"800\r\n" + b"x" * 2048, "too_large"),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 2048 + CLOSE, "too_large"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort" + CLOSE, "bad_response"),
        (CHUNKED + b"5\r\nab" + CLOSE, "bad_response"),
        (b"this is not http\r\n\r\n", "bad_response"),
        (CLOSE, "bad_response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", "timeout"),
    ],
    ids=[
        "length-over-cap",
        "chunked-over-cap",
        "until-close-over-cap",
        "cut-off",
        "cut-off-chunk",
        "garbage",
        "closed-at-once",
        "hung",
    ],
)
def test_faults_are_call_errors(scripted: ScriptedServer, answer: bytes, code: str) -> None:
    scripted.script = [answer, ok(b"fine")]
    client = HttpClient(4)
    with pytest.raises(CallError) as failure:
        client.get(scripted.url, 0.5, 1024)
    assert failure.value.code == code
    assert client.get(scripted.url, 2.0, 1024)[2] == b"fine"  # a failed connection is not reused


def test_a_stale_kept_alive_connection_is_retried_once(scripted: ScriptedServer) -> None:
    scripted.script = [ok(b"one") + CLOSE, ok(b"two")]
    client = HttpClient(4)
    assert client.get(scripted.url, 2.0, 1024)[2] == b"one"
    # The server closed the connection after answering, with no Connection: close.
    assert client.get(scripted.url, 2.0, 1024)[2] == b"two"
    assert scripted.connections == 2


def test_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CallError) as failure:
        HttpClient(4).get(f"http://127.0.0.1:{port}/", 1.0, 1024)
    assert failure.value.code == "unavailable"
