"""PostgreSQL sources under ``fanout serve``'s default gevent workers.

psycopg 3 waits on libpq's socket in C unless gevent patched ``select`` before
psycopg was imported; either way the sql source runs its connects and queries on
real threads, so slow queries overlap and the worker's hub keeps answering. A
query past its timeout answers on time and is cancelled on the server; a
stopped server is ``unavailable`` and the source recovers when it is back; the
password, taken from the environment, shows nowhere.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.postgres import PASSWORD, Postgres, running_postgres
from tests.service.sources.sql.test_sql_postgres import prepare

from .conftest import Processes, Server

DATABASE = "fanout_faults"
SLEEP = 1.5  # seconds each slow query sleeps on the server
REQUESTS = 4  # concurrent requests, each reading two slow sources


def sql_source(name: str, port: int, query: str, timeout: float = 10.0) -> str:
    return f"""
    [sources.{name}]
    type = "sql"
    url = "postgresql://postgres:${{PG_PASSWORD}}@127.0.0.1:{port}/{DATABASE}"
    query = "{query}"
    timeout = {timeout}
    """


def serve(procs: Processes, config: str, **env: str) -> Server:
    return procs.serve(config=config, env={"PG_PASSWORD": PASSWORD, **env})


@pytest.fixture(scope="module")
def db(postgres: Postgres) -> Postgres:
    prepare(postgres, DATABASE)
    return postgres


def ours_running(db: Postgres, fragment: str) -> int:
    """Our sessions' statements running now on the server that contain ``fragment``."""
    rows = db.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        " AND application_name = 'flask-fanout' AND query LIKE %s",
        f"%{fragment}%",
    )
    return int(rows[0][0])


@pytest.mark.parametrize(
    "wait",
    [
        pytest.param("", id="as-imported"),  # after gevent's patching: psycopg's Python wait
        pytest.param("wait_c", id="wait_c"),  # as if imported before it: libpq waited on in C
    ],
)
def test_slow_queries_overlap_and_the_workers_keep_answering(
    procs: Processes, db: Postgres, wait: str
) -> None:
    query = f"SELECT * FROM slow_interval({SLEEP})"
    sources = sql_source("a", db.port, query) + sql_source("b", db.port, query)
    server = serve(procs, sources, **({"PSYCOPG_WAIT_FUNC": wait} if wait else {}))
    reads_overlap_and_the_workers_answer(server, lambda: ours_running(db, "slow_interval"))


def reads_overlap_and_the_workers_answer(server: Server, running: Callable[[], int]) -> None:
    """``REQUESTS`` concurrent ``GET /`` of two slow sources ``a`` and ``b``.

    Each row of theirs is a ``started``/``ended`` pair from the database's clock;
    ``running()`` counts the queries running on the server.
    """
    assert server.get("/").status == 200  # connections opened, first-connect checks done
    with ThreadPoolExecutor(REQUESTS) as clients:
        answers = [clients.submit(server.get, "/") for _ in range(REQUESTS)]
        deadline = time.monotonic() + 10
        while running() < 2 * REQUESTS:
            assert time.monotonic() < deadline, "the queries did not all reach the server"
            time.sleep(0.02)
        # Every query is sleeping on the server now: each worker must still answer.
        for _ in range(8):
            assert server.get("/healthz", timeout=SLEEP).status == 200
        assert running() == 2 * REQUESTS, "/healthz answered only after the queries"
        bodies = [answer.result().json() for answer in answers]
    spans = [
        (to_datetime(row["started"]), to_datetime(row["ended"]))
        for body in bodies
        for name in ("a", "b")
        for row in body[f"result_{name}"]
    ]
    assert len(spans) == 2 * REQUESTS
    # As recorded by the database's clock: every query started before any ended.
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def to_datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_a_query_past_its_timeout_answers_on_time_and_is_cancelled(
    procs: Processes, db: Postgres
) -> None:
    server = serve(
        procs,
        sql_source("slow", db.port, "SELECT pg_sleep(60) AS slept", timeout=0.5)
        + sql_source("fast", db.port, "SELECT count(*) AS users FROM users"),
    )
    for _ in range(3):
        answer = server.get("/")
        body = answer.json()
        assert answer.status == 200, body
        assert body["errors"]["slow"]["code"] == "timeout"
        assert body["result_fast"] == [{"users": 2}]
        assert answer.elapsed < 0.5 + 1.0
        deadline = time.monotonic() + 2
        while ours_running(db, "pg_sleep(60)"):
            assert time.monotonic() < deadline, "the query still runs on the server"
            time.sleep(0.05)


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A server of this test's own, to stop and start again."""
    with running_postgres() as server:
        prepare(server, DATABASE)
        yield server


