"""I/O fan-out: run named calls at once on the I/O pool, each with its own timeout.

``gather`` never raises because one call failed: every call gets an
:class:`Outcome`, either a value or a :class:`CallError` with a machine code.
That is what lets a view answer with partial results.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from functools import partial
from typing import Any, TypeVar

from .extension import fanout_state
from .iopool import IOPool
from .outcome import CallError, Outcome
from .policies import Policy
from .policies.guard import Guard

T = TypeVar("T")

log = logging.getLogger("flask_fanout")


def _run(name: str, call: Callable[[], T], submitted: float) -> Outcome[T]:
    """Run one call in the I/O pool; turn every failure into an :class:`Outcome`."""
    try:
        value = call()
    except CallError as exc:
        return Outcome(name, error=exc, elapsed=time.monotonic() - submitted)
    except TimeoutError as exc:
        error = CallError("timeout", f"{name} timed out: {exc or 'no answer in time'}")
        return Outcome(name, error=error, elapsed=time.monotonic() - submitted)
    except Exception as exc:
        log.exception("call %r failed", name)
        error = CallError("error", f"{name} failed: {type(exc).__name__}")
        return Outcome(name, error=error, elapsed=time.monotonic() - submitted)
    return Outcome(name, value=value, elapsed=time.monotonic() - submitted)


def gather_on(
    pool: IOPool,
    calls: Mapping[str, Callable[[], T]],
    *,
    timeout: float | Mapping[str, float],
    deadline: float,
    guards: Mapping[str, Guard] | None = None,
) -> dict[str, Outcome[T]]:
    """Run ``calls`` on ``pool``; return every outcome by name, in order.

    A call gets ``timeout`` seconds (or its entry when ``timeout`` is a mapping),
    and none gets past ``deadline`` seconds from now. A call past its time is
    reported as ``timeout`` and left behind: the answer never waits for it.
    Each call runs in its own copy of the caller's context: a ``Context`` may be
    entered by one thread at a time, so one copy shared by several tasks fails.
    A call with a guard (its policy) may be answered without a task (cached, or
    circuit open), runs through the guard, and its guard hears of its timeout.
    """
    start = time.monotonic()
    guards = guards or {}
    limits: dict[Any, tuple[str, float]] = {}
    outcomes: dict[str, Outcome[T]] = {}
    for name, call in calls.items():
        call_timeout = timeout[name] if isinstance(timeout, Mapping) else timeout
        until = start + min(call_timeout, deadline)
        job: Callable[[], Outcome[Any]] = partial(_run, name, call, start)
        guard = guards.get(name)
        if guard is not None:
            if (early := guard.early(start)) is not None:
                outcomes[name] = early
                continue
            job = partial(guard.run, job, until)
        limits[pool.start(partial(contextvars.copy_context().run, job))] = (name, until)

    pending = set(limits)
    while pending:
        now = time.monotonic()
        for task in [t for t in pending if limits[t][1] <= now]:
            pending.discard(task)
            pool.abandon(task)
            name, until = limits[task]
            message = f"{name} gave no answer within {until - start:.3g} s"
            late = Outcome[T](name, error=CallError("timeout", message), elapsed=now - start)
            outcomes[name] = guards[name].gave_up(late) if name in guards else late
        if not pending:
            break
        next_limit = min(limits[t][1] for t in pending)
        for task in pool.wait_all(pending, max(0.0, next_limit - now)):
            pending.discard(task)
            outcomes[limits[task][0]] = pool.result(task)
    return {name: outcomes[name] for name in calls}


def gather(
    calls: Mapping[str, Callable[[], T]],
    *,
    timeout: float | Mapping[str, float] | None = None,
    deadline: float | None = None,
    policies: Mapping[str, Policy] | None = None,
    keys: Mapping[str, Hashable] | None = None,
) -> dict[str, Outcome[T]]:
    """Run ``calls`` concurrently on the current app's I/O pool.

    ``timeout`` defaults to ``FANOUT_TIMEOUT`` and ``deadline`` to ``FANOUT_DEADLINE``.
    A call goes through its entry of ``policies``, else the policy named for it
    with ``Fanout.policy``; ``keys`` says what makes two calls of one name
    identical for its cache and single-flight (default: the name alone).
    """
    state = fanout_state()
    pool = state.io.get()
    outcomes = gather_on(
        pool,
        calls,
        timeout=state.settings.timeout if timeout is None else timeout,
        deadline=state.settings.deadline if deadline is None else deadline,
        guards=state.policies.guards(calls, pool, policies, keys),
    )
    state.recorder.calls(outcomes)
    return outcomes
