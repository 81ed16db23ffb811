"""CPU work behind the ``concurrent.futures.Executor`` interface.

A view hands :meth:`CpuPool.map_batches` a batch function, the items and a cost
estimate per item. Cheap batches run inline (an inter-process round trip costs
about 0.5 ms, more than a handful of small numbers); costly ones are split into
contiguous chunks of balanced cost and sent to one of three backends:

- ``"process"``: a loky process pool owned by the pool object, created on first
  use in the process that uses it (never before gunicorn forks) and rebuilt
  after a worker dies;
- ``"dask"``: a Dask distributed cluster through ``Client.get_executor()``;
- ``"inline"``: :class:`InlineExecutor`, for tests and tiny deployments.

Failures become two exceptions the routes map to HTTP: :class:`CpuTimeout` (504)
and :class:`CpuUnavailable` (503). Nothing here imports Flask.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    wait,
)
from functools import partial
from itertools import accumulate, pairwise
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar, get_args

from .blocking import gevent_is_patched

__all__ = [
    "DEFAULT_INLINE_COST",
    "Backend",
    "CpuError",
    "CpuPool",
    "CpuTimeout",
    "CpuUnavailable",
    "InlineExecutor",
    "split_balanced",
]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

Backend = Literal["process", "dask", "inline"]

DEFAULT_INLINE_COST = 0.002
"""Seconds of estimated CPU below which a batch runs in the calling thread.

A loky round trip for a tiny chunk costs about 0.45 ms (median) on the 2-core
reference machine, so below ~2 ms offloading would spend a large share on
overhead; above it, the work is worth a process and no longer blocks the caller
(under gevent, every request of the worker).
"""

CHUNKS_PER_WORKER = 4
"""Upper bound on chunks per worker: enough to balance uneven chunks and to
interleave concurrent requests, few enough to keep per-chunk overhead small."""

DASK_CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the Dask scheduler when connecting."""

# After a failed connection, fail fast for this long instead of making every
# request wait ``connect_timeout`` on a scheduler that is down.
_RECONNECT_DELAY = 1.0


class CpuError(Exception):
    """Base of the CPU errors; ``code`` is the machine code for a JSON error."""

    code: ClassVar[str] = "cpu_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CpuTimeout(CpuError):
    """The work did not finish before its deadline (answer 504)."""

    code = "cpu_timeout"


class CpuUnavailable(CpuError):
    """A worker died, the pool is shut down or the cluster is unreachable (answer 503)."""

    code = "cpu_unavailable"


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


def split_balanced(costs: Sequence[float], parts: int) -> list[slice]:
    """Cut ``range(len(costs))`` into ``parts`` contiguous, non-empty slices of similar cost.

    Cut ``k`` goes where the running total is closest to ``k / parts`` of the
    total, so a slice costs at most ``total / parts + max(costs)``. Order is preserved,
    which makes reassembling results a concatenation. Fewer slices are returned
    when there are fewer items than ``parts``; zero costs split by count.
    """
    n = len(costs)
    parts = min(parts, n)
    if parts <= 0:
        return []
    if any(c < 0 for c in costs):
        raise ValueError("costs must not be negative")
    prefix = [0.0, *accumulate(costs)]
    total = prefix[-1]
    if total <= 0:
        prefix = [float(i) for i in range(n + 1)]
        total = float(n)
    cuts = [0]
    for k in range(1, parts):
        target = total * k / parts
        i = bisect_left(prefix, target)
        if i > 0 and target - prefix[i - 1] <= prefix[i] - target:
            i -= 1
        # Leave at least one item for this slice and for each slice still to come.
        i = max(cuts[-1] + 1, min(i, n - (parts - k)))
        cuts.append(i)
    cuts.append(n)
    return [slice(a, b) for a, b in pairwise(cuts)]


