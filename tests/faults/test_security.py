"""Security basics: limits, no debug page, fixed sources, headers on every answer.

The served tests run ``fanout serve`` with ``FLASK_DEBUG=1`` in its environment
and an app (``boom_app``) that adds two failing views to the service.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response

from .boom_app import SECRET
from .conftest import Answer, Processes, Server, call, raw_request

MAX_BODY = 65536
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@pytest.fixture(scope="module")
def hardened(module_procs: Processes) -> Server:
    notes = module_procs.log_dir / "notes.txt"
    notes.write_text("operator's file\n")
    return module_procs.serve(
        "--workers",
        "1",
        "--app",
        "tests.faults.boom_app:create()",
        env={
            "FLASK_DEBUG": "1",
            "FANOUT_CONFIG": _write_config(module_procs.log_dir, notes),
            "FANOUT_MAX_BODY_BYTES": str(MAX_BODY),
            "FANOUT_CPU_BACKEND": "inline",
        },
    )


def _write_config(directory: Path, notes: Path) -> str:
    path = directory / "hardened.toml"
    path.write_text(f'[sources.notes]\ntype = "file"\npath = "{notes}"\n')
    return str(path)


def padded(payload: Any, size: int) -> bytes:
    """``payload`` as JSON, padded with spaces to exactly ``size`` bytes."""
    data = json.dumps(payload).encode()
    return data + b" " * (size - len(data))


def chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    """An iterable body: http.client sends it chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def check_headers(answer: Answer) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (name, answer)


# --------------------------------------------------------------------- served


def test_flask_debug_is_ignored_and_errors_never_show_internals(hardened: Server) -> None:
    assert "FLASK_DEBUG ignored" in hardened.log()
    boom = hardened.get("/boom")
    assert boom.status == 500
    assert boom.json() == {
        "error": "internal_error",
        "message": "The server failed to answer this request.",
    }
    assert SECRET.encode() not in boom.body and b"RuntimeError" not in boom.body
    assert SECRET in hardened.log(), "the traceback goes to the log, not to the client"
    # In debug mode Werkzeug names the missing key in the 400's description.
    missing = hardened.get("/missing-arg")
    assert missing.status == 400 and "KeyError" not in missing.json()["message"]
    # No Werkzeug debugger: its console and resources are not there.
    assert hardened.get("/console").status == 404
    resource = hardened.get("/?__debugger__=yes&cmd=resource&f=debugger.js")
    assert resource.status == 200 and "result_notes" in resource.json()
    assert hardened.get("/healthz").status == 200


def test_every_answer_carries_the_security_headers(hardened: Server) -> None:
    answers = [
        hardened.get("/"),
        hardened.get("/healthz"),
        hardened.get("/readyz"),
        hardened.get("/is_prime/7"),
        hardened.get("/is_prime/abc"),
        hardened.get("/nowhere"),
        hardened.get("/boom"),
        call(hardened.base + "/", timeout=10, method="POST", body=b"{}"),
        call(hardened.base + "/is_prime", timeout=10, method="POST", body=b"x" * (MAX_BODY + 1)),
    ]
    assert [a.status for a in answers] == [200, 200, 200, 200, 400, 404, 500, 405, 413]
    for answer in answers:
        answer.json()
        check_headers(answer)


def test_bodies_over_the_limit_are_a_json_413_with_or_without_content_length(
    hardened: Server,
) -> None:
    over = padded({"numbers": [7]}, MAX_BODY + 100)
    json_type = {"Content-Type": "application/json"}
    sized = raw_request(hardened.port, "POST", "/is_prime", headers=json_type, body=over)
    streamed = raw_request(hardened.port, "POST", "/is_prime", headers=json_type, body=chunks(over))
    for answer in (sized, streamed):
        assert answer.status == 413, answer
        assert answer.json()["error"] == "request_entity_too_large"
        check_headers(answer)
    # Chunked bodies up to the limit, the limit included, are read whole.
    for size in (100, MAX_BODY):
        body = padded({"numbers": [7, 8]}, size)
        answer = raw_request(
            hardened.port, "POST", "/is_prime", headers=json_type, body=chunks(body)
        )
        assert answer.status == 200, answer
        assert answer.json() == {"results": [{"n": "7", "prime": True}, {"n": "8", "prime": False}]}
    assert hardened.get("/healthz").status == 200


