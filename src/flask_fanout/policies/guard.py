"""``Guard``: one call through its policy, from the cache lookup to the stale fallback.

``gather`` asks a guard three things: ``early`` before starting the call (a
fresh cached value, or an open circuit, answers without a task), ``run`` in the
I/O pool (single-flight, retries, hedges, breaker and bulkhead around each
attempt), and ``gave_up`` when the call is past its time (the breaker counts the
timeout; a stale value may still answer). Every path returns an
:class:`~flask_fanout.Outcome`; nothing raises.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from collections.abc import Callable, Hashable
from dataclasses import replace
from functools import partial
from typing import Any

from ..iopool import IOPool
from ..outcome import CallError, Outcome
from .policy import PolicyState

Attempt = Callable[[], Outcome[Any]]


class Guard:
    """The policy of one call of one ``gather``."""

    def __init__(self, name: str, state: PolicyState, key: Hashable, pool: IOPool) -> None:
        self.name = name
        self.state = state
        self.key = key
        self.pool = pool
        self.start = time.monotonic()
        self._pending: dict[int, tuple[int, float]] = {}  # attempt -> (breaker ticket, began)
        self._ids = itertools.count()

    def early(self, start: float) -> Outcome[Any] | None:
        """An answer that needs no call: a fresh cached value, the last good one while
        an identical call refreshes it (``stale_while_revalidate``), or an open circuit."""
        self.start = start
        now = time.monotonic()
        cache, breaker = self.state.cache, self.state.breaker
        if cache is not None:
            found = cache.fresh(self.key, now)
            flights = self.state.flights
            if found is None and flights is not None and flights.busy(self.key):
                found = cache.fallback(self.key, now, refreshing=True)
                flags = frozenset({"stale"})  # the last good value, while it is refreshed
            else:
                flags = frozenset({"cached"})
            if found is not None:
                value, age = found
                elapsed = now - start
                return Outcome(self.name, value, elapsed=elapsed, flags=flags, age=age, attempts=0)
        if breaker is not None and breaker.refuse(now):
            return self._fallback(self._open())
        return None

    def run(self, attempt: Attempt, until: float) -> Outcome[Any]:
        """The call, in the I/O pool: shared with an identical one in flight, or led."""
        flights = self.state.flights
        if flights is None:
            return self._settle(self._call(attempt, until))
        flight, leader = flights.join(self.key)
        if not leader:
            flight.done.wait(max(0.0, until - time.monotonic()))
            shared: Outcome[Any] | None = flight.outcome
            if shared is None:
                message = f"{self.name}: the identical call in flight gave no answer in time"
                return self._fallback(self._error("timeout", message))
            flags = shared.flags | {"shared"}
            return replace(shared, elapsed=time.monotonic() - self.start, flags=flags, attempts=0)
        outcome = None
        try:
            outcome = self._settle(self._call(attempt, until))
            return outcome
        finally:
            flights.land(self.key, flight, outcome)

    def gave_up(self, outcome: Outcome[Any]) -> Outcome[Any]:
        """``gather`` stopped waiting: attempts still running count as timeouts."""
        breaker, now = self.state.breaker, time.monotonic()
        for attempt in list(self._pending):
            found = self._pending.pop(attempt, None)  # atomic: the attempt may finish now
            if found is not None and breaker is not None:
                breaker.record(found[0], "timeout", now - found[1])
        return self._fallback(outcome)

    def _call(self, attempt: Attempt, until: float) -> Outcome[Any]:
        """Attempts, and retries while the error is retryable, time and budget allow."""
        state = self.state
        retry, budget = state.policy.retry, state.retry_budget
        if budget is not None:
            budget.earn()
        if state.hedge_budget is not None:
            state.hedge_budget.earn()
        began = time.monotonic()
        outcome = self._attempt(attempt, until)
        made, retries, took = outcome.attempts, 0, time.monotonic() - began
        while retry is not None and budget is not None and retries + 1 < retry.attempts:
            if outcome.code not in retry.on:
                break
            pause = retry.delay(retries + 1)
            # Not past the limit: the retry must have time to take as long as the last try.
            if time.monotonic() + pause + took >= until or not budget.spend():
                break
            time.sleep(pause)
            retries += 1
            state.count("retries")
            began = time.monotonic()
            outcome = self._attempt(attempt, until)
            made, took = made + outcome.attempts, time.monotonic() - began
        if not retries:
            return outcome
        return replace(outcome, flags=outcome.flags | {"retried"}, attempts=made)

    def _attempt(self, attempt: Attempt, until: float) -> Outcome[Any]:
        latencies = self.state.latencies
        delay = latencies.delay() if latencies is not None else None
        if delay is None:
            return self._protected(attempt, until)
        return self._hedged(attempt, until, delay)

    def _protected(self, attempt: Attempt, until: float) -> Outcome[Any]:
        """One attempt through the breaker and the bulkhead; its result counted."""
        state = self.state
        breaker, bulkhead = state.breaker, state.bulkhead
        ticket = None
        if breaker is not None:
            ticket = breaker.allow(time.monotonic())
            if ticket is None:
                return self._open()
        if bulkhead is not None and not bulkhead.acquire(until - time.monotonic()):
            if breaker is not None and ticket is not None:
                breaker.release(ticket)
            limit = bulkhead.config.max_concurrent
            return self._error("rejected", f"{self.name}: {limit} calls already in flight")
        began = time.monotonic()
        attempt_id = next(self._ids)
        if ticket is not None:
            self._pending[attempt_id] = (ticket, began)
        try:
            outcome = attempt()
        finally:
            if bulkhead is not None:
                bulkhead.release()
        seconds = time.monotonic() - began
        if breaker is not None and self._pending.pop(attempt_id, None) is not None:
            breaker.record(ticket, outcome.code, seconds)  # type: ignore[arg-type]
        if outcome.ok and state.latencies is not None:
            state.latencies.add(seconds)
        return outcome

    def _hedged(self, attempt: Attempt, until: float, delay: float) -> Outcome[Any]:
        """The attempt, and a second one if the first is slower than ``delay``."""
        pool, state = self.pool, self.state

        def launch() -> Any:
            run = partial(contextvars.copy_context().run, self._protected, attempt, until)
            return pool.start(run)

        first = launch()
        tasks, hedge = {first}, None
        wait = max(0.0, min(delay, until - time.monotonic()))
        budget = state.hedge_budget
        slow = not pool.wait_any(tasks, wait) and time.monotonic() < until
        if slow and budget is not None and budget.spend():  # spent only when it is sent
            hedge = launch()
            tasks.add(hedge)
            state.count("hedges_sent")
        flags = frozenset({"hedged"}) if hedge is not None else frozenset()
        attempts = len(tasks)
        last: Outcome[Any] | None = None
        while tasks and (left := until - time.monotonic()) > 0:
            for task in pool.wait_any(tasks, left):
                tasks.discard(task)
                outcome: Outcome[Any] = pool.result(task)
                if outcome.ok:
                    if task is hedge:
                        state.count("hedges_won")
                    return replace(outcome, flags=outcome.flags | flags, attempts=attempts)
                last = outcome
        if last is None:
            last = self._error("timeout", f"{self.name}: no attempt answered in time")
        return replace(last, flags=last.flags | flags, attempts=attempts)

    def _settle(self, outcome: Outcome[Any]) -> Outcome[Any]:
        """Keep a good value for later; answer a failure with a stale one if allowed."""
        cache = self.state.cache
        if cache is not None and outcome.ok and not outcome.stale:
            cache.store(self.key, outcome.value, time.monotonic())
            return outcome
        return self._fallback(outcome)

    def _fallback(self, outcome: Outcome[Any]) -> Outcome[Any]:
        cache = self.state.cache
        if cache is None or outcome.error is None:
            return outcome
        found = cache.fallback(self.key, time.monotonic())
        if found is None:
            return outcome
        value, age = found
        flags = outcome.flags | {"stale"}
        return replace(outcome, value=value, error=None, flags=flags, age=age, cause=outcome.error)

    def _open(self) -> Outcome[Any]:
        seconds = self.state.policy.breaker.open_for  # type: ignore[union-attr]
        message = f"{self.name}: circuit open (failing); calls fail fast for up to {seconds:g} s"
        return self._error("circuit_open", message)

    def _error(self, code: str, message: str) -> Outcome[Any]:
        elapsed = time.monotonic() - self.start
        return Outcome(self.name, error=CallError(code, message), elapsed=elapsed, attempts=0)
