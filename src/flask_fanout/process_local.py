"""Objects that belong to one process: built lazily, rebuilt after ``fork``.

Thread pools, connection pools and database engines must not cross gunicorn's
fork: a pool's threads do not exist in the child and its sockets would be shared
with the parent. So each is created on first use in the process that uses it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


# ``get`` runs several times a request, and ``os.getpid`` is a system call
# (glibc stopped caching it): the process's id is kept here, renewed in a child.
os.register_at_fork(after_in_child=_forked)


class PerProcess(Generic[T]):
    """A value made by ``factory`` once per process, on first use."""

    def __init__(self, factory: Callable[[], T], close: Callable[[T], object] | None = None):
        self._factory = factory
        self._close = close
        self._lock = threading.Lock()
        self._pid = 0
        self._value: T | None = None

    def get(self) -> T:
        value, pid = self._value, self._pid
        if value is not None and pid == _pid:
            return value
        with self._lock:
            if self._value is None or self._pid != _pid:
                # A value inherited through fork is abandoned, never closed: its
                # threads and sockets belong to the parent.
                self._value = self._factory()
                self._pid = _pid
            return self._value

    def peek(self) -> T | None:
        """The value if this process has built it, without building it."""
        return self._value if self._pid == _pid else None

    def reset(self) -> None:
        """Close this process's value (if any); the next ``get`` builds a new one."""
        with self._lock:
            value, self._value = self.peek(), None
            if value is not None and self._close is not None:
                self._close(value)
