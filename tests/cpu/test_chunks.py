"""split_balanced: cost-balanced chunks, by example and by property."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_fanout.cpu import (
    split_balanced,
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
