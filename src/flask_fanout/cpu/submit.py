"""Send one request's chunks to an executor, within its deadline, and collect them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from functools import partial
from typing import Any, TypeVar

from .backend import Backend
from .stats import CpuStats

T = TypeVar("T")
R = TypeVar("R")


class StaleExecutor(Exception):
    """The executor was broken before this request submitted anything to it."""


class Expired(Exception):
    """The deadline passed; ``CpuPool.map_batches`` turns it into ``CpuTimeout``."""


def run_chunks(
    backend: Backend,
    executor: Executor,
    fn: Callable[[Sequence[T]], list[R]],
    chunks: list[Sequence[T]],
    deadline: float,
    stats: CpuStats,
    is_unavailable: Callable[[BaseException], bool],
    observer: Callable[[float], None] | None = None,
) -> list[list[R]]:
    """Submit the chunks as the backend's slots free up; wait for all or the deadline.

    Past the deadline, or at the first failed chunk, every chunk not yet started
    is cancelled and the error raised: :class:`Expired`, :class:`StaleExecutor`
    (nothing was submitted yet), or the chunk's own exception.
    """
    futures: list[Future[list[R]]] = []
    try:
        for chunk in chunks:
            if _first_failure(futures) is not None:
                break
            try:
                futures.append(_submit(backend, executor, fn, chunk, deadline, stats, observer))
            except Exception as exc:
                if not futures and is_unavailable(exc):
                    raise StaleExecutor from exc
                raise
        wait(futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_EXCEPTION)
        failed = _first_failure(futures)
        if failed is not None:
            failed.result()  # raises the chunk's exception (or CancelledError)
        if len(futures) < len(chunks) or not all(f.done() for f in futures):
            raise Expired
        return [f.result() for f in futures]
    except BaseException:
        cancelled = sum(f.cancel() for f in futures)
        stats.count("chunks_cancelled_total", cancelled + len(chunks) - len(futures))
        raise


def _submit(
    backend: Backend,
    executor: Executor,
    fn: Callable[[Sequence[T]], list[R]],
    chunk: Sequence[T],
    deadline: float,
    stats: CpuStats,
    observer: Callable[[float], None] | None,
) -> Future[list[R]]:
    stats.count("queued_chunks")
    try:
        _acquire_slot(backend, deadline)
    finally:
        stats.count("queued_chunks", -1)
    submitted = time.monotonic()
    try:
        future = executor.submit(fn, chunk)
    except Exception:
        if backend.slots is not None:
            backend.slots.release()
        raise
    stats.count("chunks_submitted_total")
    stats.count("in_flight_chunks")
    future.add_done_callback(stats.chunk_done)
    if observer is not None:
        future.add_done_callback(partial(_observe, observer, submitted))
    backend.submitted(executor)
    return future


def _acquire_slot(backend: Backend, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Expired
    if backend.slots is not None and not backend.slots.acquire(timeout=remaining):
        raise Expired


def _observe(observer: Callable[[float], None], submitted: float, future: Future[Any]) -> None:
    if not future.cancelled():
        observer(time.monotonic() - submitted)


def _first_failure(futures: list[Future[Any]]) -> Future[Any] | None:
    for future in futures:
        if future.done() and (future.cancelled() or future.exception() is not None):
            return future
    return None
