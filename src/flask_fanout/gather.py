"""I/O fan-out: run named calls at once on the I/O pool, each with its own timeout.

``gather`` never raises because one call failed: every call gets an
:class:`Outcome`, either a value or a :class:`CallError` with a machine code.
That is what lets a view answer with partial results.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from .extension import fanout_state
from .iopool import IOPool
from .outcome import CallError, Outcome

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
) -> dict[str, Outcome[T]]:
    """Run ``calls`` on ``pool``; return every outcome by name, in order.

    A call gets ``timeout`` seconds (or its entry when ``timeout`` is a mapping),
    and none gets past ``deadline`` seconds from now. A call past its time is
    reported as ``timeout`` and left behind: the answer never waits for it.
    Each call runs in its own copy of the caller's context: a ``Context`` may be
    entered by one thread at a time, so one copy shared by several tasks fails.
    """
    start = time.monotonic()
    limits: dict[Any, tuple[str, float]] = {}
    for name, call in calls.items():
        call_timeout = timeout[name] if isinstance(timeout, Mapping) else timeout
        run = partial(contextvars.copy_context().run, _run, name, call, start)
        limits[pool.start(run)] = (name, start + min(call_timeout, deadline))

    outcomes: dict[str, Outcome[T]] = {}
    pending = set(limits)
    while pending:
        now = time.monotonic()
        for task in [t for t in pending if limits[t][1] <= now]:
            pending.discard(task)
            pool.abandon(task)
            name, until = limits[task]
            message = f"{name} gave no answer within {until - start:.3g} s"
            outcomes[name] = Outcome(name, error=CallError("timeout", message), elapsed=now - start)
        if not pending:
            break
        next_limit = min(limits[t][1] for t in pending)
        for task in pool.wait_any(pending, max(0.0, next_limit - now)):
            pending.discard(task)
            outcomes[limits[task][0]] = pool.result(task)
    return {name: outcomes[name] for name in calls}


def gather(
    calls: Mapping[str, Callable[[], T]],
    *,
    timeout: float | Mapping[str, float] | None = None,
    deadline: float | None = None,
) -> dict[str, Outcome[T]]:
    """Run ``calls`` concurrently on the current app's I/O pool.

    ``timeout`` defaults to ``FANOUT_TIMEOUT`` and ``deadline`` to ``FANOUT_DEADLINE``.
    """
    state = fanout_state()
    outcomes = gather_on(
        state.io.get(),
        calls,
        timeout=state.settings.timeout if timeout is None else timeout,
        deadline=state.settings.deadline if deadline is None else deadline,
    )
    state.recorder.calls(outcomes)
    return outcomes
