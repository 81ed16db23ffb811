"""The ``dask`` backend: a Dask distributed cluster through ``Client.get_executor()``.

The client connects on first use, once at a time; after a failed connection
the backend fails fast for :data:`RECONNECT_DELAY` seconds instead of making
every request wait ``connect_timeout`` on a scheduler that is down. Dask
reschedules the tasks of a lost worker and the client reconnects on its own, so
nothing is discarded here. Dask's client hangs under gevent's monkey-patching:
this backend refuses to start there.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Executor
from typing import Any

from ..blocking import gevent_is_patched
from .errors import SHUT_DOWN, CpuUnavailable

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the Dask scheduler when connecting."""
RECONNECT_DELAY = 1.0
"""Seconds to fail fast after a failed connection."""

UNDER_GEVENT = (
    "the dask backend cannot run under gevent's monkey-patching (the Dask client "
    "hangs); serve with a thread-based worker class when FANOUT_CPU_BACKEND=dask"
)


class DaskBackend:
    """A client of the scheduler at ``address``; ``workers`` plans until it reports its threads."""

    slots: threading.Semaphore | None = None

    def __init__(self, address: str, workers: int, connect_timeout: float) -> None:
        self.address = address
        self.workers = workers
        self.connect_timeout = connect_timeout
        self.starts = 0
        self._threads = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._executor: Executor | None = None
        self._closed = False
        self._last_failure: tuple[float, str] | None = None

    def executor(self) -> Executor:
        client, executor = self._client, self._executor
        if executor is not None and client is not None and client.status == "running":
            return executor
        self.client()
        executor = self._executor
        if executor is None:  # shut down meanwhile
            raise CpuUnavailable(SHUT_DOWN)
        return executor

    def client(self) -> Any:
        """The client of this process, connecting (once at a time) if needed."""
        with self._lock:
            if self._closed:
                raise CpuUnavailable(SHUT_DOWN)
            client = self._client
            if client is not None and client.status == "running":
                return client
            if client is not None and client.status in ("connecting", "newly-created"):
                raise CpuUnavailable(f"reconnecting to the Dask scheduler at {self.address}")
            if gevent_is_patched():
                raise CpuUnavailable(UNDER_GEVENT)
            failure = self._last_failure
            if failure and time.monotonic() - failure[0] < RECONNECT_DELAY:
                raise CpuUnavailable(failure[1])
            stale = (self._executor, client)
            self._executor = self._client = None
            client = self._connect()
        _close(*stale)
        return client

    def _connect(self) -> Any:
        import distributed

        connect: Any = distributed.Client  # untyped in places; keep mypy --strict quiet
        try:
            client = connect(self.address, timeout=self.connect_timeout, set_as_default=False)
            threads = client.nthreads(callback_timeout=self.connect_timeout)
        except Exception as exc:
            message = f"cannot reach the Dask scheduler at {self.address}: {exc}"
            self._last_failure = (time.monotonic(), message)
            raise CpuUnavailable(message) from exc
        self._last_failure = None
        self._client = client
        self._threads = sum(threads.values())
        # pure=False: identical chunks from two requests must be two tasks, so
        # that cancelling one request's chunk cannot cancel the other's.
        self._executor = client.get_executor(pure=False)
        self.starts += 1
        return client

    def parallelism(self) -> int:
        return self._threads if self._threads > 0 else self.workers

    def ready(self) -> tuple[bool, str]:
        """Connect if needed and ask the scheduler for its workers, within ``connect_timeout``."""
        try:
            threads = self.client().nthreads(callback_timeout=self.connect_timeout)
        except CpuUnavailable as exc:
            return False, exc.message
        except Exception as exc:
            return False, f"Dask scheduler at {self.address} did not answer: {exc}"
        self._threads = sum(threads.values())
        if not threads:
            return False, f"Dask scheduler at {self.address} has no workers"
        return True, (
            f"Dask scheduler at {self.address}: {len(threads)} workers, {self._threads} threads"
        )

    def is_unavailable(self, exc: BaseException) -> bool:
        from distributed.comm.core import CommClosedError
        from distributed.scheduler import KilledWorker

        return isinstance(exc, KilledWorker | CommClosedError)

    def submitted(self, executor: Executor) -> None:
        pass

    def discard(self, executor: Executor) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stale = (self._executor, self._client)
            self._executor = self._client = None
        _close(*stale)


def _close(executor: Executor | None, client: Any) -> None:
    if executor is not None:
        executor.shutdown(wait=False)
    if client is not None:
        with contextlib.suppress(Exception):  # a client that lost its scheduler
            client.close(timeout=2)
