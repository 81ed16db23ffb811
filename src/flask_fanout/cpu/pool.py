"""``CpuPool``: the CPU backend of one app, and the dispatch of each batch by cost.

A batch below ``inline_cost`` estimated seconds runs in the calling thread; a
costlier one is cut into chunks of balanced cost (:mod:`.chunks`) and sent to
the backend's executor (:mod:`.submit`). The backends (:mod:`.inline`,
:mod:`.process`, :mod:`.dask_backend`) own their executors' lifecycles; this
module turns their failures into :class:`CpuTimeout` and :class:`CpuUnavailable`.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, CancelledError, Executor
from typing import Literal, TypeVar, get_args

from ..blocking import gevent_is_patched
from .backend import Backend
from .calibration import Calibration
from .chunks import DEFAULT_INLINE_COST, Cost, checked
from .dask_backend import CONNECT_TIMEOUT, UNDER_GEVENT, DaskBackend
from .dispatch import Pooled, dispatch
from .errors import SHUT_DOWN, CpuTimeout, CpuUnavailable
from .inline import InlineBackend
from .process import ProcessBackend
from .stats import CpuStats
from .submit import Expired, StaleExecutor, run_chunks

T = TypeVar("T")
R = TypeVar("R")

BackendName = Literal["process", "dask", "inline"]


class _Local:
    """A pool's backend and counters in one process."""

    def __init__(self, backend: Backend) -> None:
        self.pid = os.getpid()
        self.backend = backend
        self.stats = CpuStats(backend.slots)
        self.calibration = Calibration()


