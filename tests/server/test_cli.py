"""``fanout serve`` and ``flask run`` in real subprocesses, answering real requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FANOUT = [sys.executable, "-m", "flask_fanout.server.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fetch(url: str, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_serving(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            fetch(url, timeout=10)
            return
        except (OSError, ValueError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session: SIGTERM its group, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start ``fanout serve`` with extra args; stop it (by PID) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        environment = {**os.environ, "FANOUT_DATA_DIR": str(tmp_path / "data")}
        for name in ("FANOUT_CONFIG", "PROMETHEUS_MULTIPROC_DIR"):
            environment.pop(name, None)
        environment.update(env or {})
        with open(tmp_path / "stderr.log", "ab") as log:  # the JSON logs, for tests to read
            process = subprocess.Popen(
                [*FANOUT, "serve", "--port", str(port), *args],
                env=environment,
                stderr=log,
                start_new_session=True,
            )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base + "/healthz", process)
        return base, process

    yield start
    for process in started:
        stop_group(process)


def test_serve_with_embedded_defaults(serve: Any) -> None:
    base, _ = serve()
    status, body = fetch(base + "/")
    assert status == 200, body
    assert {"result_file", "result_db", "result_api"} <= set(body)
    assert body["errors"] == {}
    assert fetch(base + "/readyz")[0] == 200


def test_serve_with_a_config_file(serve: Any, tmp_path: Path, upstream: Any) -> None:
    config = tmp_path / "fanout.toml"
    config.write_text(
        f'[sources.a]\ntype = "http"\nurl = "{upstream.url}/delay/50"\ntimeout = 0.5\n'
        f'[sources.b]\ntype = "http"\nurl = "{upstream.url}/hang"\ntimeout = 0.5\n'
    )
    base, process = serve("--config", str(config))
    status, body = fetch(base + "/")
    assert status == 200
    assert body["result_a"] == {"delay_ms": 50}
    assert body["errors"]["b"]["code"] == "timeout"
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0


def serve_config(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``fanout serve`` with the config ``text``, run to its end (a bad one stops it)."""
    config = tmp_path / "bad.toml"
    config.write_text(text)
    return subprocess.run(
        [*FANOUT, "serve", "--port", str(free_port()), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_config_stops_start_up_with_a_message(tmp_path: Path) -> None:
    result = serve_config(tmp_path, '[sources.a]\ntype = "file"\n')
    assert result.returncode == 2
    assert "sources.a.path" in result.stderr


def test_flask_run_works_without_main(tmp_path: Path, upstream: Any) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FANOUT_DATA_DIR": str(tmp_path / "data"),
        "FANOUT_UPSTREAM_URL": upstream.url,
    }
    env.pop("FANOUT_CONFIG", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "flask_fanout.service",
            "run",
            "--port",
            str(port),
        ],
        env=env,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", process)
        status, body = fetch(f"http://127.0.0.1:{port}/")
        assert status == 200 and body["errors"] == {}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def test_a_locked_database_does_not_stall_a_gevent_worker(
    serve: Any, tmp_path: Path, sqlite_db: Path, text_file: Path
) -> None:
    """SQLite's busy wait runs on a real OS thread, so the worker's other requests go on."""
    import sqlite3
    import threading

    config = tmp_path / "fanout.toml"
    config.write_text(
        f'[sources.db]\ntype = "sql"\nurl = "sqlite:///{sqlite_db}"\n'
        f'query = "SELECT * FROM items"\ntimeout = 3\n'
        f'[sources.file]\ntype = "file"\npath = "{text_file}"\n'
    )
    base, _ = serve("--config", str(config), "--workers", "1")
    locker = sqlite3.connect(sqlite_db)
    locker.execute("BEGIN EXCLUSIVE")
    finished: list[str] = []
    answers: dict[str, Any] = {}

    def slow() -> None:
        answers["slow"] = fetch(base + "/")
        finished.append("slow")

    waiting = threading.Thread(target=slow)
    waiting.start()
    try:
        time.sleep(0.5)  # let the locked read start its busy wait
        for _ in range(3):
            status, body = fetch(base + "/is_prime/7,11")
            assert status == 200 and body == {"7": True, "11": True}
        finished.append("fast")
    finally:
        waiting.join(30)
        locker.rollback()
        locker.close()
    assert finished == ["fast", "slow"]
    status, body = answers["slow"]
    assert status == 200 and body["errors"]["db"]["code"] in ("timeout", "unavailable")
    assert body["result_file"] == "hello from a real file\n"


def test_primes_under_gunicorn_with_two_workers(serve: Any) -> None:
    """Pools are created after fork, in each worker: every request is answered."""
    base, _ = serve("--workers", "2")
    big = str(2**521 - 1)
    for _ in range(6):
        status, body = fetch(f"{base}/is_prime/2,9,{big}")
        assert status == 200 and body == {"2": True, "9": False, big: True}
    request = urllib.request.Request(
        base + "/is_prime",
        data=json.dumps({"numbers": [str(10**999 + i) for i in range(200)]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        results = json.loads(response.read())["results"]
    assert len(results) == 200 and sum(r["prime"] for r in results) >= 1


def test_long_urls_reach_the_app_and_get_json_errors(serve: Any) -> None:
    base, _ = serve()
    status, body = fetch(base + "/is_prime/" + "7," * 3000 + "x")
    assert status == 400 and body["error"] == "invalid_number"


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and ``dask worker``, as an operator would start them."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"cwd": tmp_path, "start_new_session": True, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **common,  # type: ignore[call-overload]
        )
    ]
    processes.append(
        subprocess.Popen(
            [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            **common,  # type: ignore[call-overload]
        )
    )
    yield address
    for process in reversed(processes):
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_serve_on_a_dask_cluster(serve: Any, dask_cluster: str) -> None:
    base, _ = serve(env={"FANOUT_CPU_BACKEND": "dask", "FANOUT_DASK_ADDRESS": dask_cluster})
    deadline = time.monotonic() + 60
    while fetch(base + "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "never ready on the dask cluster"
        time.sleep(0.5)
    numbers = [str(10**300 + i) for i in range(300)] + [str(2**521 - 1), "561"]
    request = urllib.request.Request(
        base + "/is_prime",
        data=json.dumps({"numbers": numbers}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        results = json.loads(response.read())["results"]
    import sympy

    assert [r["prime"] for r in results] == [bool(sympy.isprime(int(n))) for n in numbers]
