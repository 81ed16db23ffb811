"""The Dask backend on a real LocalCluster: same answers, parallel, cancellable."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_fanout.cpu import (
    CpuPool,
    CpuTimeout,
    CpuUnavailable,
)
from flask_fanout.service.primes import is_prime_batch, prime_cost
from tests import cpu_tasks
from tests.cpu.conftest import overlapping, sample_numbers, spins, wait_until
from tests.cpu_tasks import spin_batch, spin_cost, tag_batch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def dask_pool(dask_address: str) -> Iterator[CpuPool]:
    pool = CpuPool("dask", 2, timeout=30, dask_address=dask_address)
    yield pool
    pool.shutdown()


def test_dask_gives_the_same_answers(dask_pool: CpuPool, process_pool: CpuPool) -> None:
    numbers = sample_numbers(seed=11)
    inline = CpuPool("inline", 1, timeout=30)
    expected = is_prime_batch(numbers)
    assert dask_pool.map_batches(is_prime_batch, numbers, prime_cost) == expected
    assert process_pool.map_batches(is_prime_batch, numbers, prime_cost) == expected
    assert inline.map_batches(is_prime_batch, numbers, prime_cost) == expected
    assert dask_pool.stats()["chunks_submitted_total"] > 1


def test_dask_runs_chunks_in_parallel_in_order(dask_pool: CpuPool) -> None:
    ready, reason = dask_pool.ready()
    assert ready and "2 workers" in reason
    runs = dask_pool.map_batches(spin_batch, spins(4, 0.3), spin_cost)
    assert [r.label for r in runs] == ["0", "1", "2", "3"]
    assert os.getpid() not in {r.pid for r in runs}
    assert overlapping(runs)
    items = list(range(3000))
    assert [x for x, _ in dask_pool.map_batches(tag_batch, items, lambda _: 1.0)] == items


def test_dask_timeout_cancels_and_recovers(dask_pool: CpuPool, tmp_path: Path) -> None:
    with pytest.raises(CpuTimeout):
        dask_pool.map_batches(spin_batch, spins(10, 0.4, tmp_path), spin_cost, timeout=0.5)
    wait_until(lambda: dask_pool.stats()["in_flight_chunks"] == 0)
    assert dask_pool.stats()["chunks_cancelled_total"] >= 1
    time.sleep(0.5)  # let cancelled tasks settle on the workers
    assert len(list(tmp_path.iterdir())) < 10
    assert dask_pool.map_batches(tag_batch, [1, 2], lambda _: 1.0)[0][0] == 1


def test_dask_task_errors_propagate(dask_pool: CpuPool) -> None:
    with pytest.raises(ValueError, match="bad chunk"):
        dask_pool.map_batches(cpu_tasks.fail_batch, list(range(100)), lambda _: 1.0)


def test_unreachable_scheduler_is_unavailable() -> None:
    pool = CpuPool("dask", 2, timeout=30, dask_address="tcp://127.0.0.1:9", connect_timeout=0.5)
    ready, reason = pool.ready()
    assert not ready and "127.0.0.1:9" in reason
    with pytest.raises(CpuUnavailable) as caught:
        pool.map_batches(tag_batch, [1, 2], lambda _: 1.0)
    assert "cannot reach the Dask scheduler" in caught.value.message
    # Tiny work still runs inline: the cluster is only needed for costly batches.
    assert pool.map_batches(tag_batch, [1], lambda _: 0.0) == [(1, os.getpid())]
    pool.shutdown()
