"""Hedged calls: when a call is slower than its own recent p95, send one more attempt.

The first answer that succeeds wins; the other attempt is left to its own I/O
timeout. The delay is a fixed number of seconds or a percentile (``"p95"``) of
the name's last :data:`SAMPLES` successful attempts, used once at least
``min_samples`` are in; hedges spend the policy's hedge budget (:mod:`.budget`),
so at most ``budget`` x calls are sent twice ("The Tail at Scale", Dean and
Barroso, 2013). Only for idempotent calls, as retries.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass

from ..settings import ConfigError
from . import checks

SAMPLES = 200
"""Successful attempt times kept per name for the percentile."""
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class Hedge:
    """When to send a second attempt, and what fraction of calls may get one."""

    after: float | str = "p95"
    """Seconds, or ``"pNN"``: that percentile of this call's recent times."""
    budget: float = 0.05
    """Hedges allowed as a fraction of calls."""
    min_samples: int = 20
    """Successful attempts needed before a percentile delay is used."""

    def __post_init__(self) -> None:
        if isinstance(self.after, str):
            if self.percentile is None:
                raise ConfigError(
                    f"hedge.after: seconds or a percentile such as 'p95', got {self.after!r}"
                )
        else:
            checks.number("hedge", "after", self.after, minimum=0.0, strict=False)
        checks.fraction("hedge", "budget", self.budget)
        checks.integer("hedge", "min_samples", self.min_samples, minimum=1)

    @property
    def percentile(self) -> float | None:
        """The percentile of ``after`` as a fraction (0.95), or None for a fixed delay."""
        found = _PERCENTILE.match(self.after) if isinstance(self.after, str) else None
        if found is None or not 0 < float(found.group(1)) < 100:
            return None
        return float(found.group(1)) / 100


class Latencies:
    """The last :data:`SAMPLES` successful attempt times of one name, and their percentile."""

    def __init__(self, config: Hedge) -> None:
        self.config = config
        self._times: deque[float] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()
        self._cached: float | None = None
        self._since = 0  # samples added since the percentile was computed

    def add(self, seconds: float) -> None:
        self._times.append(seconds)  # atomic: no lock on the request path
        self._since += 1

    def delay(self) -> float | None:
        """Seconds to wait before hedging, or None while there are too few samples."""
        if not isinstance(self.config.after, str):
            return float(self.config.after)
        if len(self._times) < self.config.min_samples:
            return None
        if self._cached is None or self._since >= 10:  # sort 200 floats every 10 calls
            with self._lock:
                ordered = sorted(self._times)
                self._since = 0
                fraction = self.config.percentile or 0.95
                self._cached = ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
        return self._cached
