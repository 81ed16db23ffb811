"""wrk's cross-check against a real server: its Lua script counts every status."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from load_bench.wrk import ensure_wrk, run_wrk


class _Alternating(BaseHTTPRequestHandler):
    """Every other answer a 503 with Retry-After, on keep-alive connections."""

    protocol_version = "HTTP/1.1"
    turn = itertools.count()

    def do_GET(self) -> None:
        shed = next(self.turn) % 2 == 1
        self.send_response(503 if shed else 200)
        if shed:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Alternating)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_wrk_counts_200s_and_503s_apart(server_url: str) -> None:
    ensure_wrk()  # installs Debian's package when missing
    figures = run_wrk(server_url, 4, 1.0, 5.0)
    statuses = figures["statuses"]
    assert set(statuses) == {"200", "503"} and figures["errors"] == {}
    assert abs(statuses["200"] - statuses["503"]) <= 4  # one in flight per connection
    assert figures["answers"] == statuses["200"] + statuses["503"] > 20
    assert figures["goodput_rps"] > 0 and figures["shed_rps"] > 0
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
