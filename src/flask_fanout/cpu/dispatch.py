"""Where one batch runs: inline, or its rest in chunks on the workers.

The estimates decide when they keep a batch inline (a probe only ever lowers
them); else what the last batch of its kind cost inline (:mod:`.calibration`);
else a probe of its first items (:func:`.chunks.probe`) and the plan of the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

from .calibration import Calibration
from .chunks import (
    Alike,
    Cost,
    checked,
    finish_inline,
    plan,
    probe,
    timed_call,
    worth_pooling,
)

T = TypeVar("T")
R = TypeVar("R")


class Pooled(NamedTuple, Generic[R]):
    """A batch bound for the workers: the results of its probed first items, and
    the chunks of the rest (slices of the items after them)."""

    head: list[R]
    slices: list[slice]


def dispatch(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    cost: Cost[T],
    parallelism: int,
    inline_cost: float,
    calibration: Calibration,
) -> list[R] | Pooled[R]:
    """The results of a batch that ran inline, or what goes to the workers."""
    estimates = _estimates(cost, items)
    if not worth_pooling(estimates, parallelism, inline_cost):
        return checked(fn(items), len(items))
    known = calibration.costs(fn, estimates)
    if known is not None and not worth_pooling(known, parallelism, inline_cost):
        results, seconds = timed_call(fn, items)
        measured = Alike(seconds / len(items), len(items))
        misled = worth_pooling(measured, parallelism, inline_cost)
        calibration.learn(fn, estimates, seconds, misled=misled)
        return results
    probed = probe(fn, items, estimates, inline_cost)
    slices = plan(probed.costs, parallelism, inline_cost)
    if slices:
        return Pooled(probed.results, slices)
    results, seconds = finish_inline(fn, items, probed)
    calibration.learn(fn, estimates, seconds)
    return results


def _estimates(cost: Cost[T], items: Sequence[T]) -> Sequence[float]:
    """``cost`` of every item, negatives as zero. ``map`` first: for a batch of
    many cheap items, estimating them is a fair share of the work itself, and a
    ``cost`` that is one number for all of them costs nothing per item."""
    if isinstance(cost, (int, float)):
        return Alike(max(0.0, float(cost)), len(items))
    costs = list(map(cost, items))
    if min(costs) < 0:
        costs = [max(0.0, c) for c in costs]
    return costs
