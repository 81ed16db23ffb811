"""The sql source against a real PostgreSQL server through psycopg 3, in process.

Bind parameters stay values whatever they hold, the password comes from the
environment and shows nowhere, a query past its timeout is cancelled on the
server, ``pool_size`` bounds the connections. The same under ``fanout serve``'s
gevent workers, and the server going away, are in tests/faults/test_postgres.py.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import logging
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from tests.postgres import PASSWORD, Postgres

from flask_fanout import CallError, ConfigError
from flask_fanout.service.sources.sql.guard import sql_error

DATABASE = "fanout_sources"
ENV = "FANOUT_TEST_PG_PASSWORD"

SLOW_INTERVAL = """
CREATE FUNCTION slow_interval(seconds float)
RETURNS TABLE(started timestamptz, ended timestamptz) AS $$
DECLARE begun timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_sleep(seconds);
    RETURN QUERY SELECT begun, clock_timestamp();
END $$ LANGUAGE plpgsql
"""


def prepare(postgres: Postgres, database: str) -> None:
    """A fresh database with ``users`` (2 rows) and ``slow_interval(seconds)``."""
    postgres.sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    postgres.sql(f"CREATE DATABASE {database}")
    with postgres.connect(dbname=database) as connection:
        connection.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL)")
        connection.execute("INSERT INTO users VALUES (1, 'ada'), (2, 'bob')")
        connection.execute(SLOW_INTERVAL)


@pytest.fixture(scope="module")
def db(postgres: Postgres) -> Postgres:
    prepare(postgres, DATABASE)
    return postgres


def env_url(db: Postgres, database: str = DATABASE) -> str:
    """The URL as an operator writes it: the password from ``${FANOUT_TEST_PG_PASSWORD}``."""
    return f"postgresql://postgres:${{{ENV}}}@127.0.0.1:{db.port}/{database}"


@pytest.fixture
def build(
    make_app: Callable[..., Flask], db: Postgres, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Flask]:
    """An app with a ``[sources.NAME]`` per ``NAME=query``; ``extra`` TOML goes last
    (so bare keys in it belong to the last of those tables)."""
    monkeypatch.setenv(ENV, PASSWORD)

    def make(extra: str = "", **queries: str) -> Flask:
        tables = "".join(
            f'[sources.{name}]\ntype = "sql"\nurl = "{env_url(db)}"\nquery = "{query}"\n'
            for name, query in queries.items()
        )
        return make_app(tables + extra)

    return make


def source(app: Flask, name: str) -> Any:
    return app.extensions["fanout_service"].sources[name]


def active_queries(db: Postgres, fragment: str) -> list[tuple[Any, ...]]:
    return db.sql(
        "SELECT pid, query FROM pg_stat_activity"
        " WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE %s",
        f"%{fragment}%",
    )


def test_bind_parameter_names_are_found_at_start_up(build: Callable[..., Flask]) -> None:
    app = build(
        user="SELECT name FROM users WHERE id = :user_id",
        casts="SELECT CAST(:n AS int) + 1 AS m, '10:30' AS at, 'x'::text AS t",
        fixed="SELECT 1 AS one",
    )
    assert source(app, "user").parameters == {"user_id"}
    assert source(app, "casts").parameters == {"n"}
    assert source(app, "fixed").parameters == frozenset()
    assert source(app, "user").read(5, {"user_id": 2, "unused": "x"}) == [{"name": "bob"}]


HOSTILE = [
    "'; DROP TABLE users; --",
    "1 OR 1=1",
    "ada' OR 'a'='a",
    "Zoë 北京 🙂 \u202e",
    "%s %(name)s :user_id $1 ?",
    "\\'; SELECT pg_sleep(10); --",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_stay_values(build: Callable[..., Flask], db: Postgres, value: str) -> None:
    app = build(
        echo="SELECT CAST(:v AS text) AS v, (SELECT count(*) FROM users) AS users",
        match="SELECT id FROM users WHERE name = :v",
    )
    assert source(app, "echo").read(5, {"v": value}) == [{"v": value, "users": 2}]
    assert source(app, "match").read(5, {"v": value}) == []
    with db.connect(dbname=DATABASE) as connection:
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (2,)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40, -(10**40), 0, 2**63 - 1])
def test_huge_integers_stay_values(build: Callable[..., Flask], value: int) -> None:
    app = build(echo="SELECT CAST(:v AS text) AS v", lookup="SELECT name FROM users WHERE id = :v")
    assert source(app, "echo").read(5, {"v": value}) == [{"v": str(value)}]
    assert source(app, "lookup").read(5, {"v": value}) == []


def test_a_nul_character_is_a_query_error_not_a_crash(build: Callable[..., Flask]) -> None:
    app = build(echo="SELECT CAST(:v AS text) AS v")
    with pytest.raises(CallError) as caught:
        source(app, "echo").read(5, {"v": "a\x00b"})
    assert caught.value.code == "query_failed"


def test_a_missing_bind_value_is_a_source_error(build: Callable[..., Flask]) -> None:
    app = build(user="SELECT name FROM users WHERE id = :user_id AND name = :name")
    with pytest.raises(CallError) as caught:  # a route that does not provide :name
        source(app, "user").read(5, {"user_id": 1})
    assert caught.value.code == "query_failed"
    assert ":name" in caught.value.message


def test_driver_errors_have_codes(build: Callable[..., Flask], db: Postgres) -> None:
    app = build(
        f"""
        [sources.no_database]
        type = "sql"
        url = "{env_url(db, "no_such_database")}"
        query = "SELECT 1"
        """,
        syntax="SELEC 1",
        no_table="SELECT * FROM no_such_table",
        bad_type="SELECT name FROM users WHERE id = :v",
        writes="UPDATE users SET name = 'eve' RETURNING id",
    )
    codes = {
        name: error["code"]
        for name, error in app.test_client().get("/").get_json()["errors"].items()
    }
    assert codes == {
        "syntax": "query_failed",
        "no_table": "query_failed",
        "writes": "query_failed",  # a read-only transaction
        "no_database": "unavailable",
    }
    with pytest.raises(CallError) as caught:
        source(app, "bad_type").read(5, {"v": "not a number"})
    assert caught.value.code == "query_failed"
    with pytest.raises(CallError) as caught:
        source(app, "writes").read(5)
    assert "read-only" in caught.value.message
    with db.connect(dbname=DATABASE) as connection:
        names = connection.execute("SELECT name FROM users ORDER BY id").fetchall()
    assert names == [("ada",), ("bob",)]


def test_a_query_past_its_timeout_answers_on_time_and_is_cancelled(
    build: Callable[..., Flask], db: Postgres
) -> None:
    app = build("timeout = 0.5\n", slow="SELECT pg_sleep(30) AS slept")
    started = time.monotonic()
    response = app.test_client().get("/")
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.get_json()
    assert response.get_json()["errors"]["slow"]["code"] == "timeout"
    assert elapsed < 0.5 + 1.0
    deadline = time.monotonic() + 2
    while active_queries(db, "pg_sleep(30)"):
        assert time.monotonic() < deadline, "the query still runs on the server"
        time.sleep(0.05)
    # The connection went back to the pool clean: the next read works.
    assert source(app, "slow").timeout == 0.5


def intervals(rows: list[list[dict[str, Any]]]) -> list[tuple[dt.datetime, dt.datetime]]:
    return [
        (dt.datetime.fromisoformat(row["started"]), dt.datetime.fromisoformat(row["ended"]))
        for result in rows
        for row in result
    ]


@pytest.mark.parametrize("pool_size", [1, 3])
def test_pool_size_bounds_the_connections(build: Callable[..., Flask], pool_size: int) -> None:
    app = build(f"pool_size = {pool_size}\ntimeout = 10\n", slow="SELECT * FROM slow_interval(0.4)")
    slow = source(app, "slow")
    assert slow.spec.pool_size == pool_size
    with ThreadPoolExecutor(3) as threads:
        results = list(threads.map(lambda _: slow.read(10), range(3)))
    spans = sorted(intervals(results))
    overlapping = sum(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    assert overlapping == min(pool_size, 3) - 1  # 1: one after the other; 3: all at once


def test_the_password_comes_from_the_environment_and_shows_nowhere(
    build: Callable[..., Flask], db: Postgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = build(
        f"""
        [sources.refused]
        type = "sql"
        url = "postgresql://postgres:${{{ENV}}}@127.0.0.1:1/x"
        query = "SELECT 1"
        """,
        good="SELECT name FROM users ORDER BY id",
        bad="SELECT * FROM no_such_table",
    )
    client = app.test_client()
    answer = client.get("/")
    body = answer.get_json()
    assert body["result_good"] == [{"name": "ada"}, {"name": "bob"}]  # scram: the password worked
    assert set(body["errors"]) == {"bad", "refused"}
    assert body["errors"]["refused"]["code"] == "unavailable"
    shown = [
        answer.get_data(as_text=True),
        client.get("/readyz").get_data(as_text=True),
        client.get("/metrics").get_data(as_text=True),
        client.get("/openapi.json").get_data(as_text=True),
        caplog.text,
        repr(app.extensions["fanout_service"].sources),
        repr(app.extensions["fanout_service"].config),
    ]
    for text in shown:
        assert PASSWORD not in text


def test_a_wrong_password_is_unavailable_without_showing_it(
    build: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "wrong-Password-4711")
    app = build(good="SELECT 1 AS one")
    error = app.test_client().get("/").get_json()["errors"]["good"]
    assert error["code"] == "unavailable"
    assert "password authentication failed" in error["message"]
    assert "wrong-Password-4711" not in error["message"]


def test_a_driver_message_that_quotes_the_password_is_scrubbed() -> None:
    # No driver here quotes it, but one that did must not carry it into an answer.
    secret = PASSWORD + "@/ x"
    for quoted in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)):
        error = sql_error(RuntimeError(f"FATAL: bad login {quoted}!"), secret)
        assert error.code == "query_failed"
        assert error.message == "the query failed: FATAL: bad login ***!"


def test_an_unset_variable_stops_start_up_naming_it(
    build: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    with pytest.raises(ConfigError, match=f"sources.good.url: environment variable {ENV}"):
        build(good="SELECT 1")


@pytest.mark.parametrize("bad", ["0", "-1", '"3"', "true", "2.5"])
def test_pool_size_must_be_a_positive_integer(build: Callable[..., Flask], bad: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.good\.pool_size: must be an integer >= 1"):
        build(f"pool_size = {bad}\n", good="SELECT 1")


def test_plain_postgresql_urls_mean_psycopg_3(build: Callable[..., Flask]) -> None:
    app = build(good="SELECT 1 AS one")
    assert source(app, "good").url.drivername == "postgresql+psycopg"
    assert source(app, "good").read(5) == [{"one": 1}]


def test_a_missing_driver_stops_start_up_naming_the_extra(
    build: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one thing that cannot be real here: psycopg not installed.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'flask-fanout\[postgres\]'"):
        build(good="SELECT 1")
