"""Part 1: a big batch of 1000-digit numbers, in the pool, through HTTP, and serially."""

from __future__ import annotations

import http.client
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from gmpy2 import mpz

from cpu_offload.inputs import (
    POOL_TIMEOUT,
    WORKERS,
    Sizes,
    big_batch,
    check_equal,
    traced_is_prime_batch,
    two_loops_at_once,
)
from cpu_offload.server import (
    fanout_server,
    is_loky_worker,
    numbers_body,
    post_numbers,
    warm_server_pools,
)
from flask_fanout.cpu import CpuPool
from flask_fanout.service.primes import is_prime, is_prime_batch, prime_cost
from harness.meter import CpuMeter
from harness.processes import HOST
from harness.proctree import children
from harness.quiet import wait_for_quiet
from harness.rounds import QUIET_CORES, Rounds, interleave, timed

STARTUP_BATCH = 8  # composite 1000-digit numbers: pooled (estimated cost), little work
STARTUP_WARM = 5


@dataclass(frozen=True)
class Startup:
    """First call on a fresh pool (it starts its processes) against the next ones."""

    count: int
    pool_cold: float
    pool_warm: float
    http_cold: float
    http_warm: float


@dataclass
class BigBatch:
    count: int
    digits: tuple[int, int]
    known_primes: int
    primes_found: int
    rounds: Rounds
    startup: Startup
    warm_server_workers: int
    server_workers: int
    chunks: int
    trace: list[tuple[int, float, float]]
    trace_others: float


def local_loky_workers() -> list[int]:
    """The loky worker processes of this process (the in-process pool's)."""
    return [pid for pid in children(os.getpid()) if is_loky_worker(pid)]


def startup_pair(call: Callable[[], object], expected: list[bool]) -> tuple[float, float]:
    """Seconds of the first call, and the median of the next :data:`STARTUP_WARM` calls."""
    cold, result = timed(call)
    check_equal(expected)("first call", result)
    warm = []
    for _ in range(STARTUP_WARM):
        seconds, result = timed(call)
        check_equal(expected)("warm call", result)
        warm.append(seconds)
    return cold, statistics.median(warm)


def check_big(expected: list[bool]) -> Callable[[str, object], None]:
    """Answers equal to the serial loop's; the ceiling's two loops ran in two processes."""
    equal = check_equal(expected)

    def check(name: str, result: object) -> None:
        if name != "ceiling":
            equal(name, result)
            return
        runs = cast(list[tuple[int, list[bool]]], result)
        if len({pid for pid, _ in runs}) != WORKERS:
            raise AssertionError("the two loops of the ceiling ran in the same process")
        for _, answers in runs:
            equal(name, answers)

    return check


def trace_chunks(
    pool: CpuPool, numbers: Sequence[mpz], expected: list[bool]
) -> list[tuple[int, float, float]]:
    """One pooled run with each chunk's worker pid and (monotonic) start and end."""
    traced = pool.map_batches(traced_is_prime_batch, numbers, prime_cost)
    if [flag for flag, *_ in traced] != expected:
        raise AssertionError("the traced run disagrees with the serial loop")
    return sorted({(pid, start, end) for _, pid, start, end in traced}, key=lambda c: c[1])


def run_big_batch(sizes: Sizes, pool: CpuPool) -> BigBatch:
    numbers, known = big_batch(sizes.big_odd, sizes.big_primes)
    print(f"1. big batch: {len(numbers)} numbers of 1000 digits ({known} known primes)")
    expected = is_prime_batch(numbers)
    if sum(expected) < known:
        raise AssertionError("a known 1000-digit prime was not called prime")
    small = [n for n, prime in zip(numbers, expected, strict=True) if not prime][:STARTUP_BATCH]
    pool_cold, pool_warm = startup_pair(
        lambda: pool.map_batches(is_prime_batch, small, prime_cost), [False] * len(small)
    )
    wait_for_quiet(sizes.quiet_wait, QUIET_CORES)
    meter = CpuMeter()
    snap = meter.start()
    trace_seconds, trace = timed(lambda: trace_chunks(pool, numbers, expected))
    trace_others = meter.stop(snap, trace_seconds)
    body = numbers_body(numbers)
    with fanout_server() as server:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=POOL_TIMEOUT)
        small_body = numbers_body(small)
        try:
            http_cold, http_warm = startup_pair(
                lambda: post_numbers(server.port, small_body, conn), [False] * len(small)
            )
        finally:
            conn.close()
        warmed = warm_server_pools(server, numbers_body(numbers[:40]))
        contenders: dict[str, Callable[[], object]] = {
            "serial": lambda: [is_prime(n) for n in numbers],
            "pool": lambda: pool.map_batches(is_prime_batch, numbers, prime_cost),
            "http": lambda: post_numbers(server.port, body),
            "ceiling": lambda: two_loops_at_once(pool, numbers),
        }
        watch = {
            "pool": local_loky_workers,
            "http": server.loky_workers,
            "ceiling": local_loky_workers,
        }
        rounds = interleave(contenders, sizes.repeat, check_big(expected), sizes.quiet_wait, watch)
        server_workers = len(server.workers())
    return BigBatch(
        count=len(numbers),
        digits=(min(len(str(n)) for n in numbers), max(len(str(n)) for n in numbers)),
        known_primes=known,
        primes_found=sum(expected),
        rounds=rounds,
        startup=Startup(len(small), pool_cold, pool_warm, http_cold, http_warm),
        warm_server_workers=warmed,
        server_workers=server_workers,
        chunks=len({(pid, a) for pid, a, _ in trace}),
        trace=trace,
        trace_others=trace_others,
    )
