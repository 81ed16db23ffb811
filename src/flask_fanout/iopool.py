"""The I/O pool: OS threads, or greenlets when gevent has patched the process.

Both run a call and let the caller wait for the first of several to finish. Under
gevent, worker greenlets cost far less than thread-pool futures (whose locks and
conditions become Python-level gevent objects), and at hundreds of requests per
second that CPU is what decides the latency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from .blocking import gevent_is_patched


class IOPool(Protocol):
    """Start calls; wait for some to finish; give up on the rest."""

    def start(self, fn: Callable[[], Any]) -> Any: ...

    def wait_any(self, tasks: Collection[Any], timeout: float) -> Collection[Any]:
        """Wait for the first of ``tasks``, at most ``timeout`` seconds; return those done."""
        ...

    def wait_all(self, tasks: Collection[Any], timeout: float) -> Collection[Any]:
        """Wait for every one of ``tasks``, at most ``timeout`` seconds; return those done."""
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

    def wait_all(self, tasks: Collection[Future[Any]], timeout: float) -> Collection[Future[Any]]:
        return wait(tasks, timeout=timeout, return_when=ALL_COMPLETED).done

    def result(self, task: Future[Any]) -> Any:
        return task.result()

    def abandon(self, task: Future[Any]) -> None:
        task.cancel()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def load(self) -> tuple[int, int]:
        return len(self._running), self.executor._work_queue.qsize()


class _GreenletCall:
    """A call for a worker greenlet: its function, then its value or error."""

    __slots__ = ("cancelled", "done", "error", "fn", "value", "waiter")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn: Callable[[], Any] | None = fn
        self.value: Any = None
        self.error: Exception | None = None
        self.done = False
        self.cancelled = False
        self.waiter: Any = None  # the gevent Waiter of the greenlet waiting for it, if any


class _Countdown:
    """Switches a gevent ``Waiter`` when the last of ``count`` calls has finished."""

    __slots__ = ("count", "waiter")

    def __init__(self, waiter: Any, count: int) -> None:
        self.waiter = waiter
        self.count = count

    def switch(self, value: Any) -> None:
        self.count -= 1
        if self.count <= 0:
            self.waiter.switch(value)


class GreenletIOPool:
    """At most ``size`` worker greenlets, kept and reused from call to call.

    A fresh greenlet per call (``gevent.pool.Pool.spawn``) cost ~27 us a call
    here, most of it Python 3.11 mapping and unmapping a new frame stack for
    each greenlet (two system calls and its page faults); a parked worker takes
    its next call for ~6 us (``python bench/iopool_bench.py``). A call beyond
    ``size`` busy workers waits in a queue for the next free one. A finished
    call wakes the greenlet in ``wait_any`` directly (one waiter at a time per
    call), without gevent's result objects and their links.
    """

    def __init__(self, size: int) -> None:
        import gevent
        from gevent.hub import Waiter

        self.size = size
        self._hub = gevent.get_hub()
        self._waiter = Waiter
        self._idle: list[Any] = []  # parked workers, the most recently used last
        self._queue: deque[_GreenletCall] = deque()
        self._workers: set[Any] = set()
        self._busy = 0

    def start(self, fn: Callable[[], Any]) -> _GreenletCall:
        call = _GreenletCall(fn)
        if self._idle:
            self._hub.loop.run_callback(self._idle.pop().switch, call)
        elif len(self._workers) < self.size:
            import gevent

            self._busy += 1  # counted as busy from here: it was spawned for this call
            self._workers.add(gevent.spawn(self._work, call))
        else:
            self._queue.append(call)
        return call

    def _work(self, call: _GreenletCall) -> None:
        from gevent import getcurrent

        me = getcurrent()
        try:
            while True:
                self._run(call)
                if self._queue:
                    call = self._queue.popleft()
                    continue
                self._busy -= 1
                self._idle.append(me)
                call = self._hub.switch()  # parked until ``start`` hands it a call
                self._busy += 1
        finally:
            self._workers.discard(me)

    def _run(self, call: _GreenletCall) -> None:
        fn, call.fn = call.fn, None  # the call's closure may hold large answers
        if call.cancelled or fn is None:
            return
        try:
            call.value = fn()
        except Exception as exc:
            call.error = exc
        call.done = True
        if call.waiter is not None:  # a Waiter is switched to from the hub only
            self._hub.loop.run_callback(call.waiter.switch, None)

    def wait_any(self, tasks: Collection[_GreenletCall], timeout: float) -> Collection[Any]:
        done = [call for call in tasks if call.done]
        if done or timeout <= 0:
            return done
        waiter = self._waiter(self._hub)
        return self._wait(tasks, waiter, waiter, timeout)

    def wait_all(self, tasks: Collection[_GreenletCall], timeout: float) -> Collection[Any]:
        # One wake-up for the lot: waking per call cost ``gather`` a switch, a
        # timer and a pass of its loop for each call but the last.
        left = [call for call in tasks if not call.done]
        if not left or timeout <= 0:
            return [call for call in tasks if call.done]
        waiter = self._waiter(self._hub)
        return self._wait(tasks, waiter, _Countdown(waiter, len(left)), timeout)

    def _wait(
        self, tasks: Collection[_GreenletCall], waiter: Any, notify: Any, timeout: float
    ) -> list[Any]:
        """Park until ``waiter`` is switched: by ``notify``, which each finished call
        switches, or by the timer."""
        timer = self._hub.loop.timer(timeout)
        for call in tasks:
            call.waiter = notify
        timer.start(waiter.switch, None)
        try:
            waiter.get()
        finally:
            timer.close()
            for call in tasks:
                call.waiter = None
        return [call for call in tasks if call.done]

    def result(self, task: _GreenletCall) -> Any:
        if task.error is not None:
            raise task.error
        return task.value

    def abandon(self, task: _GreenletCall) -> None:
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


def io_pool(size: int) -> IOPool:
    """The right pool for this process: greenlets under gevent, else threads."""
    return GreenletIOPool(size) if gevent_is_patched() else ThreadIOPool(size)
