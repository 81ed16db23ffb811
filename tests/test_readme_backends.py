"""The README's "Point it at your backends" example works as written, on real servers.

The example's ``fanout.toml`` is taken from the README and only the places that
name the operator's machines are pointed at this machine's test servers, through
``Backends.local()`` (each must appear exactly once, so a reshaped example fails): a
local HTTPS API with a private CA made by trustme that checks the bearer token,
the session's PostgreSQL with the example's user, database and table, and a text
file. The secrets come from the environment, as the README says. Then the
example's own ``curl`` request is made in process and under ``fanout serve``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from flask_fanout.service import create_app
from tests.postgres import Postgres
from tests.server.test_cli import fetch
from tests.service.sources.http.upstreams import Pki, Upstream, serving
from tests.test_readme import readme_block

SECTION = "## Point it at your backends"
API_TOKEN = "readme-t0ken-Kp4"
DB_PASSWORD = "readme-db-pw-7Hx"
NOTICE = "Maintenance on Sunday, 02:00 UTC.\n"

# (id, user_id, total, created_at): user 42's orders on both sides of the dates the
# example asks for, and user 43's, which no answer for user 42 may hold.
ORDERS = [
    (3, 42, "5.00", "2024-06-01"),
    (7, 42, "19.90", "2025-03-01"),
    (8, 43, "99.00", "2025-02-01"),
    (9, 42, "1.25", "2023-12-31"),
]


def example_command(program: str) -> list[str]:
    """The words of the one line of the example's commands that runs ``program``."""
    lines = [line for line in readme_block(SECTION, "sh").splitlines() if program in line]
    assert len(lines) == 1, lines
    return shlex.split(lines[0], comments=True)


def test_the_commands_give_the_secrets_the_example_names() -> None:
    words = example_command("fanout serve")
    assert [w.split("=")[0] for w in words if "=" in w] == ["API_TOKEN", "DB_PASSWORD"]
    assert words[-4:] == [".venv/bin/fanout", "serve", "--config", "fanout.toml"]
    example = readme_block(SECTION, "toml")
    assert "${API_TOKEN}" in example and "${DB_PASSWORD}" in example


def example_request() -> str:
    """The path and query of the ``curl`` in the example's commands."""
    parts = urlsplit(example_command("curl ")[-1])
    assert (parts.scheme, parts.netloc) == ("http", "127.0.0.1:8000")
    return f"{parts.path}?{parts.query}"


@dataclass
class Backends:
    api: Upstream
    pki: Pki
    postgres: Postgres
    notice: Path

    def local(self) -> dict[str, str]:
        """What in the example names the operator's machines, and what replaces it here."""
        return {
            "api.internal.example:8443": f"127.0.0.1:{self.api.server.server_address[1]}",
            "/etc/fanout/internal-ca.pem": str(self.pki.ca_file),
            "@db/app": f"@127.0.0.1:{self.postgres.port}/app",
            "/srv/fanout/notice.txt": str(self.notice),
        }

    def config(self, path: Path) -> Path:
        """The example, pointed at the local servers, written to ``path``."""
        text = readme_block(SECTION, "toml")
        for theirs, ours in self.local().items():
            assert text.count(theirs) == 1, f"the example no longer names {theirs!r} once"
            text = text.replace(theirs, ours)
        path.write_text(text)
        return path


def create_database(postgres: Postgres) -> None:
    """The example's user ``app`` (password ``DB_PASSWORD``), database ``app`` and ``orders``."""
    postgres.sql("DROP DATABASE IF EXISTS app WITH (FORCE)")
    postgres.sql("DROP ROLE IF EXISTS app")
    postgres.sql(f"CREATE ROLE app LOGIN PASSWORD '{DB_PASSWORD}'")
    postgres.sql("CREATE DATABASE app")
    with postgres.connect(dbname="app") as connection:
        connection.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, user_id bigint NOT NULL,"
            " total numeric(10, 2) NOT NULL, created_at date NOT NULL)"
        )
        for row in ORDERS:
            connection.execute("INSERT INTO orders VALUES (%s, %s, %s, %s)", row)
        connection.execute("GRANT SELECT ON orders TO app")


