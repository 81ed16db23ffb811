"""The I/O pool: OS threads, or greenlets when gevent has patched the process.

Both run a call and let the caller wait for the first of several to finish. Under
gevent, worker greenlets cost far less than thread-pool futures (whose locks and
conditions become Python-level gevent objects), and at hundreds of requests per
second that CPU is what decides the latency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import cache
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
    """At most ``size`` worker greenlets, kept and reused from call to call.

    A fresh greenlet per call (``gevent.pool.Pool.spawn``) cost ~25 us a call
    here, most of it Python 3.11 mapping and unmapping a new frame stack for
    each greenlet (two system calls and its page faults); a parked worker takes
    its next call for ~7 us (``python bench/iopool_bench.py``). A call beyond
    ``size`` busy workers waits in a queue for the next free one.
    """

    def __init__(self, size: int) -> None:
        import gevent

        self.size = size
        self._hub = gevent.get_hub()
        self._idle: list[Any] = []  # parked workers, the most recently used last
        self._queue: deque[Any] = deque()
        self._workers: set[Any] = set()
        self._busy = 0
        self._task = _task_class()

    def start(self, fn: Callable[[], Any]) -> Any:
        import gevent

        task = self._task(fn)
        if self._idle:
            self._hub.loop.run_callback(self._idle.pop().switch, task)
        elif len(self._workers) < self.size:
            self._busy += 1  # counted as busy from here: it was spawned for this call
            self._workers.add(gevent.spawn(self._work, task))
        else:
            self._queue.append(task)
        return task

    def _work(self, task: Any) -> None:
        from gevent import getcurrent

        me = getcurrent()
        try:
            while True:
                task.run()
                if self._queue:
                    task = self._queue.popleft()
                    continue
                self._busy -= 1
                self._idle.append(me)
                task = self._hub.switch()  # parked until ``start`` hands it a call
                self._busy += 1
        finally:
            self._workers.discard(me)

    def wait_any(self, tasks: Collection[Any], timeout: float) -> Collection[Any]:
        import gevent

        gevent.wait(list(tasks), timeout=timeout, count=1)
        return [task for task in tasks if task.ready()]

    def result(self, task: Any) -> Any:
        return task.get(block=False)

    def abandon(self, task: Any) -> None:
        # A call that has started is left to its own I/O timeout: killing it
        # mid-call could hand a connection in use back to its pool.
        task.cancelled = True

    def shutdown(self) -> None:
        import gevent

        self._queue.clear()
        self._idle.clear()
        gevent.killall(list(self._workers), block=False)

    def load(self) -> tuple[int, int]:
        return self._busy, len(self._queue)


@cache
def _task_class() -> type:
    from gevent.event import AsyncResult

    class GreenletTask(AsyncResult):  # type: ignore[misc]  # gevent has no types
        """A call for a worker greenlet; waited for like any gevent result."""

        def __init__(self, fn: Callable[[], Any]) -> None:
            super().__init__()
            self.fn: Callable[[], Any] | None = fn
            self.cancelled = False

        def run(self) -> None:
            if self.cancelled:
                return
            fn, self.fn = self.fn, None  # the call's closure may hold large answers
            if fn is None:
                return
            try:
                self.set(fn())
            except Exception as exc:
                self.set_exception(exc)

    return GreenletTask


def io_pool(size: int) -> IOPool:
    """The right pool for this process: greenlets under gevent, else threads."""
    return GreenletIOPool(size) if gevent_is_patched() else ThreadIOPool(size)
