"""Counters of one pool in one process, read by ``CpuPool.stats()`` and the metrics."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any


class CpuStats:
    """Chunks in flight and queued, batches, failures; safe from any thread."""

    KEYS = (
        "in_flight_chunks",
        "queued_chunks",
        "batches_inline_total",
        "batches_pooled_total",
        "chunks_submitted_total",
        "chunks_cancelled_total",
        "timeouts_total",
        "unavailable_total",
    )

    def __init__(self, slots: threading.Semaphore | None) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.KEYS, 0)
        self._slots = slots

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def chunk_done(self, _future: Future[Any]) -> None:
        """Done-callback of every submitted chunk: it leaves the flight, frees its slot."""
        self.count("in_flight_chunks", -1)
        if self._slots is not None:
            self._slots.release()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
