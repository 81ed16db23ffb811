"""GET /: real files, real SQLite files and a real HTTP upstream on 127.0.0.1."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask


def three_sources(text_file: Path, sqlite_db: Path, api_url: str, **timeouts: float) -> str:
    def timeout(name: str) -> str:
        return f"timeout = {timeouts[name]}" if name in timeouts else ""

    return f"""
        [sources.file]
        type = "file"
        path = "{text_file}"
        {timeout("file")}

        [sources.db]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT id, name, price FROM items ORDER BY id"
        {timeout("db")}

        [sources.api]
        type = "http"
        url = "{api_url}"
        {timeout("api")}
    """


def get(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/")
    assert response.is_json, response.data[:200]
    return response.status_code, response.get_json()


def test_every_source_answers(
    make_app: Callable[..., Flask], text_file: Path, sqlite_db: Path, upstream: Any
) -> None:
    app = make_app(three_sources(text_file, sqlite_db, upstream.url + "/api/data"))
    status, body = get(app)
    assert status == 200
    assert body["result_file"] == "hello from a real file\n"
    assert body["result_db"] == [
        {"id": 1, "name": "pen", "price": 1.5},
        {"id": 2, "name": "ink", "price": 3.25},
    ]
    assert body["result_api"]["items"][0]["name"] == "alpha"
    assert body["errors"] == {}
    assert set(body["timing_ms"]) == {"file", "db", "api", "total"}


def test_sources_are_read_at_the_same_time(make_app: Callable[..., Flask], upstream: Any) -> None:
    marks = [f"/delay/300?overlap={i}" for i in range(3)]
    toml = "".join(
        f'[sources.s{i}]\ntype = "http"\nurl = "{upstream.url}{mark}"\n'
        for i, mark in enumerate(marks)
    )
    status, body = get(make_app(toml))
    assert status == 200 and body["errors"] == {}
    deadline = time.monotonic() + 5  # the upstream logs a request just after answering it
    while len([p for p, _, _ in upstream.log if p in marks]) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    intervals = [(start, end) for path, start, end in upstream.log if path in marks]
    assert len(intervals) == 3
    assert max(s for s, _ in intervals) < min(e for _, e in intervals), "requests overlapped"


def test_a_hung_source_times_out_while_the_others_answer(
    make_app: Callable[..., Flask], text_file: Path, sqlite_db: Path, upstream: Any
) -> None:
    app = make_app(three_sources(text_file, sqlite_db, upstream.url + "/hang", api=0.3))
    status, body = get(app)
    assert status == 200
    assert body["errors"]["api"]["code"] == "timeout"
    assert "result_api" not in body
    assert body["result_file"] and body["result_db"]
    assert body["timing_ms"]["api"] >= 300


def test_all_sources_timing_out_is_504(make_app: Callable[..., Flask], upstream: Any) -> None:
    toml = "".join(
        f'[sources.s{i}]\ntype = "http"\nurl = "{upstream.url}/hang"\ntimeout = 0.2\n'
        for i in range(2)
    )
    status, body = get(make_app(toml))
    assert status == 504
    assert {e["code"] for e in body["errors"].values()} == {"timeout"}


def test_all_sources_failing_is_502(
    make_app: Callable[..., Flask], tmp_path: Path, upstream: Any
) -> None:
    toml = f"""
        [sources.missing]
        type = "file"
        path = "{tmp_path / "nope.txt"}"
        [sources.broken]
        type = "http"
        url = "{upstream.url}/status/500"
        [sources.slow]
        type = "http"
        url = "{upstream.url}/hang"
        timeout = 0.2
    """
    status, body = get(make_app(toml))
    assert status == 502
    assert body["errors"]["missing"]["code"] == "unavailable"
    assert body["errors"]["broken"]["code"] == "bad_response"
    assert body["errors"]["slow"]["code"] == "timeout"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_http_faults_are_per_source_errors(make_app: Callable[..., Flask], upstream: Any) -> None:
    cases = {
        "server_error": ("/status/503", "bad_response"),
        "not_found": ("/status/404", "bad_response"),
        "garbage": ("/garbage", "bad_response"),
        "cut_off": ("/close", "bad_response"),
    }
    toml = "".join(
        f'[sources.{name}]\ntype = "http"\nurl = "{upstream.url}{path}"\n'
        for name, (path, _) in cases.items()
    )
    toml += f'[sources.refused]\ntype = "http"\nurl = "http://127.0.0.1:{_free_port()}/"\n'
    toml += f'[sources.text]\ntype = "http"\nurl = "{upstream.url}/text"\n'
    toml += f'[sources.chunked]\ntype = "http"\nurl = "{upstream.url}/chunked"\n'
    status, body = get(make_app(toml))
    assert status == 200
    assert body["result_text"] == "plain words"
    assert body["result_chunked"]["items"][2]["name"] == "gamma"
    for name, (_, code) in cases.items():
        assert body["errors"][name]["code"] == code, name
        assert body["errors"][name]["message"]
    assert body["errors"]["refused"]["code"] == "unavailable"


def test_sql_faults_are_per_source_errors(
    make_app: Callable[..., Flask], sqlite_db: Path, tmp_path: Path
) -> None:
    toml = f"""
        [sources.bad_sql]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELEC nonsense"
        [sources.no_table]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT * FROM nowhere"
        [sources.no_file]
        type = "sql"
        url = "sqlite:///{tmp_path / "absent.sqlite3"}"
        query = "SELECT 1"
        [sources.good]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT count(*) AS n FROM items"
    """
    status, body = get(make_app(toml))
    assert status == 200
    assert body["result_good"] == [{"n": 2}]
    assert body["errors"]["bad_sql"]["code"] == "query_failed"
    assert body["errors"]["no_table"]["code"] == "query_failed"
    assert body["errors"]["no_file"]["code"] == "unavailable"
    assert not (tmp_path / "absent.sqlite3").exists(), "reading must not create a database"


def test_a_locked_database_is_a_clean_error(
    make_app: Callable[..., Flask], sqlite_db: Path
) -> None:
    toml = f"""
        [sources.db]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT * FROM items"
        timeout = 0.3
    """
    app = make_app(toml)
    locker = sqlite3.connect(sqlite_db)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        status, body = get(app)
    finally:
        locker.rollback()
        locker.close()
    assert status in (502, 504)
    assert body["errors"]["db"]["code"] in ("unavailable", "timeout")
    status, body = get(app)
    assert status == 200 and len(body["result_db"]) == 2


def test_a_runaway_query_is_stopped_at_its_timeout(
    make_app: Callable[..., Flask], sqlite_db: Path
) -> None:
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    toml = f"""
        [sources.db]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "{endless}"
        timeout = 0.3
    """
    status, body = get(make_app(toml))
    assert status == 504
    assert body["errors"]["db"]["code"] == "timeout"


def test_file_over_the_size_cap(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    toml = f'[sources.big]\ntype = "file"\npath = "{big}"\n'
    status, body = get(make_app(toml, FANOUT_FILE_MAX_BYTES=1024))
    assert status == 502
    assert body["errors"]["big"]["code"] == "too_large"


def test_http_sources_reuse_keep_alive_connections(
    make_app: Callable[..., Flask], upstream: Any
) -> None:
    app = make_app(f'[sources.api]\ntype = "http"\nurl = "{upstream.url}/api/data"\n')
    get(app)
    before = upstream.connections
    for _ in range(5):
        status, body = get(app)
        assert status == 200 and body["errors"] == {}
    assert upstream.connections == before, "every call went over the kept-alive connection"


def test_a_connection_closed_by_the_server_while_idle_is_replaced(
    make_app: Callable[..., Flask], upstream: Any
) -> None:
    app = make_app(f'[sources.once]\ntype = "http"\nurl = "{upstream.url}/once"\n')
    for _ in range(3):
        status, body = get(app)
        assert status == 200 and body["result_once"] == {"once": True}
