"""MariaDB sources (PyMySQL, pure Python) under ``fanout serve``'s gevent workers.

The same checks as for PostgreSQL in test_postgres.py: slow queries overlap, the
workers keep answering, a query past its timeout is stopped on the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.mariadb import PASSWORD, MariaDB, running_mariadb
from tests.service.sources.sql.test_sql_mariadb import DATABASE, prepare

from .conftest import Processes
from .test_postgres import SLEEP, reads_overlap_and_the_workers_answer


@pytest.fixture(scope="module")
def server() -> Iterator[MariaDB]:
    with running_mariadb() as running:
        prepare(running)
        yield running


def sql_source(name: str, port: int, query: str, timeout: float = 10.0) -> str:
    return f"""
    [sources.{name}]
    type = "sql"
    url = "mysql://fanout:${{MYSQL_PASSWORD}}@127.0.0.1:{port}/{DATABASE}"
    query = "{query}"
    timeout = {timeout}
    """


def running(server: MariaDB, fragment: str) -> int:
    rows = server.sql(
        "SELECT count(*) FROM information_schema.PROCESSLIST"
        " WHERE COMMAND = 'Query' AND INFO LIKE %s AND ID <> CONNECTION_ID()",
        f"%{fragment}%",
    )
    return int(rows[0][0])


def test_slow_queries_overlap_and_the_workers_keep_answering(
    procs: Processes, server: MariaDB
) -> None:
    # SYSDATE(6) is the time it is evaluated (NOW() would be the statement's start).
    query = f"SELECT SYSDATE(6) AS started, SLEEP({SLEEP}) AS slept, SYSDATE(6) AS ended"
    config = sql_source("a", server.port, query) + sql_source("b", server.port, query)
    served = procs.serve(config=config, env={"MYSQL_PASSWORD": PASSWORD})
    reads_overlap_and_the_workers_answer(served, lambda: running(server, "SLEEP("))


def test_a_query_past_its_timeout_answers_on_time_and_is_stopped(
    procs: Processes, server: MariaDB
) -> None:
    config = sql_source("slow", server.port, "SELECT SLEEP(60) AS slept", timeout=0.5)
    served = procs.serve(config=config, env={"MYSQL_PASSWORD": PASSWORD})
    answer = served.get("/")
    assert answer.json()["errors"]["slow"]["code"] == "timeout"
    assert answer.elapsed < 0.5 + 1.0
    deadline = time.monotonic() + 2
    while running(server, "SLEEP(60)"):
        assert time.monotonic() < deadline, "the query still runs on the server"
        time.sleep(0.05)
