"""A token bucket shared by retries and hedges: extra attempts as a fraction of calls.

Each call earns ``ratio`` of a token, each extra attempt spends a whole one, and
the bucket saves up at most :data:`BURST` tokens. So over any stretch, extra
attempts are at most ``ratio`` x calls + what was saved: an outage multiplies
the load on a dependency by ``1 + ratio`` at worst, never by the attempt count
(Finagle's retry budget; "The Tail at Scale" bounds hedges the same way).
"""

from __future__ import annotations

import threading

BURST = 10.0
"""Tokens a budget saves up at most (extra attempts allowed in a burst)."""


class Budget:
    """Tokens for extra attempts; a new bucket holds one, so a first failure may retry."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.tokens = 1.0
        self._lock = threading.Lock()

    def earn(self) -> None:
        """One call was made: add its share of a token."""
        with self._lock:
            self.tokens = min(BURST, self.tokens + self.ratio)

    def spend(self) -> bool:
        """Take a token for one extra attempt, if there is one."""
        with self._lock:
            if self.tokens < 1.0:
                return False
            self.tokens -= 1.0
            return True
