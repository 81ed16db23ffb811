"""Circuit breaker: stop calling a dependency that fails, and try it again later.

The semantics are resilience4j's count-based breaker, reimplemented here rather
than taken from pybreaker (1.4): pybreaker opens after ``fail_max`` *consecutive*
failures (no failure rate, no slow calls, no minimum number of calls), and its
``call`` runs the protected function while holding the breaker's ``RLock``, so
every call through one breaker is serialized, one at a time, under threads and
under gevent alike. A fan-out layer must let calls to a dependency overlap, so
this breaker holds its lock only to count, never around the call.

Closed: the last ``window`` calls are kept as (failed, slow) pairs; once at least
``min_calls`` are in, a failure rate or slow-call rate at or over its threshold
opens the breaker. Open: calls fail at once with ``circuit_open`` for
``open_for`` seconds. Half-open: ``probes`` calls go through, the others still
fail fast; once their results are in, the same rates over them open the breaker
again or close it (resilience4j's permitted calls in half-open state). State is
per process and per name.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..settings import ConfigError
from . import checks

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
"""The ``fanout_breaker_state`` gauge's value for each state."""


@dataclass(frozen=True)
class Breaker:
    """When to open (rates over a sliding window of calls) and how to close again."""

    failure_rate: float = 0.5
    """Open when at least this fraction of the window's calls failed."""
    slow_call: float | None = None
    """Seconds after which a call counts as slow (None: only timeouts are slow)."""
    slow_rate: float = 1.0
    """Open when at least this fraction of the window's calls were slow."""
    window: int = 20
    """Calls in the sliding window."""
    min_calls: int = 10
    """Calls the window needs before a rate can open the breaker."""
    open_for: float = 5.0
    """Seconds the breaker stays open before letting probes through."""
    probes: int = 3
    """Calls let through when half-open; the rates over their results decide."""
    ignore: frozenset[str] = field(default=frozenset())
    """Error codes that are not the dependency's fault (e.g. ``not_found``): not failures."""

    def __post_init__(self) -> None:
        where = "breaker"
        checks.fraction(where, "failure_rate", self.failure_rate)
        checks.fraction(where, "slow_rate", self.slow_rate)
        if self.slow_call is not None:
            checks.number(where, "slow_call", self.slow_call, minimum=0.0, strict=True)
        window = checks.integer(where, "window", self.window, minimum=1)
        checks.integer(where, "min_calls", self.min_calls, minimum=1)
        if self.min_calls > window:
            raise ConfigError(
                f"{where}.min_calls: must be at most window ({window}), got {self.min_calls}"
            )
        checks.number(where, "open_for", self.open_for, minimum=0.0, strict=True)
        checks.integer(where, "probes", self.probes, minimum=1)
        object.__setattr__(self, "ignore", checks.codes(where, "ignore", self.ignore))


NOT_COUNTED = frozenset({"circuit_open", "rejected"})
"""Codes the policies make themselves: they say nothing about the dependency."""


class BreakerState:
    """One breaker's state in this process. ``allow`` before a call, ``record`` after."""

    def __init__(self, config: Breaker) -> None:
        self.config = config
        self.state = CLOSED
        self.transitions = {CLOSED: 0, HALF_OPEN: 0, OPEN: 0}
        self.fast_fails = 0
        self._lock = threading.Lock()
        self._window: deque[tuple[bool, bool]] = deque(maxlen=config.window)
        self._failed = self._slow = 0
        self._opened_at = 0.0
        self._generation = 0  # a result of an earlier state is not counted in this one
        self._probes_out = self._probes_in = self._probes_failed = self._probes_slow = 0

    def open_now(self, now: float) -> bool:
        """Whether a call would fail fast (open, and not yet time for a probe)."""
        return self.state == OPEN and now < self._opened_at + self.config.open_for

    def refuse(self, now: float) -> bool:
        """Whether a call fails fast now (and count it); False lets it go on to ``allow``."""
        if self.state != OPEN:
            return False
        with self._lock:
            if not self.open_now(now):
                return False
            self.fast_fails += 1
            return True

    def allow(self, now: float) -> int | None:
        """A ticket for one call, or None: the circuit is open (counted as a fast fail)."""
        if self.state == CLOSED:
            return self._generation
        with self._lock:
            if self.state == OPEN and now >= self._opened_at + self.config.open_for:
                self._move(HALF_OPEN, now)
            if self.state == CLOSED:
                return self._generation
            if self.state == HALF_OPEN and self._probes_out < self.config.probes:
                self._probes_out += 1
                return self._generation
            self.fast_fails += 1
            return None

    def release(self, ticket: int) -> None:
        """A ticket given back unused (the bulkhead turned the call away)."""
        with self._lock:
            if ticket == self._generation and self.state == HALF_OPEN:
                self._probes_out -= 1

    def record(self, ticket: int, code: str, seconds: float) -> None:
        """The result of a call let through with ``ticket``."""
        if code in NOT_COUNTED:
            return
        config = self.config
        failed = code != "ok" and code not in config.ignore
        slow = code == "timeout" or (config.slow_call is not None and seconds >= config.slow_call)
        now = time.monotonic()
        with self._lock:
            if ticket != self._generation:
                return
            if self.state == HALF_OPEN:
                self._probes_in += 1
                self._probes_failed += failed
                self._probes_slow += slow
                if self._probes_in >= config.probes:
                    rates = self._probes_failed / config.probes, self._probes_slow / config.probes
                    bad = rates[0] >= config.failure_rate or rates[1] >= config.slow_rate
                    self._move(OPEN if bad else CLOSED, now)
                return
            if self.state == OPEN:
                return
            if len(self._window) == self._window.maxlen:
                old_failed, old_slow = self._window[0]
                self._failed -= old_failed
                self._slow -= old_slow
            self._window.append((failed, slow))
            self._failed += failed
            self._slow += slow
            calls = len(self._window)
            failing = self._failed >= config.failure_rate * calls
            if calls >= config.min_calls and (failing or self._slow >= config.slow_rate * calls):
                self._move(OPEN, now)

    def _move(self, state: str, now: float) -> None:
        """Change state (the lock is held): a new generation, a fresh window."""
        self.state = state
        self.transitions[state] += 1
        self._generation += 1
        self._window.clear()
        self._failed = self._slow = 0
        self._probes_out = self._probes_in = self._probes_failed = self._probes_slow = 0
        if state == OPEN:
            self._opened_at = now
