"""A real MariaDB server for the tests: Debian's ``mariadb-server``, a throwaway datadir.

Like tests/postgres.py: the package is installed when ``mariadbd`` is missing, the
data directory is new under /tmp, the server listens on a free 127.0.0.1 port
(and a socket in its directory, for setting up), runs as the ``mysql`` OS user
when we are root, and is stopped by its PID. The tests log in over TCP as
``fanout`` with a password.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.debian import installed, run_as, server_root, stop
from tests.server.test_cli import free_port

PASSWORD = "my-s3cret-Kx7"  # the ``fanout`` user's; tests check that it never leaks
_SERVER = Path("/usr/sbin/mariadbd")
_INSTALL_DB = Path("/usr/bin/mariadb-install-db")


@dataclass
class MariaDB:
    """One server: its directory, port, and the running process."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"mysql://fanout:{password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        subprocess.run(
            [
                str(_INSTALL_DB),
                "--no-defaults",
                f"--datadir={self.root / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **run_as("mysql"),
        )

    def start(self) -> None:
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(_SERVER),
                    "--no-defaults",
                    f"--datadir={self.root / 'data'}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={self.socket}",
                    f"--pid-file={self.root / 'mariadbd.pid'}",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=16M",
                    "--max-connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as("mysql"),
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (self.root / "server.log").read_text()
            with contextlib.suppress(Exception):
                self.admin().close()
                return
            assert time.monotonic() < deadline, "mariadbd not ready after 60 s"
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process)

    def admin(self) -> Any:
        """root over the socket (autocommit), for setting up and checking."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = self.admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(query, params or None)
                return list(cursor.fetchall())
        finally:
            connection.close()


@contextlib.contextmanager
def running_mariadb() -> Iterator[MariaDB]:
    """A new server with the user ``fanout``, started; stopped by PID and deleted at the end."""
    installed(lambda: _SERVER.exists() and _INSTALL_DB.exists(), "mariadb-server")
    root = server_root("fanout-mariadb-", "mysql")
    server = MariaDB(root)
    try:
        server.init()
        server.start()
        server.sql("CREATE USER 'fanout'@'127.0.0.1' IDENTIFIED BY %s", PASSWORD)
        server.sql("GRANT ALL ON *.* TO 'fanout'@'127.0.0.1'")
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