class CpuPool:
    """The CPU backend of one app in one process.

    ``workers`` sizes the process pool (and is the planning default for Dask,
    which otherwise uses the cluster's thread count). ``timeout`` is the default
    deadline of :meth:`map_batches`; ``inline_cost`` is in the unit of the cost
    functions: estimated seconds of CPU.

    Safe to share between request threads and greenlets. Nothing is started
    here: the pool or the Dask client is created on first use in the process that
    uses it, so an app built before gunicorn forks is safe.
    """

    def __init__(
        self,
        backend: BackendName,
        workers: int,
        *,
        timeout: float,
        dask_address: str | None = None,
        inline_cost: float = DEFAULT_INLINE_COST,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        _check_settings(backend, workers, timeout, inline_cost, dask_address)
        self.backend: BackendName = backend
        self.workers = workers
        self.timeout = timeout
        self.dask_address = dask_address
        self.inline_cost = inline_cost
        self.connect_timeout = connect_timeout
        self.chunk_observer: Callable[[float], None] | None = None
        """Called with each finished chunk's seconds from submission (metrics)."""
        self._lock = threading.Lock()
        self._local: _Local | None = None
        self._inherited: list[_Local] = []
        self._closed = False
        _pools.add(self)

    def __repr__(self) -> str:
        return f"<CpuPool {self.backend} workers={self.workers} timeout={self.timeout}>"

    def executor(self) -> Executor:
        """The executor of this process, created on first use.

        Raises :class:`CpuUnavailable` if the pool is shut down or the Dask
        scheduler cannot be reached.
        """
        if self._closed:
            raise CpuUnavailable(SHUT_DOWN)
        return self._current().backend.executor()

    def map_batches(
        self,
        fn: Callable[[Sequence[T]], list[R]],
        items: Sequence[T],
        cost: Cost[T],
        *,
        timeout: float | None = None,
    ) -> list[R]:
        """Return ``fn(items)``, computed inline or in chunks on the backend.

        ``fn`` takes a chunk of items and returns one result per item, and must
        not mind seeing an item twice (a probe's items may run again); for the
        process and Dask backends it is a module-level function that workers
        can import. ``cost(item)`` estimates the item's CPU seconds (one number
        instead, when the items are alike: no call per item). Cheap batches run
        in the calling thread; costly ones are cut into contiguous chunks of
        balanced cost, a few per worker, whose results are concatenated in
        input order (:mod:`.dispatch` says which and why).

        Past ``timeout`` (default: the pool's) chunks not yet started are
        cancelled and :class:`CpuTimeout` is raised. A chunk already running in
        a worker process cannot be interrupted: it finishes and its result is
        dropped. :class:`CpuUnavailable` means a worker died (the pool is rebuilt
        for the next call) or the cluster is unreachable. Exceptions raised by
        ``fn`` itself propagate unchanged.
        """
        if timeout is None:
            timeout = self.timeout
        elif not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        deadline = time.monotonic() + timeout
        if self._closed:
            raise CpuUnavailable(SHUT_DOWN)
        local = self._current()
        if not items:
            return []
        where = dispatch(
            fn, items, cost, local.backend.parallelism(), self.inline_cost, local.calibration
        )
        if not isinstance(where, Pooled):
            local.stats.count("batches_inline_total")
            return where
        local.stats.count("batches_pooled_total")
        head, slices = where
        rest = items[len(head) :]
        try:
            return head + self._offload(local, fn, rest, slices, deadline, timeout)
        except CpuUnavailable:
            local.stats.count("unavailable_total")
            raise
        except CpuTimeout:
            local.stats.count("timeouts_total")
            raise

    def ready(self) -> tuple[bool, str]:
        """Whether the backend can take work now, and why not (for ``/readyz``).

        For Dask this connects if needed and asks the scheduler for its workers,
        bounded by ``connect_timeout``.
        """
        if self._closed:
            return False, SHUT_DOWN
        return self._current().backend.ready()

    def stats(self) -> dict[str, int]:
        """Counters of this process: chunks in flight, batches, timeouts, rebuilds."""
        local = self._current()
        return {
            "workers": local.backend.parallelism(),
            **local.stats.snapshot(),
            "pool_starts_total": local.backend.starts,
        }

    def shutdown(self) -> None:
        """Stop the backend of this process; later calls raise :class:`CpuUnavailable`.

        Process workers are killed rather than drained: nobody waits for their
        results anymore.
        """
        with self._lock:
            self._closed = True
            local = self._local if self._local and self._local.pid == os.getpid() else None
        if local is not None:
            local.backend.close()

    def _current(self) -> _Local:
        local = self._local
        if local is not None and local.pid == os.getpid():
            return local
        with self._lock:
            if self._local is None or self._local.pid != os.getpid():
                if self._local is not None:
                    # Inherited through fork: its executors, clients and locks
                    # belong to the parent. Kept, never used or closed.
                    self._inherited.append(self._local)
                self._local = _Local(_new_backend(self))
            return self._local

    def _offload(
        self,
        local: _Local,
        fn: Callable[[Sequence[T]], list[R]],
        items: Sequence[T],
        slices: list[slice],
        deadline: float,
        timeout: float,
    ) -> list[R]:
        chunks = [items[s] for s in slices]
        for attempt in (1, 2):
            executor = self.executor()
            try:
                results = run_chunks(
                    local.backend,
                    executor,
                    fn,
                    chunks,
                    deadline,
                    local.stats,
                    self._is_unavailable,
                    self.chunk_observer,
                )
            except StaleExecutor as exc:
                # The pool broke (a crash) before this request submitted anything,
                # so it was not being served: it gets a fresh pool, not an error.
                local.backend.discard(executor)
                if attempt == 2:
                    raise CpuUnavailable(_describe_unavailable(exc.__cause__)) from exc
                continue
            except Expired:
                raise CpuTimeout(f"the CPU work did not finish within {timeout:g} s") from None
            except Exception as exc:
                if not self._is_unavailable(exc):
                    raise
                local.backend.discard(executor)
                raise CpuUnavailable(_describe_unavailable(exc)) from exc
            out: list[R] = []
            for s, chunk_results in zip(slices, results, strict=True):
                out.extend(checked(chunk_results, s.stop - s.start))
            return out
        raise AssertionError("unreachable")  # pragma: no cover

    def _is_unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` comes from the backend (503) rather than from the task."""
        if isinstance(exc, BrokenExecutor | CancelledError):
            return True
        if self._closed and isinstance(exc, RuntimeError):
            return True  # "cannot schedule new futures after shutdown", in every flavour
        return self._current().backend.is_unavailable(exc)


_pools: weakref.WeakSet[CpuPool] = weakref.WeakSet()


def _check_settings(
    backend: str, workers: int, timeout: float, inline_cost: float, dask_address: str | None
) -> None:
    """Refuse settings that would fail later, in a request, as a 500."""
    if backend not in get_args(BackendName):
        raise ValueError(f"unknown CPU backend {backend!r}; use one of {get_args(BackendName)}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    if not inline_cost >= 0:
        raise ValueError(f"inline_cost must not be negative, not {inline_cost}")
    if backend == "dask":
        if not dask_address:
            raise ValueError("the dask backend needs a scheduler address (FANOUT_DASK_ADDRESS)")
        if gevent_is_patched():
            raise ValueError(UNDER_GEVENT)


def _new_backend(pool: CpuPool) -> Backend:
    if pool.backend == "process":
        return ProcessBackend(pool.workers)
    if pool.backend == "dask":
        assert pool.dask_address is not None
        return DaskBackend(pool.dask_address, pool.workers, pool.connect_timeout)
    return InlineBackend()


def _describe_unavailable(exc: BaseException | None) -> str:
    if type(exc).__name__ in ("TerminatedWorkerError", "KilledWorker"):
        return "a CPU worker process died while running this request"
    if isinstance(exc, CancelledError):
        return "the CPU backend dropped this request's work (lost worker or scheduler)"
    return f"the CPU backend failed: {type(exc).__name__}: {exc}"


def _reset_after_fork() -> None:
    # A lock held by another thread at fork time stays locked forever in the child.
    for pool in list(_pools):
        pool._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
