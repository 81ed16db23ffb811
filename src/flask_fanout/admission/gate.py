"""A non-blocking counting gate: the in-flight bound of one worker."""

from __future__ import annotations

import threading


class Admission:
    """A non-blocking counting gate."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._inflight = 0
        self.rejected = 0
        self._lock = threading.Lock()

    @property
    def inflight(self) -> int:
        return self._inflight

    def try_enter(self) -> bool:
        """Take a slot if one is free; never wait."""
        with self._lock:
            if self._inflight >= self.limit:
                self.rejected += 1
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._inflight -= 1
