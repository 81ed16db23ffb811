"""GET /readyz: not ready, with the reason, when a local source cannot work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask


def readyz(app: Flask) -> tuple[int, dict[str, Any]]:
    with app.test_client().get("/readyz") as response:
        return response.status_code, response.get_json()


def test_ready_when_every_local_source_is_there(
    make_app: Callable[..., Flask], text_file: Path, sqlite_db: Path, upstream: Any
) -> None:
    app = make_app(
        f"""
        [sources.notes]
        type = "file"
        path = "{text_file}"
        [sources.db]
        type = "sql"
        url = "sqlite:///{sqlite_db}"
        query = "SELECT * FROM items"
        [sources.api]
        type = "http"
        url = "{upstream.url}/hang"
        """
    )
    status, body = readyz(app)
    assert status == 200 and body["status"] == "ready"
    sources = body["checks"]["sources"]
    assert sources["ready"] is True and sources["names"] == ["api", "db", "notes"]
    # A remote API is never called by a probe (this one would hang).
    assert sources["each"]["api"] == {
        "ready": True,
        "type": "http",
        "detail": "not probed: a remote dependency shared by every instance",
    }
    assert sources["each"]["db"]["ready"] is True


def test_a_missing_file_source_makes_it_not_ready(
    make_app: Callable[..., Flask], text_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.txt"
    app = make_app(
        f"""
        [sources.notes]
        type = "file"
        path = "{text_file}"
        [sources.gone]
        type = "file"
        path = "{missing}"
        """
    )
    status, body = readyz(app)
    assert status == 503 and body["status"] == "not_ready"
    sources = body["checks"]["sources"]
    assert sources["ready"] is False
    assert sources["detail"] == f"gone: file not found: {missing}"
    assert sources["each"]["notes"]["ready"] is True
    assert body["checks"]["cpu"]["ready"] is True

    missing.write_text("back again\n")
    assert readyz(app)[0] == 200


def test_a_missing_sqlite_file_or_an_oversized_file_is_named(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("x" * 100)
    app = make_app(
        f"""
        [sources.db]
        type = "sql"
        url = "sqlite:///{tmp_path / "nowhere.sqlite3"}"
        query = "SELECT 1"
        [sources.big]
        type = "file"
        path = "{big}"
        [sources.dir]
        type = "file"
        path = "{tmp_path}"
        """,
        FANOUT_FILE_MAX_BYTES=10,
    )
    status, body = readyz(app)
    assert status == 503
    each = body["checks"]["sources"]["each"]
    assert each["db"]["ready"] is False and "nowhere.sqlite3" in each["db"]["detail"]
    assert each["big"]["detail"] == f"{big} is larger than 10 bytes"
    assert each["dir"]["detail"] == f"not a regular file: {tmp_path}"
