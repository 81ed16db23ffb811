"""Failing sources under ``fanout serve``: every fault is one source's JSON error.

One served process reads a good file and a good slow upstream call next to
every kind of failing source: an upstream (a process of its own) that hangs, is
too slow, answers 5xx, garbage or half an answer, or is not there; a missing
SQLite file, a bad query, a locked database; a missing file and one over the cap.
Each answer must come back within the sources' timeouts (plus a margin), carry
the good results and one error per failing source, and the process keeps serving.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.server.test_cli import free_port

from .conftest import Processes, Server, waiting_on_upstream

TIMEOUT = 0.5  # seconds, the failing sources' timeout
SLOW_OK_TIMEOUT = 2.0  # the slow source that must still succeed
BOUND = SLOW_OK_TIMEOUT + 3.0  # no answer may take longer than this: "nothing hangs"

EXPECTED_ERRORS = {
    "hang": "timeout",
    "too_slow": "timeout",
    "server_error": "bad_response",
    "garbage": "bad_response",
    "cut_off": "bad_response",
    "refused": "unavailable",
    "db_missing": "unavailable",
    "db_bad_query": "query_failed",
    "file_missing": "unavailable",
    "file_too_big": "too_large",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "shop.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        connection.executemany("INSERT INTO items VALUES (?, ?)", [(1, "pen"), (2, "ink")])
    connection.close()
    return path


@pytest.fixture(scope="module")
def faulty(module_procs: Processes, shop: Path) -> Server:
    upstream, _ = module_procs.upstream()
    files = module_procs.log_dir
    (files / "notes.txt").write_text("hello from a real file\n")
    (files / "big.txt").write_bytes(b"x" * 4096)
    http = {
        "slow": ("/delay/300", SLOW_OK_TIMEOUT),
        "hang": ("/hang", TIMEOUT),
        "too_slow": ("/delay/5000", TIMEOUT),
        "server_error": ("/status/503", TIMEOUT),
        "garbage": ("/garbage", TIMEOUT),
        "cut_off": ("/close", TIMEOUT),
    }
    config = "".join(
        f'[sources.{name}]\ntype = "http"\nurl = "{upstream}{path}"\ntimeout = {timeout}\n'
        for name, (path, timeout) in http.items()
    )
    config += f"""
        [sources.refused]
        type = "http"
        url = "http://127.0.0.1:{free_port()}/api/data"
        timeout = {TIMEOUT}
        [sources.db]
        type = "sql"
        url = "sqlite:///{shop}"
        query = "SELECT id, name FROM items ORDER BY id"
        timeout = {TIMEOUT}
        [sources.db_missing]
        type = "sql"
        url = "sqlite:///{files / "absent.sqlite3"}"
        query = "SELECT 1"
        timeout = {TIMEOUT}
        [sources.db_bad_query]
        type = "sql"
        url = "sqlite:///{shop}"
        query = "SELEC nonsense FROM items"
        timeout = {TIMEOUT}
        [sources.file]
        type = "file"
        path = "{files / "notes.txt"}"
        [sources.file_missing]
        type = "file"
        path = "{files / "nope.txt"}"
        [sources.file_too_big]
        type = "file"
        path = "{files / "big.txt"}"
    """
    config = "\n".join(line.strip() for line in config.splitlines())
    return module_procs.serve(
        "--workers", "1", config=config, env={"FANOUT_FILE_MAX_BYTES": "1024"}
    )


def check_partial(body: dict[str, Any]) -> None:
    """The good sources answered; every failing one is its own JSON error."""
    assert body["result_file"] == "hello from a real file\n"
    assert body["result_slow"] == {"delay_ms": 300}
    for name, code in EXPECTED_ERRORS.items():
        assert body["errors"][name]["code"] == code, (name, body["errors"][name])
        assert body["errors"][name]["message"], name
        assert f"result_{name}" not in body


def test_every_fault_is_one_sources_error_in_a_partial_answer(faulty: Server) -> None:
    answer = faulty.get("/", timeout=BOUND)
    assert answer.status == 200
    body = answer.json()
    check_partial(body)
    assert body["result_db"] == [{"id": 1, "name": "pen"}, {"id": 2, "name": "ink"}]
    for name in ("hang", "too_slow"):
        assert TIMEOUT * 1000 <= body["timing_ms"][name] < BOUND * 1000
    assert faulty.get("/healthz").json() == {"status": "ok"}


def test_thirty_concurrent_faulty_fan_outs_all_answer_in_time(faulty: Server) -> None:
    """Hung and broken sources left behind by one request do not block the next ones."""
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda _: faulty.get("/", timeout=BOUND), range(30)))
    for answer in answers:
        assert answer.status == 200
        check_partial(answer.json())
    assert faulty.get("/healthz").status == 200
    assert faulty.get("/is_prime/7,8").json() == {"7": True, "8": False}


def test_a_locked_database_is_an_error_then_recovers(faulty: Server, shop: Path) -> None:
    locker = sqlite3.connect(shop)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        answer = faulty.get("/", timeout=BOUND)
        # Other requests go on while the locked read waits (on a real OS thread).
        assert faulty.get("/healthz", timeout=TIMEOUT + 2).status == 200
    finally:
        locker.rollback()
        locker.close()
    assert answer.status == 200
    body = answer.json()
    assert body["errors"]["db"]["code"] in ("unavailable", "timeout"), body["errors"]["db"]
    assert "result_db" not in body
    check_partial(body)
    again = faulty.get("/", timeout=BOUND).json()
    assert again["result_db"] == [{"id": 1, "name": "pen"}, {"id": 2, "name": "ink"}]


def test_an_upstream_killed_mid_request_then_restarted(procs: Processes) -> None:
    """In-flight calls fail fast when the upstream dies; everything fails 502; then recovery."""
    port = free_port()
    upstream, process = procs.upstream(port)
    server = procs.serve(
        "--workers",
        "1",
        config=f"""
            [sources.slow]
            type = "http"
            url = "{upstream}/delay/1500"
            timeout = 5
            [sources.fast]
            type = "http"
            url = "{upstream}/api/data"
            timeout = 5
        """,
    )
    assert server.get("/", timeout=10).status == 200  # warm keep-alive connections
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda: answers.append(server.get("/", timeout=5 + 3)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    waiting_on_upstream(process.pid, 5 + 1)  # 5 "slow" calls, and "fast" ones reuse one
    time.sleep(0.2)  # "fast" answers; "slow" is still waiting for its 1.5 s
    killed_at = time.monotonic()
    process.kill()  # the whole upstream: its connections die mid-answer
    process.wait(10)
    for thread in threads:
        thread.join(10)
    assert len(answers) == 5
    for answer in answers:
        body = answer.json()
        assert answer.status in (200, 502), body  # 200 if "fast" answered before the kill
        assert body["errors"]["slow"]["code"] in ("bad_response", "unavailable"), body
        assert time.monotonic() - killed_at < 5, "the cut was noticed, not waited out"

    down = server.get("/", timeout=5 + 3)
    assert down.status == 502
    assert {e["code"] for e in down.json()["errors"].values()} <= {"unavailable", "bad_response"}
    assert down.elapsed < 5, "a refused connection is not a timeout"
    assert server.get("/healthz").status == 200

    procs.upstream(port)
    deadline = time.monotonic() + 10
    while (back := server.get("/", timeout=5 + 3)).status != 200 or back.json()["errors"]:
        assert time.monotonic() < deadline, back.json()
        time.sleep(0.2)
    assert back.json()["result_fast"]["items"]


def test_an_upstream_restart_costs_no_answer(procs: Processes) -> None:
    port = free_port()
    upstream, process = procs.upstream(port)
    server = procs.serve(
        "--workers",
        "1",
        config=f'[sources.api]\ntype = "http"\nurl = "{upstream}/delay/200"\ntimeout = 3\n',
    )
    with ThreadPoolExecutor(8) as pool:  # leave several idle keep-alive connections
        assert all(a.status == 200 for a in pool.map(lambda _: server.get("/"), range(8)))
    process.kill()
    process.wait(10)
    down = server.get("/", timeout=3 + 3)
    assert down.status == 502
    assert down.json()["errors"]["api"]["code"] == "unavailable", down.json()
    procs.upstream(port)
    back = server.get("/", timeout=3 + 3)
    assert back.status == 200 and back.json()["errors"] == {}, back.json()
