"""The I/O pool: OS threads, or greenlets when gevent has patched the process.

Both run a call and let the caller wait for the first of several to finish. Under
gevent, greenlets spawned directly cost far less than thread-pool futures (whose
locks and conditions become Python-level gevent objects), and at hundreds of
requests per second that CPU is what decides the latency.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from .blocking import gevent_is_patched


class IOPool(Protocol):
    """Start calls; wait for some to finish; give up on the rest."""

    def start(self, fn: Callable[[], Any]) -> Any: ...

    def wait_any(self, tasks: Collection[Any], timeout: float) -> Collection[Any]:
        """Wait at most ``timeout`` seconds; return the tasks that are done."""
        ...

    def result(self, task: Any) -> Any: ...

    def abandon(self, task: Any) -> None:
        """Drop a task that is past its time: cancel it if it has not started."""
        ...

    def shutdown(self) -> None: ...

    def load(self) -> tuple[int, int]:
        """(calls running, calls waiting for a slot), for metrics; never blocks."""
        ...


class ThreadIOPool:
    """A ``ThreadPoolExecutor`` sized for waiting, not for CPUs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="fanout-io")
        self._running: list[None] = []  # append/pop are atomic: a lock-free counter

    def start(self, fn: Callable[[], Any]) -> Future[Any]:
        return self.executor.submit(self._run, fn)

    def _run(self, fn: Callable[[], Any]) -> Any:
        self._running.append(None)
        try:
            return fn()
        finally:
            self._running.pop()

    def wait_any(self, tasks: Collection[Future[Any]], timeout: float) -> Collection[Future[Any]]:
        return wait(tasks, timeout=timeout, return_when=FIRST_COMPLETED).done

    def result(self, task: Future[Any]) -> Any:
        return task.result()

    def abandon(self, task: Future[Any]) -> None:
        task.cancel()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def load(self) -> tuple[int, int]:
        return len(self._running), self.executor._work_queue.qsize()


class GreenletIOPool:
    """A bounded gevent pool: one greenlet per call."""

    def __init__(self, size: int) -> None:
        from gevent.pool import Pool

        self.size = size
        self.pool = Pool(size)

    def start(self, fn: Callable[[], Any]) -> Any:
        return self.pool.spawn(fn)

    def wait_any(self, tasks: Collection[Any], timeout: float) -> Collection[Any]:
        import gevent

        gevent.wait(list(tasks), timeout=timeout, count=1)
        return [task for task in tasks if task.ready()]

    def result(self, task: Any) -> Any:
        return task.get(block=False)

    def abandon(self, task: Any) -> None:
        # A greenlet that has started is left to its own I/O timeout: killing it
        # mid-call could hand a connection in use back to its pool.
        if not task.started:
            task.kill(block=False)

    def shutdown(self) -> None:
        self.pool.kill(block=False)

    def load(self) -> tuple[int, int]:
        # A full pool blocks ``spawn`` on its semaphore: the waiters are the queue.
        semaphore = getattr(self.pool, "_semaphore", None)
        return len(self.pool), semaphore.linkcount() if semaphore is not None else 0


def io_pool(size: int) -> IOPool:
    """The right pool for this process: greenlets under gevent, else threads."""
    return GreenletIOPool(size) if gevent_is_patched() else ThreadIOPool(size)
