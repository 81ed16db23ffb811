"""Helpers and fixtures shared by the CPU tests."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flask_fanout.cpu import (
    CpuPool,
)
from tests.cpu_tasks import Ran

ROOT = Path(__file__).resolve().parents[2]


def overlapping(runs: list[Ran]) -> bool:
    """Whether two items ran at the same time in different processes."""
    return any(
        a.pid != b.pid and a.start < b.end and b.start < a.end
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
    )


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    stop = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > stop:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def spins(n: int, seconds: float, marker_dir: Path | str = "") -> list[tuple[str, float, str]]:
    return [(str(i), seconds, str(marker_dir)) for i in range(n)]


def sample_numbers(seed: int = 7) -> list[int]:
    """Small, 64-bit and 300-digit numbers, primes and composites, in random order."""
    import gmpy2

    rng = random.Random(seed)
    numbers = [rng.randrange(-5, 200) for _ in range(40)]
    numbers += [rng.randrange(2**63, 2**64) for _ in range(60)]
    numbers += [int(gmpy2.next_prime(rng.randrange(10**299, 10**300))) for _ in range(4)]
    numbers += [rng.randrange(10**299, 10**300) for _ in range(20)]
    rng.shuffle(numbers)
    return numbers


@pytest.fixture(scope="module")
def process_pool() -> Iterator[CpuPool]:
    pool = CpuPool("process", 2, timeout=30)
    yield pool
    pool.shutdown()


@pytest.fixture
def fresh_pool() -> Iterator[CpuPool]:
    pool = CpuPool("process", 2, timeout=30)
    yield pool
    pool.shutdown()