def test_request_line_and_header_limits(hardened: Server) -> None:
    """Past gunicorn's limits gunicorn answers itself (414, 400); the service goes on serving."""
    long_url = "/is_prime/" + "7," * 4100 + "7"  # over 8190 bytes
    assert raw_request(hardened.port, "GET", long_url, headers={}).status == 414
    many = {f"X-Header-{i}": "1" for i in range(101)}
    assert raw_request(hardened.port, "GET", "/healthz", headers=many).status in (400, 431)
    huge = {"X-Big": "a" * 9000}
    assert raw_request(hardened.port, "GET", "/healthz", headers=huge).status in (400, 431)
    # Within the limits: the app's own JSON errors.
    near = "/is_prime/" + "7," * 4000 + "x"
    answer = raw_request(hardened.port, "GET", near, headers={})
    assert answer.status == 400 and answer.json()["error"] == "invalid_number"
    assert hardened.get("/healthz").status == 200


# --------------------------------------------------------------- test client


def test_no_request_chooses_a_path_url_or_query(
    make_app: Callable[..., Flask], text_file: Path, sqlite_db: Path, upstream: Any
) -> None:
    """Query strings, headers and path tricks never change what the sources read."""
    app = make_app(
        textwrap.dedent(f"""
        [sources.file]
        type = "file"
        path = "{text_file}"
        [sources.db]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT id, name FROM items ORDER BY id"
        [sources.api]
        type = "http"
        url = "{upstream.url}/api/data?fixed=1"
        """)
    )
    client = app.test_client()
    expected = client.get("/").get_json()
    results = {k: v for k, v in expected.items() if k.startswith("result_")}
    assert set(results) == {"result_file", "result_db", "result_api"}
    first_log = len(upstream.log)

    tricks = [
        "/?path=/etc/passwd&url=http://127.0.0.1:1/&query=SELECT+sqlite_version()",
        "/?sources.file.path=/etc/passwd&FANOUT_CONFIG=/etc/passwd&timeout=0",
        "/?file=../../../../etc/passwd&db=sqlite:////etc/passwd&api=file:///etc/passwd",
    ]
    headers = {"X-Forwarded-Host": "evil.example", "Host": "evil.example", "X-Url": "/hang"}
    for url in tricks:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200
        body = answer.get_json()
        assert {k: v for k, v in body.items() if k.startswith("result_")} == results
        assert body["errors"] == {}
    assert {path for path, _, _ in upstream.log[first_log:]} == {"/api/data?fixed=1"}

    for path in ("/etc/passwd", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.is_json, path
        assert b"root:" not in answer.data
    assert client.post("/", data=b'{"path": "/etc/passwd"}').status_code == 405


def test_headers_in_the_test_client_and_html_pages_keep_their_scripts(
    make_app: Callable[..., Flask], text_file: Path
) -> None:
    app = make_app(f'[sources.file]\ntype = "file"\npath = "{text_file}"\n')

    @app.get("/page")
    def page() -> str:
        return "<html><script>document.title = 'inline'</script></html>"

    @app.get("/cached")
    def cached() -> Response:
        return Response("{}", mimetype="application/json", headers={"Cache-Control": "max-age=60"})

    client = app.test_client()
    for path in ("/", "/is_prime/7", "/nowhere"):
        headers = client.get(path).headers
        for name, value in SECURITY_HEADERS.items():
            assert headers[name] == value, (path, name)
    html = client.get("/page").headers
    assert html["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert html["X-Frame-Options"] == "DENY" and html["X-Content-Type-Options"] == "nosniff"
    assert client.get("/cached").headers.getlist("Cache-Control") == ["max-age=60"]
    docs = client.get("/docs")
    if docs.status_code == 200:  # the docs page, once there, may run its scripts
        assert "default-src" not in docs.headers["Content-Security-Policy"]
