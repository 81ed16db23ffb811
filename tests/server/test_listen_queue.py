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


def test_the_wait_counts_only_for_requests_that_came_on_new_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kept-alive requests never see the listen queue: the wait is weighted by accepts."""
    from flask_fanout.server import workers
    from flask_fanout.server.workers import _BalancedServer

    clock = iter(float(second) for second in range(100))
    monkeypatch.setattr(workers.time, "monotonic", lambda: next(clock))  # 1 s per call

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        server = _BalancedServer(listener, lambda environ, start_response: [])
        clients = [socket.create_connection(listener.getsockname()) for _ in range(4)]
        try:
            deadline = time.monotonic() + 5
            while listen_queue_depth(listener) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            server.listen_queue_wait()  # the start of a period
            server.accepted += 10  # ten new connections, one request each
            server.answered += 10
            per_connection = server.listen_queue_wait()
            server.accepted += 10  # ten new connections among 1,000 kept-alive requests
            server.answered += 1000
            kept_alive = server.listen_queue_wait()
            server.answered += 1000  # no new connection: nobody waited
            assert per_connection == pytest.approx(4 / 10)  # 4 waiting, 10 accepted per second
            assert kept_alive == pytest.approx(per_connection / 100)
            assert server.listen_queue_wait() == 0.0
        finally:
            for client in clients:
                client.close()


def test_closing_while_the_fair_share_recheck_sleeps_fails_nothing() -> None:
    """The recheck that restarts accepting wakes after a close without a socket to watch."""
    import gevent

    from flask_fanout.server.workers import _BalancedServer

    server = _BalancedServer(("127.0.0.1", 0), lambda environ, start_response: [])
    server.start()
    server.stop_accepting()  # as when over its share: the recheck would start it again
    gevent.sleep(0.005)  # the recheck is asleep now
    server.close()
    server._rechecker.join(timeout=5)
    assert server._rechecker.dead and server._rechecker.exception is None