class _ProcessState:
    """What a pool owns in one process; after a fork the child starts a new one.

    Executors, Dask clients and semaphores inherited through ``fork`` belong to
    the parent (their threads do not exist in the child), so they are abandoned,
    never used or closed.
    """

    def __init__(self, slots: int | None) -> None:
        self.pid = os.getpid()
        self.executor: Executor | None = None
        self.client: Any = None
        self.parallelism = 0
        # One semaphore for the life of the process state, across rebuilds: the
        # chunks of a broken executor release their slots as they fail.
        self.slots = threading.Semaphore(slots) if slots else None
        self.last_failure: tuple[float, str] | None = None
        self.exit_hooked: Executor | None = None
        self.stats_lock = threading.Lock()
        self.stats = {
            "in_flight_chunks": 0,
            "queued_chunks": 0,
            "batches_inline_total": 0,
            "batches_pooled_total": 0,
            "chunks_submitted_total": 0,
            "chunks_cancelled_total": 0,
            "timeouts_total": 0,
            "unavailable_total": 0,
            "pool_starts_total": 0,
        }

    def count(self, key: str, n: int = 1) -> None:
        with self.stats_lock:
            self.stats[key] += n

    def chunk_done(self, _future: Future[Any]) -> None:
        self.count("in_flight_chunks", -1)
        if self.slots is not None:
            self.slots.release()


class _StaleExecutor(Exception):
    """The executor was broken before this request submitted anything to it."""


