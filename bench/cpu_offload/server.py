"""``fanout serve`` as a child process for the CPU benchmark, and what it is sent."""

from __future__ import annotations

import http.client
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gmpy2 import mpz

from cpu_offload.inputs import POOL_TIMEOUT, WORKERS
from harness.processes import HOST, Server, free_port
from harness.proctree import children, cmdline, descendants
from harness.results import RAW

FANOUT = Path(sys.executable).parent / "fanout"
LOKY_WORKER = "loky.backend.popen_loky_posix"


def is_loky_worker(pid: int) -> bool:
    return LOKY_WORKER in cmdline(pid)


def loky_children(pid: int) -> list[int]:
    """The loky worker processes among ``pid``'s descendants (a CPU pool's workers)."""
    return [child for child in descendants(pid)[1:] if is_loky_worker(child)]


class FanoutServer(Server):
    """``fanout serve`` on 127.0.0.1 on a free port, ready when ``/healthz`` answers."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        command = [str(FANOUT), "serve", "--host", HOST, "--port", str(self.port)]
        super().__init__(command, f"http://{HOST}:{self.port}/healthz", log=log)
        self.wait_ready(timeout=60.0)

    def workers(self) -> list[int]:
        """The gunicorn worker processes (the master's other child is the demo upstream)."""
        return [pid for pid in children(self.pid) if "upstream" not in " ".join(cmdline(pid))]

    def loky_by_worker(self) -> dict[int, list[int]]:
        return {worker: loky_children(worker) for worker in self.workers()}

    def loky_workers(self) -> list[int]:
        return [pid for pids in self.loky_by_worker().values() for pid in pids]


@contextmanager
def fanout_server(name: str = "cpu-fanout") -> Iterator[FanoutServer]:
    with FanoutServer(RAW / "logs" / f"{name}.log") as server:
        yield server


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One request; on a new connection (closed afterwards) unless ``conn`` is given."""
    own = conn is None
    if conn is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=POOL_TIMEOUT)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def post_numbers(
    port: int, body: bytes, conn: http.client.HTTPConnection | None = None
) -> list[bool]:
    status, data = request(port, "POST", "/is_prime", body, conn)
    if status != 200:
        raise RuntimeError(f"POST /is_prime answered {status}: {data[:300]!r}")
    return [item["prime"] for item in json.loads(data)["results"]]


def numbers_body(numbers: Sequence[mpz]) -> bytes:
    return json.dumps({"numbers": [str(n) for n in numbers]}).encode()


def warm_server_pools(server: FanoutServer, body: bytes, attempts: int = 20) -> int:
    """Send concurrent pairs of pooled requests until every gunicorn worker has its pool.

    Returns how many workers have their CPU pool started.
    """
    for _ in range(attempts):
        started = [len(pids) >= WORKERS for pids in server.loky_by_worker().values()]
        if started and all(started):
            break
        threads = [
            threading.Thread(target=post_numbers, args=(server.port, body)) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return sum(len(pids) >= WORKERS for pids in server.loky_by_worker().values())
