"""``Policy``: the optional parts, composed, and their state in one process."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..settings import ConfigError
from .breaker import STATE_VALUES, Breaker, BreakerState
from .budget import Budget
from .bulkhead import Bulkhead, BulkheadState
from .cache import Cache, CacheState
from .hedge import Hedge, Latencies
from .retry import Retry
from .singleflight import Flights


@dataclass(frozen=True)
class Policy:
    """What protects the calls to one dependency; every part is optional.

    Applied outermost first: a fresh ``cache`` value answers at once; an open
    ``breaker`` fails fast; identical calls in flight share one (``single_flight``,
    on whenever there is a cache); ``retry`` repeats failed attempts within its
    budget; ``hedge`` races a second attempt against a slow one; each attempt
    passes the ``breaker`` and takes a ``bulkhead`` slot; a failure that remains
    is answered by the cache's ``stale_if_error`` value when there is one.
    """

    breaker: Breaker | None = None
    bulkhead: Bulkhead | None = None
    retry: Retry | None = None
    hedge: Hedge | None = None
    cache: Cache | None = None
    single_flight: bool = False

    def __post_init__(self) -> None:
        parts = {"breaker": Breaker, "bulkhead": Bulkhead, "retry": Retry}
        parts |= {"hedge": Hedge, "cache": Cache}
        for name, kind in parts.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise ConfigError(f"{name}: must be a {kind.__name__}, got {value!r}")
        if not isinstance(self.single_flight, bool):
            raise ConfigError(f"single_flight: must be true or false, got {self.single_flight!r}")

    @property
    def shares(self) -> bool:
        """Whether identical concurrent calls share one attempt."""
        return self.single_flight or self.cache is not None


class PolicyState:
    """The state of one policy for one name in this process: all of it bounded."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.breaker = BreakerState(policy.breaker) if policy.breaker else None
        self.bulkhead = BulkheadState(policy.bulkhead) if policy.bulkhead else None
        self.retry_budget = Budget(policy.retry.budget) if policy.retry else None
        self.hedge_budget = Budget(policy.hedge.budget) if policy.hedge else None
        self.latencies = Latencies(policy.hedge) if policy.hedge else None
        self.cache = CacheState(policy.cache) if policy.cache else None
        self.flights = Flights() if policy.shares else None
        self.counts = {"retries": 0, "hedges_sent": 0, "hedges_won": 0}
        self._lock = threading.Lock()

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def stats(self) -> dict[str, float]:
        """Gauges and running totals for the metrics (keys: see ``metrics.sample``)."""
        found: dict[str, float] = {}
        if self.breaker is not None:
            found["breaker_state"] = STATE_VALUES[self.breaker.state]
            for state, count in self.breaker.transitions.items():
                found[f"breaker_to_{state}_total"] = count
            found["breaker_fast_fails_total"] = self.breaker.fast_fails
        if self.bulkhead is not None:
            found["bulkhead_in_use"] = self.bulkhead.in_use
            found["bulkhead_rejected_total"] = self.bulkhead.rejected
        if self.retry_budget is not None:
            found["retries_total"] = self.counts["retries"]
            found["retry_budget"] = self.retry_budget.tokens
        if self.hedge_budget is not None:
            found["hedges_sent_total"] = self.counts["hedges_sent"]
            found["hedges_won_total"] = self.counts["hedges_won"]
            found["hedge_budget"] = self.hedge_budget.tokens
        if self.cache is not None:
            found["cache_hits_total"] = self.cache.hits
            found["cache_misses_total"] = self.cache.misses
            found["cache_stale_total"] = self.cache.stale
        if self.flights is not None:
            found["shared_total"] = self.flights.shared
        return found
