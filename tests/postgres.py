"""A real PostgreSQL server for the tests: Debian's ``postgresql``, a throwaway cluster.

The server binaries come from Debian's package, installed here (``apt-get``,
non-interactive) when ``/usr/lib/postgresql/*/bin/initdb`` is missing, because CI
starts from a clean machine. Each cluster is ``initdb``'d into a fresh directory
under /tmp, listens only on a free 127.0.0.1 port, checks passwords
(scram-sha-256) on TCP, runs as the ``postgres`` OS user when we are root
(PostgreSQL refuses to run as root), and is stopped by its PID. Tests are skipped,
with the reason, only where the package cannot be installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.debian import installed, run_as, server_root, stop
from tests.server.test_cli import free_port

PASSWORD = "pg-s3cret-Zq9"  # the superuser's; tests check that it never leaks


def _binaries() -> Path | None:
    """The newest installed server's bin directory, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parents[1].name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def server_binaries() -> Path:
    """The bin directory of PostgreSQL, installing Debian's package if needed."""
    installed(_binaries, "postgresql")
    binaries = _binaries()
    assert binaries is not None
    return binaries


@dataclass
class Postgres:
    """One cluster: its directory, port, and the running server's process."""

    binaries: Path
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, password: str = PASSWORD, database: str = "postgres") -> str:
        """The SQLAlchemy URL (psycopg 3) of the superuser."""
        return f"postgresql+psycopg://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            for path in (self.root, pwfile):
                shutil.chown(path, "postgres", "postgres")
        subprocess.run(
            [
                str(self.binaries / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **run_as("postgres"),
        )

    def start(self) -> None:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 (the server keeps it)
        with log:
            self.process = subprocess.Popen(
                [
                    str(self.binaries / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.root}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as("postgres"),
            )
        self._wait_ready()

    def _wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.root / "server.log").read_text(errors="replace")
                raise AssertionError(f"postgres exited with {self.process.returncode}:\n{log}")
            ready = subprocess.run(
                [str(self.binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            assert time.monotonic() < deadline, f"postgres not ready after {seconds} s"
            time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster's PID): sessions are cut, then it exits."""
        process, self.process = self.process, None
        stop(process, signal.SIGINT)

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """A psycopg connection of the superuser (autocommit), for setting up and checking."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=PASSWORD,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
            **kwargs,
        )

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement on a new connection; its rows (or [])."""
        with self.connect() as connection:
            cursor = connection.execute(query, params or None)
            return list(cursor.fetchall()) if cursor.description else []


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A new cluster, started; stopped by PID and deleted at the end."""
    root = server_root("fanout-pg-", "postgres")
    server = Postgres(server_binaries(), root / "cluster")
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The session's PostgreSQL server (tests that stop a server start their own)."""
    with running_postgres() as server:
        yield server
