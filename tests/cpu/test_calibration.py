"""Calibration: a kind of batch measured once is planned from that, with no probe."""

from __future__ import annotations

import os

import pytest

from flask_fanout.cpu import CpuPool
from flask_fanout.cpu.calibration import MAX_KINDS, Calibration
from flask_fanout.cpu.chunks import Alike, probe_length
from tests import cpu_tasks
from tests.cpu_tasks import spin_each_batch, tag_batch

pytestmark = pytest.mark.slow

ESTIMATE = 1e-4  # each item's estimate: 200 of them look worth the workers


def _run(pool: CpuPool, items: list[float]) -> tuple[list[int], list[int]]:
    """The pids that ran the items, and the calls this process made."""
    cpu_tasks.CALLS.clear()
    pids = pool.map_batches(spin_each_batch, items, ESTIMATE)
    return pids, list(cpu_tasks.CALLS)


def test_a_kind_of_batch_seen_inline_skips_the_probe_next_time(fresh_pool: CpuPool) -> None:
    cheap = [0.0] * 200
    probed = probe_length(Alike(ESTIMATE, 200), fresh_pool.inline_cost)
    pids, calls = _run(fresh_pool, cheap)
    assert pids == [os.getpid()] * 200 and calls in ([probed, 200], [probed, 200 - probed])
    pids, calls = _run(fresh_pool, cheap)
    assert pids == [os.getpid()] * 200 and calls == [200], "no probe: its kind is known"
    # Another batch function is another kind: probed.
    assert fresh_pool.map_batches(tag_batch, list(range(200)), ESTIMATE)[0][1] == os.getpid()
    assert fresh_pool.stats()["chunks_submitted_total"] == 0


def test_a_kind_that_misled_once_is_probed_from_then_on(fresh_pool: CpuPool) -> None:
    cheap, dear = [0.0] * 200, [0.0003] * 200  # 300 us each: the workers' work
    probed = probe_length(Alike(ESTIMATE, 200), fresh_pool.inline_cost)
    _run(fresh_pool, cheap)
    # Planned from the cheap batch: inline, in one call, and found dear.
    pids, calls = _run(fresh_pool, dear)
    assert pids == [os.getpid()] * 200 and calls == [200]
    # Never trusted again: a cheap batch is probed, and a dear one goes to the workers.
    assert _run(fresh_pool, cheap)[1] in ([probed, 200], [probed, 200 - probed])
    pids, calls = _run(fresh_pool, dear)
    assert calls == [probed] and pids[:probed] == [os.getpid()] * probed
    assert os.getpid() not in pids[probed:]
    assert fresh_pool.stats()["batches_pooled_total"] == 1


def test_calibration_keeps_alike_batches_and_a_bounded_number_of_kinds() -> None:
    calibration = Calibration()
    calibration.learn(tag_batch, [1e-4, 1e-4], 1e-6)  # not alike: not kept
    assert calibration.costs(tag_batch, [1e-4, 1e-4]) is None
    calibration.learn(tag_batch, Alike(1e-4, 100), 1e-4)
    known = calibration.costs(tag_batch, Alike(1e-4, 7))
    assert known is not None and known.length == 7 and known.each == pytest.approx(1e-6)
    assert calibration.costs(tag_batch, Alike(2e-4, 7)) is None, "another estimate, another kind"
    calibration.learn(tag_batch, Alike(1e-4, 100), 1.0, misled=True)
    calibration.learn(tag_batch, Alike(1e-4, 100), 1e-4)
    assert calibration.costs(tag_batch, Alike(1e-4, 7)) is None, "misled once: never again"
    for each in range(2 * MAX_KINDS):
        calibration.learn(tag_batch, Alike(float(each + 1), 10), 1.0)
    remembered = [
        calibration.costs(tag_batch, Alike(float(e + 1), 1)) for e in range(2 * MAX_KINDS)
    ]
    assert sum(known is not None for known in remembered) == MAX_KINDS - 1  # one is 1e-4
