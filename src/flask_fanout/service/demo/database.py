"""The embedded default database: a small SQLite file, created and seeded once."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

DEMO_PRODUCTS = [
    (1, "keyboard", 49.5),
    (2, "monitor", 189.0),
    (3, "mouse", 19.99),
]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "flask-fanout"


def ensure_demo_database(directory: Path | None = None) -> Path:
    """Return the demo database's path, creating and seeding it on first start.

    Several gunicorn workers may start at once: the file is built under a temporary
    name and renamed into place, so nobody ever opens a half-seeded database.
    """
    directory = directory or default_data_dir()
    path = directory / "demo.sqlite3"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".demo-", suffix=".sqlite3", dir=directory)
    os.close(fd)
    try:
        with sqlite3.connect(temporary) as connection:
            connection.execute(
                "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL)"
            )
            connection.executemany("INSERT INTO products VALUES (?, ?, ?)", DEMO_PRODUCTS)
        connection.close()
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path
