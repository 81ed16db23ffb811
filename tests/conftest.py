"""Shared fixtures: a real upstream HTTP server, real SQLite files, real text files."""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_fanout.service import create_app
from flask_fanout.service.demo.upstream import running
from tests.postgres import postgres  # noqa: F401  (one PostgreSQL server for the session)
from tests.server.test_cli import serve  # noqa: F401  (``fanout serve`` in a subprocess, for every test)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Any]:
    """The demo upstream on 127.0.0.1: delays, hangs, 5xx, garbage on request."""
    with running() as server:
        yield server


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        connection.executemany(
            "INSERT INTO items VALUES (?, ?, ?)", [(1, "pen", 1.5), (2, "ink", 3.25)]
        )
    connection.close()
    return path


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("hello from a real file\n")
    return path


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Flask]:
    """Build the service from a TOML text, as an operator would configure it."""
    for name in ("FANOUT_CONFIG", "FANOUT_UPSTREAM_URL"):
        monkeypatch.delenv(name, raising=False)

    def build(toml: str, **overrides: Any) -> Flask:
        config = tmp_path / "fanout.toml"
        config.write_text(textwrap.dedent(toml))
        settings = {"FANOUT_CONFIG": str(config), "FANOUT_CPU_BACKEND": "inline", **overrides}
        app = create_app(settings)
        app.testing = True
        return app

    return build
