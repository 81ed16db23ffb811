"""A non-blocking counting gate: the in-flight bound of one worker."""

from __future__ import annotations

import threading
import time

from .limit import GradientLimit


class Admission:
    """A non-blocking counting gate; with a ``controller``, its limit adapts.

    Static (no controller): ``limit`` stays what it was given. Adaptive: every
    admitted request that finishes is reported to the controller with its
    latency, and ``limit`` follows the controller's answer.
    """

    def __init__(self, limit: int, controller: GradientLimit | None = None) -> None:
        self.controller = controller
        self.limit = controller.limit if controller is not None else limit
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
                if self.controller is not None:
                    self.controller.rejected()
                return False
            self._inflight += 1
            return True

    def leave(self, started: float | None = None, route: str = "") -> None:
        """Free a slot; ``started`` (``time.perf_counter()`` at arrival) and the
        request's ``route`` feed the controller."""
        with self._lock:
            try:
                controller = self.controller
                if controller is not None and started is not None:
                    now = time.perf_counter()
                    limit = controller.observe(now - started, self._inflight, now, route)
                    if limit is not None:
                        self.limit = limit
            finally:
                self._inflight -= 1  # whatever happened above: a lost slot is lost for good
