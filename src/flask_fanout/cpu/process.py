"""The ``process`` backend: a loky process pool, owned here, rebuilt after a crash.

An own ``loky.ProcessPoolExecutor`` rather than ``loky.get_reusable_executor()``:
that one is a process-wide singleton, which two pools (two apps, tests) would
resize and shut down under each other's feet.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from concurrent.futures import Executor

from .errors import SHUT_DOWN, CpuUnavailable


class ProcessBackend:
    """``workers`` loky processes, created on first use in this process."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pid = os.getpid()
        self.starts = 0
        # loky marks a chunk "running" as soon as it enters its call queue
        # (2 * workers + 1 deep), after which ``cancel()`` no longer works:
        # admitting ``workers + 1`` chunks at a time keeps the rest cancellable
        # and lets concurrent requests interleave. One semaphore across rebuilds:
        # the chunks of a broken executor release their slots as they fail.
        self.slots: threading.Semaphore | None = threading.Semaphore(workers + 1)
        self._lock = threading.Lock()
        self._executor: Executor | None = None
        self._closed = False
        self._hooked: Executor | None = None
        _live.add(self)

    def executor(self) -> Executor:
        executor = self._executor
        if executor is not None:
            return executor
        with self._lock:
            if self._closed:
                raise CpuUnavailable(SHUT_DOWN)
            if self._executor is None:
                import loky

                self._executor = loky.ProcessPoolExecutor(
                    max_workers=self.workers,
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
                self.starts += 1
            return self._executor

    def parallelism(self) -> int:
        return self.workers

    def ready(self) -> tuple[bool, str]:
        return True, f"process pool of {self.workers} workers"

    def is_unavailable(self, exc: BaseException) -> bool:
        from loky.process_executor import ShutdownExecutorError

        return isinstance(exc, ShutdownExecutorError)

    def submitted(self, executor: Executor) -> None:
        if self._hooked is not executor:
            self._hooked = executor
            _register_exit_hook()

    def discard(self, executor: Executor) -> None:
        with self._lock:
            if self._executor is not executor:
                return
            self._executor = None
        _kill(executor)

    def close(self) -> None:
        """Kill the workers rather than drain them: under gevent, loky's graceful
        shutdown blocks the hub in ``waitpid`` and never returns."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            _kill(executor)

    def kill_workers(self) -> None:
        executor = self._executor
        if executor is not None:
            _kill(executor)


_live: weakref.WeakSet[ProcessBackend] = weakref.WeakSet()


def _kill(executor: Executor) -> None:
    executor.shutdown(wait=False, kill_workers=True)  # type: ignore[call-arg]


def _register_exit_hook() -> None:
    """Kill the pools' workers at exit, before loky's own exit handler runs.

    loky's handler joins its workers; under gevent that join blocks the hub in
    ``waitpid`` and the process never exits. ``threading._register_atexit`` hooks
    run before threads are joined, last registered first, and loky registers its
    handler again each time an executor starts (its first submit), so this is
    called after the first submit to each new executor.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:  # pragma: no cover - CPython has it since 3.9
            atexit.register(_kill_all_workers)
        else:
            register(_kill_all_workers)
    except RuntimeError:  # pragma: no cover - the interpreter is already exiting
        pass


def _kill_all_workers() -> None:
    pid = os.getpid()
    for backend in list(_live):
        if backend.pid == pid:
            backend.kill_workers()


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the process that owns the pool is gone.

    loky workers outlive a parent killed with SIGKILL (gunicorn's worker timeout,
    the OOM killer); without this they would accumulate with every restart.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="fanout-parent-watch", daemon=True).start()