class _Expired(Exception):
    """The deadline passed; :meth:`CpuPool.map_batches` turns it into :class:`CpuTimeout`."""


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
        backend: Backend,
        workers: int,
        *,
        timeout: float,
        dask_address: str | None = None,
        inline_cost: float = DEFAULT_INLINE_COST,
        connect_timeout: float = DASK_CONNECT_TIMEOUT,
    ) -> None:
        if backend not in get_args(Backend):
            raise ValueError(f"unknown CPU backend {backend!r}; use one of {get_args(Backend)}")
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
                raise ValueError(_DASK_UNDER_GEVENT)
        self.backend: Backend = backend
        self.workers = workers
        self.timeout = timeout
        self.dask_address = dask_address
        self.inline_cost = inline_cost
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._state: _ProcessState | None = None
        self._closed = False
        self.chunk_observer: Callable[[float], None] | None = None
        """Called with each finished chunk's seconds from submission (metrics)."""
        _pools.add(self)

    def __repr__(self) -> str:
        return f"<CpuPool {self.backend} workers={self.workers} timeout={self.timeout}>"

    # ------------------------------------------------------------------ public API

    def executor(self) -> Executor:
        """The executor of this process, created on first use.

        Raises :class:`CpuUnavailable` if the pool is shut down or the Dask
        scheduler cannot be reached.
        """
        return self._executor(self._current())

    def map_batches(
        self,
        fn: Callable[[Sequence[T]], list[R]],
        items: Sequence[T],
        cost: Callable[[T], float],
        *,
        timeout: float | None = None,
    ) -> list[R]:
        """Return ``fn(items)``, computed inline or in chunks on the backend.

        ``fn`` takes a chunk of items and returns one result per item; for the
        process and Dask backends it must be a module-level function that workers
        can import. ``cost(item)`` estimates the item's CPU seconds: a batch below
        ``inline_cost`` runs in the calling thread, anything else is cut into
        contiguous chunks of balanced cost (at most :data:`CHUNKS_PER_WORKER` per
        worker, none cheaper than ``inline_cost``) whose results are concatenated
        in input order.

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
            raise CpuUnavailable("the CPU pool is shut down")
        state = self._current()
        if not items:
            return []
        costs = [max(0.0, float(cost(item))) for item in items]
        total = math.fsum(costs)
        if total < self.inline_cost:
            state.count("batches_inline_total")
            return _checked(fn(items), len(items))

        state.count("batches_pooled_total")
        try:
            try:
                return self._offload(state, fn, items, costs, deadline)
            except _StaleExecutor:
                # The pool broke (a crash) before this request submitted anything,
                # so it was not being served: it gets a fresh pool, not an error.
                return self._offload(state, fn, items, costs, deadline)
        except _StaleExecutor as exc:
            state.count("unavailable_total")
            raise CpuUnavailable(_describe_unavailable(exc.__cause__)) from exc
        except CpuUnavailable:
            state.count("unavailable_total")
            raise
        except _Expired:
            state.count("timeouts_total")
            raise CpuTimeout(f"the CPU work did not finish within {timeout:g} s") from None

    def ready(self) -> tuple[bool, str]:
        """Whether the backend can take work now, and why not (for ``/readyz``).

        For Dask this connects if needed and asks the scheduler for its workers,
        bounded by ``connect_timeout``.
        """
        if self._closed:
            return False, "the CPU pool is shut down"
        if self.backend == "inline":
            return True, "inline"
        if self.backend == "process":
            return True, f"process pool of {self.workers} workers"
        state = self._current()
        try:
            client = self._client(state)
            threads = client.nthreads(callback_timeout=self.connect_timeout)
        except CpuUnavailable as exc:
            return False, exc.message
        except Exception as exc:
            return False, f"Dask scheduler at {self.dask_address} did not answer: {exc}"
        state.parallelism = sum(threads.values())
        if not threads:
            return False, f"Dask scheduler at {self.dask_address} has no workers"
        return True, (
            f"Dask scheduler at {self.dask_address}: "
            f"{len(threads)} workers, {state.parallelism} threads"
        )

    def stats(self) -> dict[str, int]:
        """Counters of this process: chunks in flight, batches, timeouts, rebuilds."""
        state = self._current()
        with state.stats_lock:
            return {"workers": self._parallelism(state), **state.stats}

    def shutdown(self) -> None:
        """Stop the backend of this process; later calls raise :class:`CpuUnavailable`.

        Process workers are killed rather than drained: under gevent, loky's
        graceful shutdown blocks the hub in ``waitpid`` and never returns, and
        nobody is waiting for the results anymore.
        """
        with self._lock:
            self._closed = True
            state = self._state if self._state and self._state.pid == os.getpid() else None
            executor, client = (state.executor, state.client) if state else (None, None)
            if state:
                state.executor = state.client = None
        self._close(executor, client)

    # ------------------------------------------------------------------ internals

    def _current(self) -> _ProcessState:
        state = self._state
        if state is not None and state.pid == os.getpid():
            return state
        with self._lock:
            if self._state is None or self._state.pid != os.getpid():
                if self._state is not None:
                    _inherited.append(self._state)  # see _ProcessState
                self._state = _ProcessState(self.workers + 1 if self.backend == "process" else None)
            return self._state

    def _executor(self, state: _ProcessState) -> Executor:
        executor = state.executor
        running = self.backend != "dask" or (state.client and state.client.status == "running")
        if executor is not None and running and not self._closed:
            return executor
        if self.backend == "dask":
            self._client(state)
            executor = state.executor
            if executor is None:  # shut down meanwhile
                raise CpuUnavailable("the CPU pool is shut down")
            return executor
        with self._lock:
            if self._closed:
                raise CpuUnavailable("the CPU pool is shut down")
            if state.executor is None:
                state.executor = self._new_executor()
                state.count("pool_starts_total")
            return state.executor

    def _new_executor(self) -> Executor:
        if self.backend == "inline":
            return InlineExecutor()
        import loky

        # An own executor rather than loky.get_reusable_executor(): that one is a
        # process-wide singleton, which two pools (two apps, tests) would resize
        # and shut down under each other's feet.
        executor: Executor = loky.ProcessPoolExecutor(
            max_workers=self.workers,
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
        return executor

    def _client(self, state: _ProcessState) -> Any:
        """The Dask client of this process, connecting (once at a time) if needed."""
        with self._lock:
            if self._closed:
                raise CpuUnavailable("the CPU pool is shut down")
            client = state.client
            if client is not None and client.status == "running":
                return client
            if client is not None and client.status in ("connecting", "newly-created"):
                raise CpuUnavailable(f"reconnecting to the Dask scheduler at {self.dask_address}")
            if gevent_is_patched():
                raise CpuUnavailable(_DASK_UNDER_GEVENT)
            failure = state.last_failure
            if failure and time.monotonic() - failure[0] < _RECONNECT_DELAY:
                raise CpuUnavailable(failure[1])
            stale = (state.executor, client)
            state.executor = state.client = None
            import distributed

            connect: Any = distributed.Client  # untyped in places; keep mypy --strict quiet
            try:
                client = connect(
                    self.dask_address, timeout=self.connect_timeout, set_as_default=False
                )
                threads = client.nthreads(callback_timeout=self.connect_timeout)
            except Exception as exc:
                message = f"cannot reach the Dask scheduler at {self.dask_address}: {exc}"
                state.last_failure = (time.monotonic(), message)
                raise CpuUnavailable(message) from exc
            state.last_failure = None
            state.client = client
            state.parallelism = sum(threads.values())
            # pure=False: identical chunks from two requests must be two tasks, so
            # that cancelling one request's chunk cannot cancel the other's.
            state.executor = client.get_executor(pure=False)
            state.count("pool_starts_total")
        self._close(*stale)
        return client

    def _offload(
        self,
        state: _ProcessState,
        fn: Callable[[Sequence[T]], list[R]],
        items: Sequence[T],
        costs: list[float],
        deadline: float,
    ) -> list[R]:
        executor = self._executor(state)
        total = math.fsum(costs)
        parts = min(
            self._parallelism(state) * CHUNKS_PER_WORKER,
            max(1, int(total / self.inline_cost)) if self.inline_cost else len(items),
        )
        slices = split_balanced(costs, parts)
        try:
            results = self._run(state, executor, fn, [items[s] for s in slices], deadline)
        except _StaleExecutor:
            self._discard(state, executor)
            raise
        except Exception as exc:
            if not self._is_unavailable(exc):
                raise
            self._discard(state, executor)
            raise CpuUnavailable(_describe_unavailable(exc)) from exc
        out: list[R] = []
        for s, chunk_results in zip(slices, results, strict=True):
            out.extend(_checked(chunk_results, s.stop - s.start))
        return out

    def _parallelism(self, state: _ProcessState) -> int:
        if self.backend == "inline":
            return 1
        if self.backend == "dask" and state.parallelism > 0:
            return state.parallelism
        return self.workers

    def _run(
        self,
        state: _ProcessState,
        executor: Executor,
        fn: Callable[[Sequence[T]], list[R]],
        chunks: list[Sequence[T]],
        deadline: float,
    ) -> list[list[R]]:
        """Submit the chunks as slots free up, then wait for all of them or the deadline.

        The process backend admits ``workers + 1`` chunks at a time across all
        requests: loky marks a chunk "running" as soon as it enters its call
        queue (2 * workers + 1 deep), after which ``cancel()`` no longer works.
        Holding chunks back here keeps them cancellable and lets concurrent
        requests interleave.
        """
        futures: list[Future[list[R]]] = []
        try:
            for chunk in chunks:
                if _first_failure(futures) is not None:
                    break
                state.count("queued_chunks")
                try:
                    self._acquire_slot(state, deadline)
                finally:
                    state.count("queued_chunks", -1)
                submitted = time.monotonic()
                try:
                    future = executor.submit(fn, chunk)
                except Exception as exc:
                    if state.slots is not None:
                        state.slots.release()
                    if not futures and self._is_unavailable(exc):
                        raise _StaleExecutor from exc
                    raise
                state.count("chunks_submitted_total")
                state.count("in_flight_chunks")
                future.add_done_callback(state.chunk_done)
                if self.chunk_observer is not None:
                    future.add_done_callback(partial(_observe, self.chunk_observer, submitted))
                futures.append(future)
                if self.backend == "process" and state.exit_hooked is not executor:
                    state.exit_hooked = executor
                    _register_exit_hook()
            wait(
                futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_EXCEPTION
            )
            failed = _first_failure(futures)
            if failed is not None:
                failed.result()  # raises the chunk's exception (or CancelledError)
            if len(futures) < len(chunks) or not all(f.done() for f in futures):
                raise _Expired
            return [f.result() for f in futures]
        except BaseException:
            cancelled = sum(f.cancel() for f in futures)
            state.count("chunks_cancelled_total", cancelled + len(chunks) - len(futures))
            raise

    def _acquire_slot(self, state: _ProcessState, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Expired
        if state.slots is not None and not state.slots.acquire(timeout=remaining):
            raise _Expired

    def _is_unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` comes from the backend (503) rather than from the task."""
        if isinstance(exc, BrokenExecutor | CancelledError):
            return True
        if self._closed and isinstance(exc, RuntimeError):
            return True  # "cannot schedule new futures after shutdown", in every flavour
        if self.backend == "process":
            from loky.process_executor import ShutdownExecutorError

            return isinstance(exc, ShutdownExecutorError)
        if self.backend == "dask":
            from distributed.comm.core import CommClosedError
            from distributed.scheduler import KilledWorker

            return isinstance(exc, KilledWorker | CommClosedError)
        return False

    def _discard(self, state: _ProcessState, executor: Executor) -> None:
        """Drop a broken executor (unless another request already replaced it)."""
        if self.backend != "process":
            return  # Dask reschedules lost tasks; the client reconnects on its own
        with self._lock:
            if state.executor is not executor:
                return
            state.executor = None
        self._close(executor, None)

    def _close(self, executor: Executor | None, client: Any) -> None:
        if executor is not None:
            if self.backend == "process":
                executor.shutdown(wait=False, kill_workers=True)  # type: ignore[call-arg]
            else:
                executor.shutdown(wait=False)
        if client is not None:
            with contextlib.suppress(Exception):  # a client that lost its scheduler
                client.close(timeout=2)

    def _kill_workers(self) -> None:
        state = self._state
        if state is not None and state.pid == os.getpid() and self.backend == "process":
            self._close(state.executor, None)


