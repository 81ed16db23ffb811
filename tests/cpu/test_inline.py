"""The inline backend: runs in the caller, in order, within the deadline."""

from __future__ import annotations

import os
from concurrent.futures import Future

import pytest

from flask_fanout.cpu import (
    CpuPool,
    CpuTimeout,
    InlineExecutor,
)
from tests import cpu_tasks
from tests.cpu.conftest import spins
from tests.cpu_tasks import spin_batch, spin_cost, tag_batch

pytestmark = pytest.mark.slow


def test_inline_executor_runs_in_caller_and_keeps_errors() -> None:
    executor = InlineExecutor()
    future: Future[int] = executor.submit(lambda x: x + 1, 41)
    assert future.done() and future.result() == 42
    failing = executor.submit(cpu_tasks.fail_batch, [3])
    assert isinstance(failing.exception(), ValueError)
    executor.shutdown()
    with pytest.raises(RuntimeError):
        executor.submit(int)


def test_inline_backend_splits_and_keeps_order() -> None:
    pool = CpuPool("inline", 4, timeout=5)
    items = list(range(1000))
    assert pool.map_batches(tag_batch, items, lambda _: 1.0) == [(x, os.getpid()) for x in items]
    stats = pool.stats()
    assert stats["batches_pooled_total"] == 1
    assert 1 < stats["chunks_submitted_total"] <= 4
    assert pool.ready() == (True, "inline")


def test_one_cost_for_all_items_plans_like_a_cost_per_item() -> None:
    """A number instead of a function: the same plan, with no call per item."""
    items = list(range(1000))
    for cost, pooled in ((1.0, 1), (1e-9, 0)):  # 1,000 s of work; 1 us
        by_item, alike = CpuPool("inline", 4, timeout=5), CpuPool("inline", 4, timeout=5)
        expected = by_item.map_batches(tag_batch, items, lambda _, c=cost: c)  # type: ignore[misc]
        assert alike.map_batches(tag_batch, items, cost) == expected
        assert alike.stats() == by_item.stats()
        assert alike.stats()["batches_pooled_total"] == pooled


def test_inline_backend_deadline_is_checked_between_chunks() -> None:
    pool = CpuPool("inline", 1, timeout=5)
    with pytest.raises(CpuTimeout):
        pool.map_batches(spin_batch, spins(4, 0.1), spin_cost, timeout=0.05)
    assert pool.stats()["chunks_submitted_total"] == 1
