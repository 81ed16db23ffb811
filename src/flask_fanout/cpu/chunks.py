"""Cost-based planning: run a batch inline, or cut it into chunks of balanced cost."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate, pairwise
from typing import Generic, NamedTuple, TypeAlias, TypeVar, overload

R = TypeVar("R")
T = TypeVar("T")

Cost: TypeAlias = Callable[[T], float] | float
"""An item's estimated CPU seconds: a function of the item, or one number for
every item of a batch whose items are alike (no call per item)."""

DEFAULT_INLINE_COST = 0.002
"""Seconds of estimated CPU below which a batch runs in the calling thread.

A loky round trip for a tiny chunk costs about 0.45 ms (median) on the 2-core
reference machine, so below ~2 ms offloading would spend a large share on
overhead; above it, the work is worth a process and no longer blocks the caller
(under gevent, every request of the worker).
"""

ITEM_TRANSFER_COST = 2e-6
"""Seconds to send one small item to a worker process and its result back.

Measured with loky on the 2-core reference machine, a function that does
nothing, 10,000 numbers below 10**12 in one chunk (medians of 100, alternating):
20.5 ms as ``gmpy2.mpz`` (what the primes route sends: its pickling is slow),
2.6 ms as Python ints. The first sets the default: a batch of many cheap items
can cost more to ship than to compute, and a probe that runs cold or on a busy
machine reads up to 2-3x the items' steady cost (the first 120 of those numbers:
a p90 of 2.2x the whole batch's median, 300 tries), so a margin keeps such a
batch from going to the pool by mistake (10,000 ints of ~0.65 us each took
1.2-1.3x as long there as inline).
"""

SOLE_WORKER_SHARE = 0.1
"""With one worker, offloading cannot be faster; it still frees the caller (under
gevent, every request of the worker), so it is worth up to this share more time."""

CHUNKS_PER_WORKER = 4
"""Upper bound on chunks per worker: enough to balance uneven chunks and to
interleave concurrent requests, few enough to keep per-chunk overhead small."""


class Alike(Sequence[float]):
    """The estimates of ``length`` items that each cost ``each``, without a list.

    What a ``cost`` that is one number gives: deciding to keep such a batch
    inline then takes a few multiplications instead of passes over a list per
    item (three sums, two copies and a count: with 10,000 numbers below
    10**12, ``map_batches`` took 1.04-1.05x the batch function run inline,
    against 1.10-1.13x with a list; medians of 30 calls, five times each).
    """

    __slots__ = ("each", "length")

    def __init__(self, each: float, length: int) -> None:
        self.each = each
        self.length = length

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Alike: ...
    def __getitem__(self, index: int | slice) -> float | Alike:
        if isinstance(index, slice):
            return Alike(self.each, len(range(*index.indices(self.length))))
        if not -self.length <= index < self.length:
            raise IndexError(index)
        return self.each

    def __repr__(self) -> str:
        return f"Alike({self.each!r}, {self.length})"


def total(costs: Sequence[float]) -> float:
    """The sum of ``costs``: one product when they are :class:`Alike`."""
    return costs.each * costs.length if isinstance(costs, Alike) else sum(costs)


def split_balanced(costs: Sequence[float], parts: int) -> list[slice]:
    """Cut ``range(len(costs))`` into ``parts`` contiguous, non-empty slices of similar cost.

    Cut ``k`` goes where the running total is closest to ``k / parts`` of the
    total, so a slice costs at most ``total / parts + max(costs)``. Order is preserved,
    which makes reassembling results a concatenation. Fewer slices are returned
    when there are fewer items than ``parts``; zero costs split by count.
    """
    n = len(costs)
    parts = min(parts, n)
    if parts <= 0:
        return []
    if isinstance(costs, Alike):
        # By count, where the running total would cut (nearest, ties down),
        # without a pass per item.
        cuts = [0, *((2 * n * k + parts - 1) // (2 * parts) for k in range(1, parts)), n]
        return [slice(a, b) for a, b in pairwise(cuts)]
    if any(c < 0 for c in costs):
        raise ValueError("costs must not be negative")
    prefix = [0.0, *accumulate(costs)]
    total = prefix[-1]
    if total <= 0:
        prefix = [float(i) for i in range(n + 1)]
        total = float(n)
    cuts = [0]
    for k in range(1, parts):
        target = total * k / parts
        i = bisect_left(prefix, target)
        if i > 0 and target - prefix[i - 1] <= prefix[i] - target:
            i -= 1
        # Leave at least one item for this slice and for each slice still to come.
        i = max(cuts[-1] + 1, min(i, n - (parts - k)))
        cuts.append(i)
    cuts.append(n)
    return [slice(a, b) for a, b in pairwise(cuts)]


def worth_shipping(total: float, items: int, parallelism: int) -> bool:
    """Whether ``items`` estimated at ``total`` seconds are worth sending to workers.

    With several workers: when shipping costs less than the workers save, so the
    batch is not slower than inline. With one: when it costs at most
    :data:`SOLE_WORKER_SHARE` of the work.
    """
    shipping = items * ITEM_TRANSFER_COST
    if parallelism <= 1:
        return shipping <= total * SOLE_WORKER_SHARE
    return shipping < total * (1 - 1 / parallelism)


def worth_pooling(costs: Sequence[float], parallelism: int, inline_cost: float) -> bool:
    """Whether a batch of estimated ``costs`` goes to the workers rather than run inline:
    not below ``inline_cost``, and worth shipping."""
    cost = total(costs)
    return bool(costs) and cost >= inline_cost and worth_shipping(cost, len(costs), parallelism)


def plan(costs: Sequence[float], parallelism: int, inline_cost: float) -> list[slice]:
    """The chunks of a batch of estimated ``costs``: none when it should run inline.

    Inline below ``inline_cost``, and when shipping the items would cost more
    than the workers save. At most :data:`CHUNKS_PER_WORKER` per unit of
    ``parallelism``, and none cheaper than ``inline_cost``.
    """
    if not worth_pooling(costs, parallelism, inline_cost):
        return []
    cost = total(costs)
    parts = min(
        parallelism * CHUNKS_PER_WORKER,
        max(1, int(cost / inline_cost)) if inline_cost else len(costs),
    )
    return split_balanced(costs, parts)


PROBE_SHARE = 0.5
"""Share of ``inline_cost`` spent running a batch's first items in the caller, timed.

