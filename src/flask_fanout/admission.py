"""Admission control: a bounded number of requests in flight per worker.

Past the bound a request is answered 503 with ``Retry-After`` at once. Queueing
without bound only turns overload into timeouts for everyone; an early, cheap
"try again" keeps the requests that are admitted fast.
"""

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
