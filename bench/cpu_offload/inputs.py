"""What the CPU benchmark computes: its numbers, its sizes, the functions pools run."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gmpy2 import mpz

from flask_fanout.cpu import CpuPool
from flask_fanout.service.primes import is_prime_batch
from primality import trial_division

WORKERS = 2
POOL_TIMEOUT = 300.0

# 64 primes of 1000 digits: gmpy2.next_prime(start) for the seeded starts of
# big_batch(), found once (about 1.2 s each here) and checked on every run, where the
# serial loop must call them prime. The gaps keep the default run short.
PRIME_GAPS = (
    1456, 137, 893, 2109, 2546, 2256, 505, 696, 3634, 120, 6401, 1514, 204, 1253, 1057, 1099,
    2306, 1330, 1871, 5748, 4547, 707, 4958, 274, 5363, 2976, 1343, 1962, 1831, 111, 554, 1590,
    2482, 895, 296, 1071, 187, 990, 302, 2093, 1718, 314, 836, 2265, 2098, 8396, 1354, 1151,
    4362, 1810, 1745, 1646, 2815, 1183, 1530, 3071, 578, 3159, 3176, 751, 2712, 3934, 1093, 143,
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    """How much work each part does; ``--quick`` shrinks all of it."""

    repeat: int
    big_odd: int
    big_primes: int
    tiny_requests: int
    tiny_warmup: int
    small_count: int
    quiet_wait: float


FULL = Sizes(repeat=7, big_odd=400, big_primes=64, tiny_requests=400, tiny_warmup=50,
             small_count=10_000, quiet_wait=3.0)  # fmt: skip
QUICK = Sizes(repeat=2, big_odd=100, big_primes=8, tiny_requests=60, tiny_warmup=10,
              small_count=2_000, quiet_wait=1.0)  # fmt: skip


def big_batch(odd: int, primes: int) -> tuple[list[mpz], int]:
    """``odd`` random odd 1000-digit numbers and ``primes`` 1000-digit primes, shuffled.

    Returns the numbers and how many of them are the known primes. Numbers are
    ``mpz``, as the service parses them.
    """
    low = mpz(10) ** 999
    prime_rng = random.Random("cpu_bench-1000-digit-primes")
    starts = [low + mpz(prime_rng.randrange(int(9 * low))) for _ in PRIME_GAPS]
    known = [start + gap for start, gap in zip(starts, PRIME_GAPS, strict=True)][:primes]
    rng = random.Random("cpu_bench-1000-digit-odd")
    numbers = [low + mpz(rng.randrange(int(9 * low))) | 1 for _ in range(odd)]
    numbers += known
    rng.shuffle(numbers)
    return numbers, len(known)


def small_numbers(count: int, below: int, seed: str) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1, below) for _ in range(count)]


def trial_division_batch(numbers: Sequence[int]) -> list[bool]:
    return [trial_division(n) for n in numbers]


def trial_division_cost(n: int) -> float:
    """Worst case (a prime): sqrt(n)/2 loop steps of ~40 ns each in CPython."""
    return 1e-6 + 2e-8 * math.isqrt(max(n, 0))


def traced_is_prime_batch(numbers: Sequence[mpz]) -> list[tuple[bool, int, float, float]]:
    """``is_prime_batch`` plus the worker's pid and the chunk's monotonic interval."""
    start = time.monotonic()
    flags = is_prime_batch(numbers)
    end = time.monotonic()
    return [(flag, os.getpid(), start, end) for flag in flags]


def timed_loop(numbers: Sequence[mpz]) -> tuple[int, list[bool]]:
    """The serial loop, run in a pool process: its pid and its answers."""
    return os.getpid(), is_prime_batch(numbers)


def two_loops_at_once(pool: CpuPool, numbers: Sequence[mpz]) -> list[tuple[int, list[bool]]]:
    """The whole serial loop twice, at the same time, on the pool's processes.

    What a perfect 2-way split would cost here is half its time: this is the
    machine's ceiling for the pool, whatever the hypervisor does when both cores
    are busy.
    """
    executor = pool.executor()
    futures = [executor.submit(timed_loop, numbers) for _ in range(WORKERS)]
    return [future.result() for future in futures]


def check_equal(expected: list[bool]) -> Callable[[str, object], None]:
    """A check that a contender's answers are the serial loop's."""

    def check(name: str, result: object) -> None:
        if result != expected:
            raise AssertionError(f"{name} disagrees with the serial loop")

    return check
