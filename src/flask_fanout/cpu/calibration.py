"""What batches of alike items really cost, learned per batch function.

Estimates are upper bounds: 10,000 numbers below 10**12 are estimated at 83 ms
of CPU and take ~6 ms. The probe (:func:`.chunks.probe`) finds that out on
every batch, for the price of its items, run twice. A service sends the same
kind of batch again and again, so what a whole batch that ran inline cost plans
the next one of its kind with no probe at all.

A batch planned that way that turns out dear enough to have been worth the
workers ends the shortcut for its kind: from then on each is probed. Without
that, a client alternating cheap and dear batches would get every dear one
run inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .chunks import Alike

MAX_KINDS = 64
"""Kinds of batch remembered per process; past them nothing more is learned
(a batch function made anew for every call would otherwise grow it)."""

Kind = tuple[Callable[..., Any], float]
"""A kind of batch: its batch function and the estimate every item shares."""


class Calibration:
    """Measured seconds per item of batches of alike items, by kind; one per process."""

    def __init__(self) -> None:
        self._each: dict[Kind, float | None] = {}
        """Seconds per item, or None: a kind whose measure misled once, never trusted again."""

    def costs(self, fn: Callable[..., Any], estimates: Sequence[float]) -> Alike | None:
        """The items' costs as last measured, or None: not alike, not yet seen, not trusted."""
        if not isinstance(estimates, Alike):
            return None
        each = self._each.get((fn, estimates.each))
        return None if each is None else Alike(each, estimates.length)

    def learn(
        self,
        fn: Callable[..., Any],
        estimates: Sequence[float],
        seconds: float,
        *,
        misled: bool = False,
    ) -> None:
        """Keep what a whole batch of ``estimates`` took inline, in ``seconds``.

        ``misled``: the batch was planned from this kind's measure and should
        have gone to the workers; the kind is probed from now on.
        """
        if not isinstance(estimates, Alike) or not estimates.length:
            return
        kind = (fn, estimates.each)
        if kind in self._each:
            if self._each[kind] is None:  # misled once: stays untrusted
                return
        elif len(self._each) >= MAX_KINDS:
            return
        self._each[kind] = None if misled else seconds / estimates.length
