"""TTL cache with ``stale_if_error``: the last good value, fresh or standing in for a failure.

A value younger than ``ttl`` answers without a call (``cached``). When a call
fails and the last good value is at most ``ttl + stale_if_error`` seconds old,
that value answers instead, marked ``stale`` with its age and the failure it
covers (RFC 5861's ``stale-if-error``). While a call refreshes an expired
value, identical calls answer that value at once, ``stale`` without a cause, if
it is at most ``ttl + stale_while_revalidate`` seconds old, instead of waiting
for the refresh (RFC 5861's ``stale-while-revalidate``; 0 turns it off).
``ttl = 0`` caches nothing fresh and keeps only the fallbacks. At most
``max_entries`` keys per name, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from . import checks


@dataclass(frozen=True)
class Cache:
    """How long a value is fresh, how long after that it may stand in for a failure."""

    ttl: float = 1.0
    stale_if_error: float = 0.0
    max_entries: int = 1024
    stale_while_revalidate: float = 0.0

    def __post_init__(self) -> None:
        checks.number("cache", "ttl", self.ttl, minimum=0.0, strict=False)
        checks.number("cache", "stale_if_error", self.stale_if_error, minimum=0.0, strict=False)
        swr = self.stale_while_revalidate
        checks.number("cache", "stale_while_revalidate", swr, minimum=0.0, strict=False)
        checks.integer("cache", "max_entries", self.max_entries, minimum=1)


class CacheState:
    """One name's cached values in this process: key -> (value, fetched at)."""

    def __init__(self, config: Cache) -> None:
        self.config = config
        self.hits = self.misses = self.stale = 0
        self._entries: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def fresh(self, key: Hashable, now: float) -> tuple[Any, float] | None:
        """(value, age) of a value younger than ``ttl``, counted as a hit; else a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[1] < self.config.ttl:
                self.hits += 1
                return entry[0], now - entry[1]
            self.misses += 1
            return None

    def fallback(
        self, key: Hashable, now: float, *, refreshing: bool = False
    ) -> tuple[Any, float] | None:
        """(value, age) of the last good value if still usable after a failure (or,
        ``refreshing``, while an identical call refreshes it)."""
        config = self.config
        extra = config.stale_while_revalidate if refreshing else config.stale_if_error
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or now - entry[1] >= config.ttl + extra:
                return None
            self.stale += 1
            return entry[0], now - entry[1]

    def store(self, key: Hashable, value: Any, fetched: float) -> None:
        with self._lock:
            self._entries[key] = (value, fetched)
            self._entries.move_to_end(key)
            while len(self._entries) > self.config.max_entries:
                self._entries.popitem(last=False)
