"""Servers under test as subprocesses: started, waited for, stopped by PID.

A server is ready when its URL answers 200. It is stopped with SIGTERM to the process
we started, then SIGKILL to it and to any of its descendants (recorded before the
stop) that outlive a grace period: gunicorn's and uvicorn's workers, process pools.
Nothing is ever stopped by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.proctree import alive, descendants

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """A server did not start or answer."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A server subprocess; use as a context manager to stop it by PID at the end."""

    def __init__(
        self,
        command: Sequence[str],
        url: str,
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.url = url
        self.log_path = log
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200; stop the server and say why if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._failed(f"{self.command[:3]} exited with {self.process.returncode}")
            if answers_200(self.url):
                return
            time.sleep(0.1)
        self._failed(f"{self.url} did not answer 200 within {timeout:g} s")

    def _failed(self, reason: str) -> None:
        self.stop()
        tail = self.log_tail()
        raise ServerError(reason + (f"; the end of its output:\n{tail}" if tail else ""))

    def log_tail(self, size: int = 2000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def stop(self, grace: float = 10.0, leftover_grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace``; descendants left after ``leftover_grace``."""
        if self.process.poll() is None:
            tree = descendants(self.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            kill_leftovers(tree[1:], leftover_grace)
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def answers_200(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def kill_leftovers(pids: Sequence[int], grace: float = 5.0) -> list[int]:
    """SIGKILL those of ``pids`` still alive after ``grace`` seconds; return them."""
    deadline = time.monotonic() + grace
    living = list(pids)
    while living and time.monotonic() < deadline:
        living = [pid for pid in living if alive(pid)]
        if living:
            time.sleep(0.1)
    for pid in living:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while any(alive(pid) for pid in living) and time.monotonic() < deadline:
        time.sleep(0.02)  # SIGKILL is not instant: wait until they are gone
    return living
