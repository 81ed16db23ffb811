"""What every CPU backend offers the dispatcher: an ``Executor`` and its lifecycle.

A backend object belongs to one process: :class:`~flask_fanout.cpu.CpuPool`
makes a new one in each process that uses it (after gunicorn's fork), so the
executors, clients and locks of a parent are never used in a child.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from typing import Protocol


class Backend(Protocol):
    """One backend in one process."""

    starts: int
    """Executors started (or clients connected) so far: rebuilds show up here."""
    slots: threading.Semaphore | None
    """Chunks admitted to the executor at once across requests; None for no bound."""

    def executor(self) -> Executor:
        """The executor, created on first use; raises ``CpuUnavailable`` when there is none."""
        ...

    def parallelism(self) -> int:
        """Chunks that can run at once: the planning unit."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether work can start now, and a sentence saying why (not)."""
        ...

    def is_unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` comes from this backend (a 503) rather than from the task."""
        ...

    def submitted(self, executor: Executor) -> None:
        """Called after each submit: a backend may hook into the executor once it runs."""
        ...

    def discard(self, executor: Executor) -> None:
        """Drop a broken executor (unless it was replaced already)."""
        ...

    def close(self) -> None:
        """Stop the executor (and its workers); the pool is shut down or the process exits."""
        ...
