"""Real processes for the fault suite: ``fanout serve``, the demo upstream, a Dask cluster.

Every process starts in its own session, and teardown kills its whole group, so
loky workers, gunicorn workers and Dask nannies go with it. Clients always use a
bounded timeout: a fault that made the service hang fails the test instead of
hanging it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.server.test_cli import free_port

REPO = Path(__file__).resolve().parents[2]
FANOUT = [sys.executable, "-m", "flask_fanout.server.cli"]
DASK = str(Path(sys.executable).with_name("dask"))


@dataclass
class Answer:
    """One HTTP answer, with how long it took."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float

    def json(self) -> Any:
        """The body as JSON, after checking it is a JSON document and not a page."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        assert b"<html" not in self.body.lower() and b"Traceback" not in self.body, self.body
        return json.loads(self.body)


def call(
    url: str,
    *,
    timeout: float,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request on a new connection; a timeout raises (the service hung)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, head, data = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, head, data = error.code, error.headers, error.read()
    return Answer(status, {k.lower(): v for k, v in head.items()}, data, time.monotonic() - started)


def post_json(url: str, payload: Any, *, timeout: float) -> Answer:
    return call(
        url,
        timeout=timeout,
        method="POST",
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )


def raw_request(
    port: int, method: str, path: str, *, headers: dict[str, str], body: Any = None
) -> Answer:
    """A request through ``http.client`` (chunked bodies, odd headers), bounded by 10 s."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.monotonic() - started,
        )
    finally:
        connection.close()


@dataclass
class Server:
    """A running ``fanout serve``."""

    base: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, *, timeout: float = 10) -> Answer:
        return call(self.base + path, timeout=timeout)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def workers(self) -> list[psutil.Process]:
        """gunicorn's worker processes (the master's children running gunicorn)."""
        return [
            p
            for p in psutil.Process(self.process.pid).children()
            if "flask_fanout.server.cli" in " ".join(p.cmdline())
        ]


@dataclass
class Processes:
    """Processes a test started: each in its own session, its group killed at the end."""

    log_dir: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self, args: list[str], *, env: dict[str, str] | None = None, name: str = "process"
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = self.log_dir / f"{name}-{len(self.started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                args,
                env=env,
                cwd=self.log_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process, log_path

    def upstream(self, port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
        """The demo upstream as a process of its own (``fanout upstream``)."""
        port = port or free_port()
        process, _ = self.start(
            [*FANOUT, "upstream", "--port", str(port)], env=service_env(), name="upstream"
        )
        wait_for_port(port, process)
        return f"http://127.0.0.1:{port}", process

    def serve(
        self,
        *args: str,
        config: str | None = None,
        env: dict[str, str] | None = None,
        ready: str = "/healthz",
    ) -> Server:
        """``fanout serve`` with a TOML config text (dedented) and extra environment."""
        port = free_port()
        command = [*FANOUT, "serve", "--port", str(port), *args]
        if config is not None:
            path = self.log_dir / f"fanout-{len(self.started)}.toml"
            path.write_text(textwrap.dedent(config))
            command += ["--config", str(path)]
        environment = service_env(FANOUT_DATA_DIR=str(self.log_dir / "data"), **(env or {}))
        process, log_path = self.start(command, env=environment, name="serve")
        server = Server(f"http://127.0.0.1:{port}", port, process, log_path)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"fanout serve exited with {process.returncode}:\n{server.log()}"
                )
            last: Any = None
            with contextlib.suppress(OSError):
                last = server.get(ready, timeout=5)
                if last.status == 200:
                    return server
            assert time.monotonic() < deadline, f"{ready}: {last} after 60 s:\n{server.log()}"
            time.sleep(0.1)

    def dask_cluster(self, nworkers: int = 1) -> tuple[str, subprocess.Popen[bytes]]:
        """A real ``dask scheduler`` and ``dask worker``; returns the address and the scheduler."""
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        scheduler, _ = self.start(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=service_env(),
            name="dask-scheduler",
        )
        wait_for_port(port, scheduler)
        self.start(
            [
                DASK,
                "worker",
                address,
                "--nworkers",
                str(nworkers),
                "--nthreads",
                "1",
                "--no-dashboard",
            ],
            env=service_env(),
            name="dask-worker",
        )
        return address, scheduler

    def close(self) -> None:
        for process in self.started:
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.started:  # whatever is left of each group, leader or not
            signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group this test started (its pid is the group id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def service_env(**extra: str) -> dict[str, str]:
    """The environment of a child: ours without FANOUT_* and FLASK_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FANOUT_", "FLASK_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited early with {process.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


def waiting_on_upstream(pid: int, count: int) -> None:
    """Wait until the upstream process holds ``count`` open connections (calls in flight)."""
    deadline = time.monotonic() + 5
    upstream = psutil.Process(pid)
    while len([c for c in upstream.net_connections() if c.status == "ESTABLISHED"]) < count:
        assert time.monotonic() < deadline, "the requests did not reach the upstream"
        time.sleep(0.02)


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes (not zombies) of the process group ``pgid``."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    yield processes
    processes.close()


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    processes = Processes(tmp_path_factory.mktemp("procs"))
    yield processes
    processes.close()
