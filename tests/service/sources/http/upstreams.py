"""A real upstream for the http sources' tests: ``http.server`` on 127.0.0.1,
threaded, optionally wrapped in TLS with certificates from a test CA (trustme).

It records what it was sent and how many requests and connections it served at
once, so tests prove behaviour (a header arrived, at most N at a time) by what
the upstream saw, not by timing:

====================  ===============================================================
``/echo``              JSON: the request's method, path, headers (lower-case) and body
``/json``              ``{"ok": true}``
``/auth``              200 when ``Authorization`` is ``Bearer <token>``, else 401
``/users/<n>``         as ``/auth``, answering ``{"id": n, "name": "user n"}`` (the README's API)
``/slow?ms=N``         JSON after N milliseconds
``/status/<code>``     that status; ``?location=URL`` adds a ``Location``
``/hop/<n>``           302 to ``/hop/<n-1>`` (``?status=`` another code); ``/hop/0`` echoes
``/reflect``           500 with every request header in the body (a leaky upstream)
``/once``              JSON, then closes the kept-alive connection without saying so
====================  ===============================================================
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

from flask_fanout.service.sources import HttpSource

MakeSource = Callable[..., HttpSource]
"""The ``make_source`` fixture: ``make_source(url, 'key = value' lines, environ={...})``."""


@dataclass
class Pki:
    """A test CA, the upstream's certificate and a client certificate, as files."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> Pki:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("client.example")
        ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "client.pem", "key.pem"))
        ca.cert_pem.write_to_path(str(ca_file))
        client.cert_chain_pems[0].write_to_path(str(cert_file))
        client.private_key_pem.write_to_path(str(key_file))
        return cls(ca, server, ca_file, cert_file, key_file)


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_cert: dict[str, Any] | None


@dataclass
class Upstream:
    server: ThreadingHTTPServer
    scheme: str
    token: str = ""
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests_now: int = 0
    requests_max: int = 0
    connections_now: int = 0
    connections_max: int = 0
    connections_total: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.server.server_address[1]}{path}"

    def count(self, attribute: str, step: int) -> None:
        with self.lock:
            now = getattr(self, f"{attribute}_now") + step
            setattr(self, f"{attribute}_now", now)
            setattr(self, f"{attribute}_max", max(now, getattr(self, f"{attribute}_max")))
            if attribute == "connections" and step > 0:
                self.connections_total += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.upstream.count("connections", +1)

    def finish(self) -> None:
        self.server.upstream.count("connections", -1)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        upstream = self.server.upstream
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        seen = Seen(self.command, self.path, headers, body, peer)
        upstream.seen.append(seen)
        upstream.count("requests", +1)
        try:
            self._route(seen, upstream)
        finally:
            upstream.count("requests", -1)

    def _route(self, seen: Seen, upstream: Upstream) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path == "/echo" or path == "/hop/0":
            echo = {"method": seen.method, "path": self.path, "headers": seen.headers}
            self._send(200, {**echo, "body": seen.body.decode()})
        elif path == "/json":
            self._send(200, {"ok": True})
        elif path == "/auth":
            good = seen.headers.get("authorization") == f"Bearer {upstream.token}"
            self._send(200 if good else 401, {"authorized": good})
        elif path.startswith("/users/") and path[7:].isdigit():
            user = int(path[7:])
            if seen.headers.get("authorization") == f"Bearer {upstream.token}":
                self._send(200, {"id": user, "name": f"user {user}"})
            else:
                self._send(401, {"authorized": False})
        elif path == "/slow":
            time.sleep(int(query.get("ms", "100")) / 1000)
            self._send(200, {"slept_ms": int(query.get("ms", "100"))})
        elif path.startswith("/status/"):
            location = query.get("location")
            self._send(int(path.rsplit("/", 1)[1]), {}, {"Location": location} if location else {})
        elif path.startswith("/hop/"):
            hops = int(path.rsplit("/", 1)[1])
            status = int(query.get("status", "302"))
            target = f"/hop/{hops - 1}" + (f"?{parts.query}" if parts.query else "")
            self._send(status, {}, {"Location": target})
        elif path == "/once":
            self._send(200, {"once": True})
            self.close_connection = True
        elif path == "/reflect":
            self._send(500, {"you_sent": seen.headers, "body": seen.body.decode()})
        else:
            self._send(404, {"error": "no such path"})

    def _send(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: Upstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes and clients that hang up are what several tests do


@contextlib.contextmanager
def serving(
    pki: Pki | None = None, *, require_client_cert: bool = False, token: str = ""
) -> Iterator[Upstream]:
    """An upstream on 127.0.0.1: HTTPS with ``pki``'s server certificate, else plain HTTP."""
    server = _Server(("127.0.0.1", 0), _Handler)
    if pki is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pki.server.configure_cert(context)
        if require_client_cert:
            pki.ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        # The handshake runs in the connection's own thread, on its first read.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    server.upstream = Upstream(server, "https" if pki else "http", token)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
