"""The sql source against a real MariaDB server through PyMySQL (the ``mysql`` extra).

The same promises as for PostgreSQL (tests/service/sources/sql/test_sql_postgres.py):
bind values stay values, a query past its timeout is stopped on the server
(``max_statement_time``), the transaction is read-only, driver errors have codes,
the password from the environment shows nowhere, and a restarted server costs
no failed read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from tests.mariadb import PASSWORD, MariaDB, running_mariadb

from flask_fanout import CallError

DATABASE = "fanout_sources"
ENV = "FANOUT_TEST_MYSQL_PASSWORD"


def prepare(server: MariaDB) -> None:
    server.sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    server.sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    server.sql(f"CREATE TABLE {DATABASE}.users (id bigint PRIMARY KEY, name text NOT NULL)")
    server.sql(f"INSERT INTO {DATABASE}.users VALUES (1, 'ada'), (2, 'bob')")


@pytest.fixture(scope="module")
def server() -> Iterator[MariaDB]:
    """A server of this module's own: one test stops and starts it."""
    with running_mariadb() as running:
        prepare(running)
        yield running


@pytest.fixture
def build(
    make_app: Callable[..., Flask], server: MariaDB, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Flask]:
    """An app with a ``[sources.NAME]`` per ``NAME=query``; ``extra`` TOML goes last."""
    monkeypatch.setenv(ENV, PASSWORD)
    url = f"mysql://fanout:${{{ENV}}}@127.0.0.1:{server.port}/{DATABASE}"

    def make(extra: str = "", **queries: str) -> Flask:
        tables = "".join(
            f'[sources.{name}]\ntype = "sql"\nurl = "{url}"\nquery = "{query}"\n'
            for name, query in queries.items()
        )
        return make_app(tables + extra)

    return make


def source(app: Flask, name: str) -> Any:
    return app.extensions["fanout_service"].sources[name]


@pytest.mark.parametrize(
    "value",
    ["'; DROP TABLE users; --", "ada' OR 'a'='a", "Zoë 北京 🙂", "%s %(v)s :v ?", "\\'", 10**40],
)
def test_bind_values_stay_values(build: Callable[..., Flask], server: MariaDB, value: Any) -> None:
    app = build(
        echo="SELECT CAST(:v AS CHAR) AS v",
        match="SELECT id FROM users WHERE name = :v OR id = :v",
    )
    assert source(app, "echo").parameters == {"v"}
    assert source(app, "echo").read(5, {"v": value}) == [{"v": str(value)}]
    assert source(app, "match").read(5, {"v": value}) == []
    assert server.sql(f"SELECT count(*) FROM {DATABASE}.users") == [(2,)]


def test_driver_errors_have_codes(build: Callable[..., Flask], server: MariaDB) -> None:
    app = build(
        syntax="SELEC 1",
        no_table="SELECT * FROM no_such_table",
        writes="UPDATE users SET name = 'eve'",
        missing="SELECT name FROM users WHERE id = :id",
    )
    codes = {n: e["code"] for n, e in app.test_client().get("/").get_json()["errors"].items()}
    assert codes == dict.fromkeys(("syntax", "no_table", "writes"), "query_failed")
    with pytest.raises(CallError) as caught:
        source(app, "missing").read(5)
    assert caught.value.code == "query_failed"
    assert server.sql(f"SELECT name FROM {DATABASE}.users ORDER BY id") == [("ada",), ("bob",)]


def test_a_query_past_its_timeout_answers_on_time_and_is_stopped(
    build: Callable[..., Flask], server: MariaDB
) -> None:
    app = build("timeout = 0.5\n", slow="SELECT SLEEP(60) AS slept")
    started = time.monotonic()
    response = app.test_client().get("/")
    assert response.status_code == 504
    assert response.get_json()["errors"]["slow"]["code"] == "timeout"
    assert time.monotonic() - started < 0.5 + 1.0
    deadline = time.monotonic() + 2
    while server.sql(
        "SELECT ID FROM information_schema.PROCESSLIST"
        " WHERE COMMAND = 'Query' AND INFO LIKE %s AND ID <> CONNECTION_ID()",
        "%SLEEP(60)%",
    ):
        assert time.monotonic() < deadline, "the query still runs on the server"
        time.sleep(0.05)


def test_the_password_comes_from_the_environment_and_shows_nowhere(
    build: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(good="SELECT name FROM users ORDER BY id", bad="SELECT * FROM nope")
    client = app.test_client()
    answer = client.get("/")
    assert answer.get_json()["result_good"] == [{"name": "ada"}, {"name": "bob"}]
    for text in (
        answer.get_data(as_text=True),
        client.get("/readyz").get_data(as_text=True),
        client.get("/metrics").get_data(as_text=True),
        repr(app.extensions["fanout_service"].sources),
    ):
        assert PASSWORD not in text
    monkeypatch.setenv(ENV, "wrong-Password-4711")
    error = build(good="SELECT 1").test_client().get("/").get_json()["errors"]["good"]
    assert error["code"] == "unavailable"
    assert "wrong-Password-4711" not in error["message"]


def test_a_stopped_server_is_unavailable_and_the_source_recovers(
    build: Callable[..., Flask], server: MariaDB
) -> None:
    app = build("timeout = 2\n", users="SELECT name FROM users ORDER BY id")
    users = source(app, "users")
    assert len(users.read(2)) == 2
    server.stop()
    with pytest.raises(CallError) as caught:
        users.read(2)
    assert caught.value.code == "unavailable"
    server.start()
    assert len(users.read(2)) == 2
    server.stop()  # a restart no read saw: the dead pooled connection is replaced at once
    server.start()
    assert len(users.read(2)) == 2
