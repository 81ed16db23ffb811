"""Real upstreams on 127.0.0.1 for the policy tests, and an app whose pool is threads.

An :class:`Upstream` is a threaded HTTP server whose behaviour a test sets:
``ok``, ``fail`` (503), ``slow`` (answers after ``delay`` seconds) or ``hang``
(until the test ends), per request from ``script`` first, else ``mode``. It
counts the requests it receives and the most it had in flight at once, which is
what the tests assert on: what reached the dependency.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from flask_fanout import CallError, Fanout
from tests.server.test_cli import free_port


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # 200 clients connect at once
    daemon_threads = True


class Upstream:
    """A dependency a test can break: it counts what reaches it."""

    def __init__(self, port: int = 0) -> None:
        self.mode = "ok"
        self.delay = 0.05
        self.script: deque[str] = deque()
        self.hits = 0
        self.active = self.max_active = 0
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mode = upstream.enter()
                try:
                    if mode == "slow":
                        time.sleep(upstream.delay)
                    elif mode == "hang":
                        upstream.released.wait(10)
                    status = 503 if mode == "fail" else 200
                    body = json.dumps({"mode": mode, "n": upstream.hits}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up
                finally:
                    upstream.leave()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def enter(self) -> str:
        with self._lock:
            self.hits += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            return self.script.popleft() if self.script else self.mode

    def leave(self) -> None:
        with self._lock:
            self.active -= 1

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


def fetch(url: str, timeout: float) -> Any:
    """GET ``url`` on a new connection: JSON, or the CallError a source would raise."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
    except ConnectionRefusedError:
        raise CallError("unavailable", f"{url} refused the connection") from None
    except TimeoutError:
        raise TimeoutError(f"{url} gave no answer in {timeout} s") from None
    finally:
        connection.close()
    if response.status >= 500:
        raise CallError("bad_response", f"{url} answered HTTP {response.status}")
    return json.loads(body)


@pytest.fixture
def upstreams() -> Iterator[Callable[..., Upstream]]:
    """Start upstreams (``upstreams()``, or ``upstreams(port)`` to come back on a port)."""
    started: list[Upstream] = []

    def start(port: int = 0) -> Upstream:
        server = Upstream(port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def dead_url() -> str:
    """A port on 127.0.0.1 where nothing listens (yet)."""
    return f"http://127.0.0.1:{free_port()}/"


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config.update(FANOUT_IO_THREADS=512, FANOUT_CPU_BACKEND="inline", FANOUT_METRICS=False)
    app.config.update(FANOUT_ACCESS_LOG=False)
    app.extensions["test_fanout"] = Fanout(app)
    return app


@pytest.fixture
def fanout(app: Flask) -> Fanout:
    """The extension of ``app``, to name policies on."""
    extension: Fanout = app.extensions["test_fanout"]
    return extension
