"""Retries for idempotent calls: exponential backoff with full jitter, within a budget.

A retry is only for a call that may safely run twice: setting ``retry`` on a
policy says so. Before attempt ``n + 1`` the call sleeps a random time in
``[0, min(max_backoff, backoff * 2 ** (n - 1))]`` (full jitter, so that clients
that failed together do not come back together), and never starts one that
could not end, taking as long as the attempt before it, by the call's own time
limit (its timeout or the request deadline, whichever is first). Retries spend
the policy's retry budget (:mod:`.budget`): at most ``budget`` x calls, so a
dependency that is down sees at most ``1 + budget`` times its normal load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import checks

RETRYABLE = frozenset({"timeout", "unavailable", "bad_response", "error"})


@dataclass(frozen=True)
class Retry:
    """How many attempts, how long between them, and what fraction of calls may retry."""

    attempts: int = 2
    """Attempts in all, the first included."""
    budget: float = 0.1
    """Retries allowed as a fraction of calls (0.1: one retry per ten calls)."""
    backoff: float = 0.05
    """Seconds: the backoff before the first retry is drawn from [0, backoff]."""
    max_backoff: float = 1.0
    on: frozenset[str] = field(default=RETRYABLE)
    """Error codes worth another attempt."""

    def __post_init__(self) -> None:
        checks.integer("retry", "attempts", self.attempts, minimum=1)
        checks.fraction("retry", "budget", self.budget)
        checks.number("retry", "backoff", self.backoff, minimum=0.0, strict=False)
        checks.number("retry", "max_backoff", self.max_backoff, minimum=0.0, strict=False)
        object.__setattr__(self, "on", checks.codes("retry", "on", self.on))

    def delay(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (1 for the first)."""
        return random.uniform(0.0, min(self.max_backoff, self.backoff * 2 ** (retry - 1)))