_DASK_UNDER_GEVENT = (
    "the dask backend cannot run under gevent's monkey-patching (the Dask client "
    "hangs); serve with a thread-based worker class when FANOUT_CPU_BACKEND=dask"
)

_pools: weakref.WeakSet[CpuPool] = weakref.WeakSet()
_inherited: list[_ProcessState] = []


def _observe(observer: Callable[[float], None], submitted: float, future: Future[Any]) -> None:
    if not future.cancelled():
        observer(time.monotonic() - submitted)


def _checked(results: list[R], expected: int) -> list[R]:
    if len(results) != expected:
        raise ValueError(f"the batch function returned {len(results)} results for {expected} items")
    return results


def _first_failure(futures: list[Future[Any]]) -> Future[Any] | None:
    for future in futures:
        if future.done() and (future.cancelled() or future.exception() is not None):
            return future
    return None


def _describe_unavailable(exc: BaseException | None) -> str:
    if type(exc).__name__ in ("TerminatedWorkerError", "KilledWorker"):
        return "a CPU worker process died while running this request"
    if isinstance(exc, CancelledError):
        return "the CPU backend dropped this request's work (lost worker or scheduler)"
    return f"the CPU backend failed: {type(exc).__name__}: {exc}"


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
    for pool in list(_pools):
        pool._kill_workers()


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


def _reset_after_fork() -> None:
    # A lock held by another thread at fork time stays locked forever in the child.
    for pool in list(_pools):
        pool._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
