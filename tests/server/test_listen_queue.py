"""The listen queue's depth, read from the kernel: what the admission controller adds as wait."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from flask_fanout.server.workers import listen_queue_depth

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO of a listener is Linux")


def test_the_depth_counts_connections_not_yet_accepted() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        assert listen_queue_depth(listener) == 0
        clients = [socket.create_connection(listener.getsockname()) for _ in range(5)]
        try:
            deadline = time.monotonic() + 5
            while listen_queue_depth(listener) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert listen_queue_depth(listener) == 5
            listener.accept()[0].close()
            assert listen_queue_depth(listener) == 4
        finally:
            for client in clients:
                client.close()


def test_an_unknown_depth_is_zero() -> None:
    with socket.socket(socket.AF_UNIX) as not_tcp:
        assert listen_queue_depth(not_tcp) == 0