@pytest.fixture(scope="module")
def backends(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    directory = tmp_path_factory.mktemp("readme-backends")
    pki = Pki.create(directory)
    notice = directory / "notice.txt"
    notice.write_text(NOTICE)
    create_database(postgres)
    with serving(pki, token=API_TOKEN) as api:
        yield Backends(api, pki, postgres, notice)
    postgres.sql("DROP DATABASE IF EXISTS app WITH (FORCE)")
    postgres.sql("DROP ROLE IF EXISTS app")


def orders_since(since: str) -> list[dict[str, Any]]:
    """What the example's query must answer for user 42."""
    rows = [r for r in ORDERS if r[1] == 42 and r[3] >= since]
    return [{"id": r[0], "total": float(r[2])} for r in sorted(rows)]


def check_answers(get: Callable[[str], tuple[int, dict[str, Any]]], api: Upstream) -> None:
    """The example's request, ``GET /`` and bad parameters, as the README describes them."""
    request = example_request()
    since = request.split("since=", 1)[1]
    api.seen.clear()
    status, body = get(request)
    assert status == 200, body
    assert body["errors"] == {}
    assert body["result_profile"] == {"id": 42, "name": "user 42"}
    assert body["result_orders"] == orders_since(since) == [{"id": 7, "total": 19.9}]
    assert body["result_notice"] == NOTICE
    assert set(body["timing_ms"]) == {"profile", "orders", "notice", "total"}
    assert [(s.path, s.headers["authorization"]) for s in api.seen] == [
        ("/users/42", f"Bearer {API_TOKEN}")
    ]

    status, body = get("/users/42/dashboard")  # the declared default, 2024-01-01
    assert status == 200, body
    assert (
        body["result_orders"]
        == orders_since("2024-01-01")
        == [
            {"id": 3, "total": 5.0},
            {"id": 7, "total": 19.9},
        ]
    )

    status, body = get("/")
    assert status == 200, body
    assert {k for k in body if k.startswith("result_")} == {"result_notice"}
    assert body["result_notice"] == NOTICE

    status, body = get("/users/abc/dashboard")
    assert (status, body["error"]) == (404, "not_found")
    status, body = get("/users/42/dashboard?since=2025-01-01&since=2024-01-01")
    assert (status, body["error"], body["parameter"]) == (400, "invalid_parameter", "since")
    status, body = get("/users/42/dashboard?since=not-a-date")
    assert status == 200, body
    assert body["errors"]["orders"]["code"] == "query_failed"
    assert DB_PASSWORD not in str(body)
    assert body["result_profile"] == {"id": 42, "name": "user 42"}


def test_the_example_works_in_process(
    backends: Backends, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", API_TOKEN)
    monkeypatch.setenv("DB_PASSWORD", DB_PASSWORD)
    config = backends.config(tmp_path / "fanout.toml")
    app: Flask = create_app({"FANOUT_CONFIG": str(config), "FANOUT_CPU_BACKEND": "inline"})
    client = app.test_client()

    def get(path: str) -> tuple[int, dict[str, Any]]:
        response = client.get(path)
        assert response.is_json, response.data
        return response.status_code, response.get_json()

    check_answers(get, backends.api)


def test_the_example_works_under_fanout_serve(
    backends: Backends, tmp_path: Path, serve: Any
) -> None:
    config = backends.config(tmp_path / "fanout.toml")
    secrets = {"API_TOKEN": API_TOKEN, "DB_PASSWORD": DB_PASSWORD}
    base, _ = serve("--config", str(config), env=secrets)
    check_answers(lambda path: fetch(base + path), backends.api)
