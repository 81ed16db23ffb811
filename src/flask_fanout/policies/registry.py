"""``Policies``: an app's policies, named once per dependency, and their state per process.

State (breaker windows, budgets, caches) lives in the process that uses it,
built on first use, so gunicorn's fork and gevent's patching come first. It is
kept per (name, policy), for at most :data:`MAX_STATES` of them, least recently
used first out, so even names made up per call stay bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping

from ..iopool import IOPool
from ..process_local import PerProcess
from ..settings import ConfigError
from .breaker import CLOSED
from .guard import Guard
from .policy import Policy, PolicyState

MAX_STATES = 1000


class _States:
    """This process's policy states, by (name, policy)."""

    def __init__(self) -> None:
        self.by_key: OrderedDict[tuple[str, Policy], PolicyState] = OrderedDict()
        self.lock = threading.Lock()

    def of(self, name: str, policy: Policy) -> PolicyState:
        key = (name, policy)
        with self.lock:
            state = self.by_key.get(key)
            if state is None:
                state = self.by_key[key] = PolicyState(policy)
                while len(self.by_key) > MAX_STATES:
                    self.by_key.popitem(last=False)
            else:
                self.by_key.move_to_end(key)
            return state

    def snapshot(self) -> list[tuple[str, PolicyState]]:
        with self.lock:
            return [(name, state) for (name, _), state in self.by_key.items()]


class Policies:
    """The named policies of one app and, per process, their state."""

    def __init__(self) -> None:
        self.named: dict[str, Policy] = {}
        self._states = PerProcess(_States)

    def name(self, name: str, policy: Policy) -> None:
        """Let every ``gather`` call named ``name`` go through ``policy``."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"policy name: a non-empty string, got {name!r}")
        if not isinstance(policy, Policy):
            raise ConfigError(f"policy {name}: must be a Policy, got {policy!r}")
        self.named[name] = policy

    def guards(
        self,
        names: Iterable[str],
        pool: IOPool,
        given: Mapping[str, Policy] | None = None,
        keys: Mapping[str, Hashable] | None = None,
    ) -> dict[str, Guard]:
        """A guard per call that has a policy: ``given`` for this call, else the named one."""
        if not (self.named or given):
            return {}
        states = self._states.get()
        guards = {}
        for name in names:
            policy = (given or {}).get(name) or self.named.get(name)
            if policy is not None:
                key = (keys or {}).get(name)
                guards[name] = Guard(name, states.of(name, policy), key, pool)
        return guards

    def stats(self) -> dict[str, dict[str, float]]:
        """Each name's gauges and totals in this process (for the metrics flusher)."""
        states = self._states.peek()
        return {} if states is None else {n: s.stats() for n, s in states.snapshot()}

    def breaker_states(self) -> dict[str, str]:
        """``closed``, ``half_open`` or ``open`` per name with a breaker, in this process."""
        found = {name: CLOSED for name, policy in self.named.items() if policy.breaker}
        states = self._states.peek()
        for name, state in states.snapshot() if states is not None else ():
            if state.breaker is not None:
                found[name] = state.breaker.state
        return dict(sorted(found.items()))
