"""Bulkhead: at most N calls to one dependency at once, so a slow one cannot take every slot.

Beyond the limit a call is turned away with ``rejected``: at once, or after a
short bounded wait (``max_wait``, never past the call's own time limit). A call
left behind by ``gather`` keeps its slot until it really ends: that is the
point, a hung dependency fills its own bulkhead and nothing else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from . import checks


@dataclass(frozen=True)
class Bulkhead:
    """How many calls may run at once, and how long one may wait for a slot."""

    max_concurrent: int = 10
    max_wait: float = 0.0
    """Seconds a call may wait for a free slot (0: rejected at once)."""

    def __post_init__(self) -> None:
        checks.integer("bulkhead", "max_concurrent", self.max_concurrent, minimum=1)
        checks.number("bulkhead", "max_wait", self.max_wait, minimum=0.0, strict=False)


class BulkheadState:
    """The slots of one bulkhead in this process (built after gevent's patching)."""

    def __init__(self, config: Bulkhead) -> None:
        self.config = config
        self.in_use = 0
        self.rejected = 0
        self._slots = threading.BoundedSemaphore(config.max_concurrent)
        self._count = threading.Lock()  # += is not atomic between threads

    def acquire(self, wait: float) -> bool:
        """Take a slot, waiting at most ``min(max_wait, wait)`` seconds; count a refusal."""
        wait = min(self.config.max_wait, wait)
        got = self._slots.acquire(blocking=True, timeout=wait) if wait > 0 else False
        if not got:
            got = self._slots.acquire(blocking=False)
        with self._count:
            if got:
                self.in_use += 1
            else:
                self.rejected += 1
        return got

    def release(self) -> None:
        with self._count:
            self.in_use -= 1
        self._slots.release()
