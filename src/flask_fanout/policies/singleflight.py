"""Single-flight: concurrent identical calls share one attempt.

The first call for a key leads: it makes the call. Calls for the same key that
arrive while it runs follow: they wait (each to its own time limit) for the
leader's outcome instead of calling too, so 200 requests for the same answer
make one upstream call. A flight ends with its leader; state is one entry per
key in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any


class Flight:
    """One call in flight: its followers wait on ``done`` for ``outcome``."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: Any = None


class Flights:
    """The calls in flight of one name, by key."""

    def __init__(self) -> None:
        self.shared = 0
        self._flights: dict[Hashable, Flight] = {}
        self._lock = threading.Lock()

    def join(self, key: Hashable) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether this call leads it (makes the call)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                self.shared += 1
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def busy(self, key: Hashable) -> bool:
        """Whether a call for ``key`` is in flight now."""
        return key in self._flights

    def land(self, key: Hashable, flight: Flight, outcome: Any) -> None:
        """The leader's outcome: wake the followers, end the flight."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.outcome = outcome
        flight.done.set()
