"""The ``inline`` backend: chunks run in the caller's thread, at ``submit``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


class InlineExecutor(Executor):
    """Run each call in the caller's thread at ``submit``; returns a done future.

    Gives tests and tiny deployments the same code path as a real pool, without
    processes. Exceptions of the call are stored in the future, as a pool would.
    """

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


class InlineBackend:
    """One :class:`InlineExecutor`; nothing can be lost, so nothing is unavailable."""

    slots: threading.Semaphore | None = None

    def __init__(self) -> None:
        self.starts = 1
        self._executor = InlineExecutor()

    def executor(self) -> Executor:
        return self._executor

    def parallelism(self) -> int:
        return 1

    def ready(self) -> tuple[bool, str]:
        return True, "inline"

    def is_unavailable(self, exc: BaseException) -> bool:
        return False

    def submitted(self, executor: Executor) -> None:
        pass

    def discard(self, executor: Executor) -> None:
        pass

    def close(self) -> None:
        self._executor.shutdown()
