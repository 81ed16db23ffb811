"""split_balanced: cost-balanced chunks, by example and by property."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_fanout.cpu import (
    split_balanced,
)
from flask_fanout.cpu.chunks import (
    Alike,
    Probe,
    finish_inline,
    plan,
    probe,
    probe_length,
    rescale,
    total,
    worth_pooling,
    worth_shipping,
)

pytestmark = pytest.mark.slow


def test_split_balanced_examples() -> None:
    assert split_balanced([], 4) == []
    assert split_balanced([1.0] * 8, 4) == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    assert split_balanced([1.0] * 3, 8) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    # One heavy item gets a slice of its own; the light ones share.
    assert split_balanced([1, 1, 1, 1, 12, 1, 1, 1, 1], 3) == [
        slice(0, 4),
        slice(4, 5),
        slice(5, 9),
    ]
    assert split_balanced([0.0] * 6, 3) == [slice(0, 2), slice(2, 4), slice(4, 6)]
    with pytest.raises(ValueError):
        split_balanced([1.0, -1.0], 2)


@given(
    st.lists(st.floats(min_value=0, max_value=1e3, allow_nan=False), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=40),
)
def test_split_balanced_properties(costs: list[float], parts: int) -> None:
    slices = split_balanced(costs, parts)
    assert len(slices) == min(parts, len(costs))
    # Contiguous, non-empty, covering everything in order.
    assert slices[0].start == 0 and slices[-1].stop == len(costs)
    assert all(a.stop == b.start for a, b in pairwise(slices))
    assert all(s.stop > s.start for s in slices)
    # Balanced: no slice costs more than its share plus one item.
    total = sum(costs)
    if total > 0:
        bound = total / len(slices) + max(costs)
        assert max(sum(costs[s]) for s in slices) <= bound * (1 + 1e-9)


# ---------------------------------------------------------------- the probe


def test_probe_length_spends_half_the_inline_cost() -> None:
    assert probe_length([0.0004] * 10, 0.002) == 2  # 0.8 ms <= 1 ms < 1.2 ms
    assert probe_length([0.0015, 0.0001], 0.002) == 0  # a costly first item never runs inline
    assert probe_length([0.0001] * 3, 0.002) == 3


def test_rescale_only_lowers_and_only_items_like_the_probed_ones() -> None:
    costs = [1e-4, 1e-4, 1e-4, 5e-3]
    # The two probed items took a tenth of their estimate: the next small one too,
    # the big one keeps its estimate.
    assert rescale(costs, 2, 2e-5) == pytest.approx([1e-5, 5e-3])
    # A probe slower than estimated (a busy machine) changes nothing.
    assert rescale(costs, 2, 1.0) == pytest.approx([1e-4, 5e-3])
    assert rescale([0.0, 0.0, 1.0], 2, 0.5) == [1.0]
    # Items all alike take the shortcut and give what the loop gives.
    assert rescale([1e-4] * 5, 2, 2e-5) == pytest.approx([1e-5] * 3)
    assert rescale([1e-4, 1e-4, 5e-3, 5e-3], 2, 2e-5) == pytest.approx([5e-3, 5e-3])


def test_probe_keeps_results_in_order_and_calls_fn_on_the_head_only() -> None:
    calls: list[list[int]] = []

    def double(chunk: list[int]) -> list[int]:
        calls.append(list(chunk))
        return [2 * x for x in chunk]

    head, rest, seconds = probe(double, list(range(10)), [0.0004] * 10, 0.002)
    assert head == [0, 2] and calls == [[0, 1]] and seconds > 0
    assert len(rest) == 8 and all(c <= 0.0004 for c in rest)
    # A batch that runs inline anyway is not probed.
    assert probe(double, [1, 2], [1e-5, 1e-5], 0.002) == ([], [1e-5, 1e-5], 0.0)


def test_many_cheap_items_stay_inline_when_shipping_costs_more_than_workers_save() -> None:
    # 10,000 items of 1 us: 10 ms of work, 5 ms saved on 2 workers, ~10 ms to ship.
    assert plan([1e-6] * 10_000, 2, 0.002) == []
    # The same work in 100 items is worth the pool.
    assert len(plan([1e-4] * 100, 2, 0.002)) > 1


def test_worth_shipping_weighs_the_saving_of_each_worker_count() -> None:
    assert worth_shipping(total=1.0, items=1000, parallelism=2)
    assert not worth_shipping(total=0.004, items=5000, parallelism=2)
    # One worker saves nothing; it may cost a small share more to free the caller.
    assert worth_shipping(total=1.0, items=1000, parallelism=1)
    assert not worth_shipping(total=0.01, items=5000, parallelism=1)


def test_alike_costs_are_a_sequence_of_one_number() -> None:
    costs = Alike(0.5, 10)
    assert len(costs) == 10 and list(costs) == [0.5] * 10 and costs[-1] == 0.5
    assert len(costs[3:]) == 7 and len(costs[:-2]) == 8 and len(costs[::3]) == 4
    assert len(costs[20:]) == 0 and total(costs) == 5.0 == total([0.5] * 10)
    with pytest.raises(IndexError):
        costs[10]


@given(
    each=st.floats(min_value=0.0, max_value=0.01).filter(lambda c: c == 0 or c > 1e-9),
    length=st.integers(min_value=0, max_value=3000),
    seconds=st.floats(min_value=0.0, max_value=0.1),
)
def test_alike_costs_plan_as_the_list_of_them_does(
    each: float, length: int, seconds: float
) -> None:
    """One number for every item is a shortcut, never another answer."""
    alike, listed = Alike(each, length), [each] * length
    probed = probe_length(alike, 0.002)
    assert abs(probed - probe_length(listed, 0.002)) <= 1  # float sums may round at the edge
    assert list(rescale(alike, probed, seconds)) == pytest.approx(rescale(listed, probed, seconds))
    for parallelism in (1, 2):
        by_alike, by_list = plan(alike, parallelism, 0.002), plan(listed, parallelism, 0.002)
        if len(by_alike) != len(by_list):
            # only where a sum and a product round apart across a threshold
            assert total(alike) != sum(listed)
            assert math.isclose(total(alike), sum(listed), rel_tol=1e-9)
        else:  # the same cuts, within an item where a float sum lands on a tie
            assert all(abs(a.stop - b.stop) <= 1 for a, b in zip(by_alike, by_list, strict=True))


def test_probe_of_alike_costs_runs_the_head_and_rescales_the_rest() -> None:
    calls: list[list[int]] = []

    def double(chunk: list[int]) -> list[int]:
        calls.append(list(chunk))
        return [2 * x for x in chunk]

    head, rest, _ = probe(double, list(range(100)), Alike(1e-4, 100), 0.002)
    assert head == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18] and calls == [list(range(10))]
    assert isinstance(rest, Alike) and len(rest) == 90 and rest.each <= 1e-4


def test_a_batch_that_stays_inline_runs_whole_when_its_probe_was_short() -> None:
    calls: list[list[int]] = []

    def double(chunk: list[int]) -> list[int]:
        calls.append(list(chunk))
        return [2 * x for x in chunk]

    items = list(range(10_000))
    # A probe of 32 items that took 10 us: cheaper to run again than to cut 10,000 in two
    # (it runs once per kind of batch: see calibration).
    short = Probe([2 * x for x in range(32)], Alike(1e-7, 9_968), 1e-5)
    results, seconds = finish_inline(double, items, short)
    assert results == [2 * x for x in items] and seconds > 0
    assert calls == [items]
    # A probe that took long: its results are kept and only the rest runs.
    calls.clear()
    long = Probe([2 * x for x in range(32)], Alike(1e-7, 9_968), 0.01)
    results, seconds = finish_inline(double, items, long)
    assert results == [2 * x for x in items] and seconds > 0.01  # the probe's time counts
    assert calls == [items[32:]]
    # No probe: one call.
    calls.clear()
    assert finish_inline(double, [1, 2], Probe([], [1e-5, 1e-5], 0.0))[0] == [2, 4]
    assert calls == [[1, 2]]


def test_worth_pooling_is_what_plan_decides() -> None:
    for costs in ([1e-6] * 10_000, [1e-4] * 100, [0.001], [], Alike(8.3e-6, 10_000)):
        for parallelism in (1, 2, 4):
            assert worth_pooling(costs, parallelism, 0.002) == bool(plan(costs, parallelism, 0.002))


@given(
    each=st.floats(min_value=0.0, max_value=1.0),
    length=st.integers(min_value=1, max_value=5000),
    parts=st.integers(min_value=1, max_value=40),
)
def test_alike_costs_split_by_count_as_the_list_of_them_does(
    each: float, length: int, parts: int
) -> None:
    """The shortcut cuts where the loop over the list would (within one item: float sums)."""
    alike, listed = (
        split_balanced(Alike(each, length), parts),
        split_balanced([each] * length, parts),
    )
    assert len(alike) == len(listed)
    assert all(abs(a.stop - b.stop) <= 1 for a, b in zip(alike, listed, strict=True))
    assert alike[-1].stop == length and all(s.stop > s.start for s in alike)