Costs are upper bounds (a prime costs what a composite of its size may cost
30x less), so a batch of many cheap items can look worth a pool and still run
slower there than inline: 10,000 random 12-digit numbers were estimated at
83 ms and took 7.7 ms serially (bench/results/cpu.md). Timing the first items,
whose results are kept, tells how far the estimate is above reality.
"""

SPLIT_COST = 7e-9
"""Seconds per item to cut a batch after its probe and join the two lists of
results: slicing 9,880 ints and joining 10,000 results took 32 and 37 us
(medians of 300, the 2-core reference machine)."""


def probe_length(costs: Sequence[float], inline_cost: float) -> int:
    """How many leading items to run inline as a probe: at most ``PROBE_SHARE`` of ``inline_cost``.

    Zero when the first item alone is above that budget, so costly work never runs inline.
    """
    budget = inline_cost * PROBE_SHARE
    if isinstance(costs, Alike):
        if costs.each <= 0:
            return costs.length
        fit = min(costs.length, int(budget / costs.each))
        return fit if fit * costs.each <= budget else fit - 1
    spent = 0.0
    for i, cost in enumerate(costs):
        spent += cost
        if spent > budget:
            return i
    return len(costs)


def rescale(costs: Sequence[float], probed: int, seconds: float) -> Sequence[float]:
    """The estimates of the items after the probe, corrected by what the probe measured.

    Only downwards (estimates are upper bounds: a slow probe is a busy machine, not
    a cheaper pool), and only for items no dearer than the dearest probed one: the
    probe says nothing about items of another size.
    """
    if isinstance(costs, Alike):
        if not probed or costs.each <= 0:
            return costs[probed:]
        return Alike(costs.each * min(1.0, seconds / (costs.each * probed)), costs.length - probed)
    head, rest = costs[:probed], list(costs[probed:])
    estimated = sum(head)
    if not head or estimated <= 0:
        return rest
    ratio = min(1.0, seconds / estimated)
    dearest = max(head)
    return [c * ratio if c <= dearest else c for c in rest]


class Probe(NamedTuple, Generic[R]):
    """What a probe found: the results of the first items, the corrected
    estimates of the others, and the seconds it took."""

    results: list[R]
    costs: Sequence[float]
    seconds: float


def probe(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    costs: Sequence[float],
    inline_cost: float,
) -> Probe[R]:
    """Run a batch's probe inline: its results, and the corrected costs of the rest.

    No probe for a batch that runs inline anyway, or whose first item is costly.
    """
    probed = probe_length(costs, inline_cost)
    if total(costs) < inline_cost or probed in (0, len(items)):
        return Probe([], costs, 0.0)
    head, seconds = timed_call(fn, items[:probed])
    return Probe(head, rescale(costs, probed, seconds), seconds)


def finish_inline(
    fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], probed: Probe[R]
) -> tuple[list[R], float]:
    """Every result of a batch that runs inline after its probe, and the seconds
    its items took (the probe's included when its results are kept).

    In one call, the probed items again, when that costs less than cutting the
    batch in two and joining the results (:data:`SPLIT_COST`): the batch
    function must not mind seeing an item twice.
    """
    done = len(probed.results)
    if not done or probed.seconds < len(items) * SPLIT_COST:
        return timed_call(fn, items)
    rest, seconds = timed_call(fn, items[done:])
    return probed.results + rest, probed.seconds + seconds


def timed_call(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> tuple[list[R], float]:
    """``fn(items)``, checked, and the seconds it took."""
    started = time.perf_counter()
    results = fn(items)
    seconds = time.perf_counter() - started
    return checked(results, len(items)), seconds


def checked(results: list[R], expected: int) -> list[R]:
    """``results`` if the batch function kept its promise of one result per item."""
    if len(results) != expected:
        raise ValueError(f"the batch function returned {len(results)} results for {expected} items")
    return results
