"""The demo upstream as ``fanout upstream`` runs it: for hours, under benchmark load."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def standalone() -> Iterator[tuple[psutil.Process, int]]:
    """``fanout upstream`` in a process of its own, and its port."""
    port = _free_port()
    cli = Path(sys.executable).with_name("fanout")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "flask_fanout.server.cli"]
    process = subprocess.Popen([*command, "upstream", "--port", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "fanout upstream exited"
                assert time.monotonic() < deadline, "fanout upstream did not listen"
                time.sleep(0.05)
        yield psutil.Process(process.pid), port
    finally:
        process.terminate()
        process.wait(10)


def _requests(port: int, count: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(count):
            connection.request("GET", "/api/data")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
    finally:
        connection.close()


def test_a_long_running_upstream_keeps_nothing_per_request(
    standalone: tuple[psutil.Process, int],
) -> None:
    """It used to log every request it answered: ~200 bytes each, without end
    (36 MB after the 178,000 requests of a 15 s benchmark run)."""
    process, port = standalone
    _requests(port, 3_000)  # warm: buffers, caches, the allocator's arenas
    before = process.memory_info().rss
    _requests(port, 30_000)
    grown = process.memory_info().rss - before
    assert grown < 2_000_000, f"RSS grew {grown:,} bytes over 30,000 requests"