def test_a_stopped_server_is_unavailable_and_the_source_recovers(
    procs: Processes, own_postgres: Postgres
) -> None:
    server = serve(
        procs,
        sql_source("users", own_postgres.port, "SELECT name FROM users ORDER BY id", timeout=2),
    )
    for _ in range(6):  # connections pooled in both workers
        assert server.get("/").json()["result_users"] == [{"name": "ada"}, {"name": "bob"}]
    own_postgres.stop()
    for _ in range(4):
        answer = server.get("/")
        assert answer.status == 502
        assert answer.json()["errors"]["users"]["code"] == "unavailable"
        assert answer.elapsed < 2 + 1.0
    own_postgres.start()  # same port, same data
    for _ in range(6):  # every worker: its dead pooled connections are replaced
        answer = server.get("/")
        assert answer.status == 200, answer.json()
        assert answer.json()["result_users"] == [{"name": "ada"}, {"name": "bob"}]
    # A restart no request saw: the first read on a dead pooled connection retries
    # once on a new one instead of failing.
    own_postgres.stop()
    own_postgres.start()
    for _ in range(6):
        answer = server.get("/")
        assert answer.status == 200, answer.json()


def test_the_password_never_shows(procs: Processes, db: Postgres) -> None:
    server = serve(
        procs,
        sql_source("good", db.port, "SELECT name FROM users ORDER BY id")
        + sql_source("refused", 1, "SELECT 1")
        + sql_source("bad", db.port, "SELECT * FROM no_such_table")
        + sql_source("slow", db.port, "SELECT pg_sleep(5)", timeout=0.3),
    )
    first = server.get("/")
    body: dict[str, Any] = first.json()
    assert body["result_good"] == [{"name": "ada"}, {"name": "bob"}]
    assert {name: e["code"] for name, e in body["errors"].items()} == {
        "refused": "unavailable",
        "bad": "query_failed",
        "slow": "timeout",
    }
    shown = [first.body.decode()]
    for path in ("/readyz", "/metrics", "/openapi.json", "/"):
        shown.append(server.get(path).body.decode())
    time.sleep(1.5)  # the metrics flusher and the access log have written
    shown += [server.get("/metrics").body.decode(), server.log()]
    for text in shown:
        assert PASSWORD not in text


def test_route_parameters_reach_the_query_only_as_bind_values(
    procs: Processes, db: Postgres
) -> None:
    routes = """
    [routes.user]
    path = "/users/<int:user_id>"
    sources = ["by_id"]

    [routes.named]
    path = "/named/<name>"
    sources = ["by_name"]

    [routes.named.query.limit]
    type = "int"
    default = 10
    """
    server = serve(
        procs,
        sql_source("by_id", db.port, "SELECT name FROM users WHERE id = :user_id")
        + sql_source(
            "by_name",
            db.port,
            "SELECT CAST(:name AS text) AS asked, (SELECT count(*) FROM users) AS users,"
            " CAST(:limit AS text) AS lim",
        )
        + routes,
    )
    assert server.get("/users/2").json()["result_by_id"] == [{"name": "bob"}]
    assert server.get("/users/9223372036854775807").json()["result_by_id"] == []
    hostile = {
        "%27%3B%20DROP%20TABLE%20users%3B%20--": "'; DROP TABLE users; --",
        "ada%27%20OR%20%27a%27%3D%27a": "ada' OR 'a'='a",
        "Zo%C3%AB%20%E5%8C%97%20%F0%9F%99%82": "Zoë 北 🙂",
        "%25s%20%3Auser_id%20%241": "%s :user_id $1",
    }
    for path, value in hostile.items():
        body = server.get(f"/named/{path}?limit=-9223372036854775807").json()
        assert body["result_by_name"] == [
            {"asked": value, "users": 2, "lim": "-9223372036854775807"}
        ], body
    with db.connect(dbname=DATABASE) as connection:
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (2,)
