"""CPU offload, measured side by side: big batches, tiny requests, the example's pattern.

Run from the repository root (about 2-2.5 minutes on 2 cores; ``--quick`` for a smoke run):

    python bench/cpu_bench.py [--repeat 7] [--tiny-requests 400] [--quiet-wait 3] [--out FILE]

1. Big batch: ~460 distinct 1000-digit numbers (random odd ones plus 64 primes) through
   ``CpuPool("process", 2).map_batches(is_prime_batch, ...)`` (pool warmed up first), and
   through ``POST /is_prime`` on a real ``fanout serve``, against a serial ``is_prime``
   loop in this process; and the machine's ceiling, two copies of the serial loop at once
   on the pool's two processes (half that time is a perfect 2-way split here). Both
   cores: CPU seconds of the pool's worker processes during the timed runs, and one
   traced run with each chunk's process and interval.
2. Tiny request: ``GET /is_prime/7,11,13`` and ``GET /healthz`` on one keep-alive
   connection to the same server, alternating, one at a time.
3. The example's pattern, ``ProcessPoolExecutor().map(f, numbers)`` (chunksize 1), against
   ``CpuPool.map_batches`` and a serial loop on 10,000 small numbers, with ``f`` our
   ``is_prime`` and, on smaller numbers, the example's trial division.

Contenders take turns within each round, in rotating order, so load from elsewhere on
the machine hits them alike; medians and ratios come from the same run. The machine is
shared: rounds wait briefly for other programs to go quiet, the cores other programs used
are measured per round, and the big-batch table uses the quiet rounds when there are
enough of them.
Every pool is warm when timed; pool start-up is measured on its own.
Writes a markdown report (default ``bench/results/cpu.md``; ``--quick``:
``bench/results/raw/cpu-quick.md``).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import platform
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import gmpy2
import loky
import psutil
from gmpy2 import mpz

from flask_fanout.cpu import CHUNKS_PER_WORKER, CpuPool
from flask_fanout.service.primes import is_prime, is_prime_batch, prime_cost
from primality import trial_division

T = TypeVar("T")
CORES = os.cpu_count() or 1

HOST = "127.0.0.1"
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FANOUT = Path(sys.executable).parent / "fanout"
WORKERS = 2
POOL_TIMEOUT = 300.0
TARGET_BIG_RATIO = 0.6
TARGET_TINY_MS = 5.0
QUIET_CORES = 0.3
STARTUP_BATCH = 8  # composite 1000-digit numbers: pooled (estimated cost), little work
STARTUP_WARM = 5
MIN_QUIET_ROUNDS = 3  # fewer, and the big-batch table uses all rounds
MIN_METERED_RUN = 0.5  # seconds; shorter runs are not judged quiet or not on their own
TINY_PATH = "/is_prime/7,11,13"
TINY_ANSWER = {"7": True, "11": True, "13": True}

# 64 primes of 1000 digits: gmpy2.next_prime(start) for the seeded starts of
# big_batch(), found once (about 1.2 s each here) and checked on every run, where the
# serial loop must call them prime. The gaps keep the default run short.
PRIME_GAPS = (
    1456, 137, 893, 2109, 2546, 2256, 505, 696, 3634, 120, 6401, 1514, 204, 1253, 1057, 1099,
    2306, 1330, 1871, 5748, 4547, 707, 4958, 274, 5363, 2976, 1343, 1962, 1831, 111, 554, 1590,
    2482, 895, 296, 1071, 187, 990, 302, 2093, 1718, 314, 836, 2265, 2098, 8396, 1354, 1151,
    4362, 1810, 1745, 1646, 2815, 1183, 1530, 3071, 578, 3159, 3176, 751, 2712, 3934, 1093, 143,
)  # fmt: skip


# --------------------------------------------------------------------------- inputs


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


# --------------------------------------------------------------------------- timing


def timed(call: Callable[[], T]) -> tuple[float, T]:
    gc.collect()
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def wait_for_quiet(max_wait: float, window: float = 0.5) -> float:
    """Wait (up to ``max_wait`` s) until the machine is nearly idle; return its busy cores.

    Called between rounds, when nothing of ours runs, so what is busy is someone else's
    work (the machine is shared). Idle means under :data:`QUIET_CORES` busy cores over
    ``window`` seconds; past ``max_wait`` the round starts anyway.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(window)
        busy = (machine_busy_seconds() - before) / window
        if busy < QUIET_CORES or time.monotonic() >= deadline:
            return busy


@dataclass
class Rounds:
    """Seconds per contender per round, and the load from other programs in each round."""

    times: dict[str, list[float]]
    others: list[float]  # mean cores busy outside this benchmark's process tree, per round
    run_others: dict[str, list[float]]  # the same during each run
    meters: dict[str, CpuMeter]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def quiet(self) -> list[int]:
        """Rounds during which other programs kept fewer than QUIET_CORES cores busy.

        Over the whole round, and during each run long enough to tell (CPU times
        tick in 10 ms steps, so a run of a few ms cannot say).
        """
        return [
            i
            for i, others in enumerate(self.others)
            if others < QUIET_CORES
            and all(
                self.run_others[name][i] < QUIET_CORES
                for name in self.times
                if self.times[name][i] >= MIN_METERED_RUN
            )
        ]

    def ratio(self, name: str, base: str) -> float:
        """Median over rounds of this round's ``name`` time / its ``base`` time."""
        pairs = zip(self.times[name], self.times[base], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def ratio_of_medians(self, name: str, base: str) -> float:
        return self.median(name) / self.median(base)

    def subset(self, rounds: Sequence[int]) -> Rounds:
        """These rounds only (the CPU meters stay those of all rounds)."""
        return Rounds(
            times={name: [t[i] for i in rounds] for name, t in self.times.items()},
            others=[self.others[i] for i in rounds],
            run_others={name: [o[i] for i in rounds] for name, o in self.run_others.items()},
            meters=self.meters,
        )


def interleave(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    check: Callable[[str, object], None],
    quiet_wait: float,
    watch: dict[str, Callable[[], list[psutil.Process]]] | None = None,
) -> Rounds:
    """Run every contender once per round, in an order rotating by round.

    Before each round, wait up to ``quiet_wait`` s for load from elsewhere to pass.
    Around each run (outside its timing), account for CPU: the processes ``watch``
    names for that contender, this benchmark's processes, other programs; and the
    same for the round as a whole (CPU times tick in 10 ms steps, so a round, not a
    run of a few ms, is the unit that says whether the machine was quiet; runs of a
    second or more are judged on their own too).
    """
    names = list(contenders)
    watch = watch or {}
    out = Rounds(
        times={name: [] for name in names},
        others=[],
        run_others={name: [] for name in names},
        meters={name: CpuMeter(watch.get(name, list)) for name in names},
    )
    for round_ in range(rounds):
        busy = wait_for_quiet(quiet_wait) if quiet_wait > 0 else 0.0
        if busy >= QUIET_CORES:
            print(f"  (starting round {round_ + 1} on a busy machine: {busy:.2f} cores busy)")
        shift = round_ % len(names)
        whole = CpuMeter()
        round_snap = whole.start()
        for name in names[shift:] + names[:shift]:
            snap = out.meters[name].start()
            seconds, result = timed(contenders[name])
            out.run_others[name].append(out.meters[name].stop(snap, seconds))
            out.times[name].append(seconds)
            check(name, result)
        whole.stop(round_snap, sum(out.times[name][-1] for name in names))
        out.others.append(whole.cores()[2])
        print(f"  round {round_ + 1}/{rounds}: {round_line(out, names)}", flush=True)
    return out


def round_line(out: Rounds, names: list[str]) -> str:
    """The last round's times, with other programs' cores during each run long enough."""
    parts = []
    for name in names:
        seconds, others = out.times[name][-1], out.run_others[name][-1]
        during = f" (others {others:.2f})" if seconds >= MIN_METERED_RUN else ""
        parts.append(f"{name} {seconds:.3f} s{during}")
    return ", ".join(parts) + f"; other programs over the round {out.others[-1]:.2f} cores"


def percentile(values: Sequence[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def cpu_seconds(procs: Sequence[psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds so far of each process (0 for one that is gone)."""
    out: dict[int, float] = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            out[proc.pid] = 0.0
    return out


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, everything but idle).

    Steal time (the hypervisor ran someone else) counts as busy; guest time is already
    part of user time on Linux.
    """
    t = psutil.cpu_times()
    idle = sum(getattr(t, f, 0.0) for f in ("idle", "iowait", "guest", "guest_nice"))
    return float(sum(t) - idle)


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and all its descendants (pools, servers, their pools)."""
    me = psutil.Process()
    return sum(cpu_seconds([me, *_children(me, recursive=True)]).values())


@dataclass(frozen=True)
class _Snapshot:
    procs: list[psutil.Process]
    cpu: dict[int, float]
    tree: float
    machine: float


@dataclass
class CpuMeter:
    """CPU spent while a contender's timed runs ran, summed over its runs.

    ``procs`` gives processes to account for one by one (a pool's workers); ``tree``
    is this benchmark's own processes (this one, its pools, its servers and theirs);
    whatever else the machine did meanwhile is other programs (the machine is shared).
    """

    procs: Callable[[], list[psutil.Process]] = list
    cpu: dict[int, float] = field(default_factory=dict)
    tree: float = 0.0
    machine: float = 0.0
    wall: float = 0.0

    def start(self) -> _Snapshot:
        procs = self.procs()
        return _Snapshot(procs, cpu_seconds(procs), tree_cpu_seconds(), machine_busy_seconds())

    def stop(self, snap: _Snapshot, seconds: float) -> float:
        """Add one run; return the cores other programs kept busy during it."""
        machine = machine_busy_seconds() - snap.machine
        tree = tree_cpu_seconds() - snap.tree
        for pid, cpu in cpu_seconds(snap.procs).items():
            self.cpu[pid] = self.cpu.get(pid, 0.0) + cpu - snap.cpu[pid]
        self.machine += machine
        self.tree += tree
        self.wall += seconds
        return min(CORES, max(0.0, machine - tree) / seconds)

    def cores(self) -> tuple[float, float, float]:
        """Mean cores busy: (``procs``, the rest of this benchmark, other programs)."""
        if not self.wall:
            return 0.0, 0.0, 0.0
        procs = sum(self.cpu.values())
        others = min(CORES, max(0.0, self.machine - self.tree) / self.wall)
        return procs / self.wall, max(0.0, self.tree - procs) / self.wall, others


def overlap_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Time during which at least two of the intervals were open at once."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    open_, last, total = 0, 0.0, 0.0
    for at, step in events:
        if open_ >= 2:
            total += at - last
        open_ += step
        last = at
    return total


def is_loky_worker(proc: psutil.Process) -> bool:
    try:
        return "loky.backend.popen_loky_posix" in proc.cmdline()
    except psutil.Error:
        return False


def local_loky_workers() -> list[psutil.Process]:
    """The loky worker processes of this process (the pool's, in part 1)."""
    return [p for p in psutil.Process().children() if is_loky_worker(p)]


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class FanoutServer:
    """``fanout serve`` on 127.0.0.1 as a child process, stopped by PID."""

    def __init__(self, log: IO[bytes]) -> None:
        self.port = free_port()
        self.log = log
        command = [str(FANOUT), "serve", "--host", HOST, "--port", str(self.port)]
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        self.master = psutil.Process(self.proc.pid)
        self._wait_ready(timeout=60.0)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fanout serve did not start; its output:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def workers(self) -> list[psutil.Process]:
        """The gunicorn worker processes (the master's other child is the demo upstream)."""
        return [p for p in self.master.children() if "upstream" not in " ".join(_cmdline(p))]

    def loky_by_worker(self) -> dict[int, list[psutil.Process]]:
        return {w.pid: [c for c in _children(w) if is_loky_worker(c)] for w in self.workers()}

    def loky_workers(self) -> list[psutil.Process]:
        return [p for procs in self.loky_by_worker().values() for p in procs]

    def stop(self) -> None:
        """SIGTERM to the server; SIGKILL to it and its recorded descendants if they linger."""
        tree = [self.master, *_children(self.master, recursive=True)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _gone, alive = psutil.wait_procs(tree, timeout=15)
        for proc in alive:
            with suppress(psutil.Error):
                proc.kill()
        self.proc.wait(timeout=5)


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return list(proc.cmdline())
    except psutil.Error:
        return []


def _children(proc: psutil.Process, recursive: bool = False) -> list[psutil.Process]:
    try:
        return list(proc.children(recursive=recursive))
    except psutil.Error:
        return []


@contextmanager
def fanout_server() -> Iterator[FanoutServer]:
    with tempfile.TemporaryFile() as log:
        server = FanoutServer(log)
        try:
            yield server
        finally:
            server.stop()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One request; on a new connection (closed afterwards) unless ``conn`` is given."""
    own = conn is None
    if conn is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=POOL_TIMEOUT)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def post_numbers(
    port: int, body: bytes, conn: http.client.HTTPConnection | None = None
) -> list[bool]:
    status, data = request(port, "POST", "/is_prime", body, conn)
    if status != 200:
        raise RuntimeError(f"POST /is_prime answered {status}: {data[:300]!r}")
    return [item["prime"] for item in json.loads(data)["results"]]


def numbers_body(numbers: Sequence[mpz]) -> bytes:
    return json.dumps({"numbers": [str(n) for n in numbers]}).encode()


def warm_server_pools(server: FanoutServer, body: bytes, attempts: int = 20) -> int:
    """Send concurrent pairs of pooled requests until every gunicorn worker has its pool.

    Returns how many workers have their CPU pool started.
    """
    for _ in range(attempts):
        started = [len(procs) >= WORKERS for procs in server.loky_by_worker().values()]
        if started and all(started):
            break
        threads = [
            threading.Thread(target=post_numbers, args=(server.port, body)) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return sum(len(procs) >= WORKERS for procs in server.loky_by_worker().values())


# --------------------------------------------------------------------------- 1. big batch


@dataclass(frozen=True)
class Startup:
    """First call on a fresh pool (it starts its processes) against the next ones."""

    count: int
    pool_cold: float
    pool_warm: float
    http_cold: float
    http_warm: float


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


def check_equal(expected: list[bool]) -> Callable[[str, object], None]:
    def check(name: str, result: object) -> None:
        if result != expected:
            raise AssertionError(f"{name} disagrees with the serial loop")

    return check


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
    wait_for_quiet(sizes.quiet_wait)
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
    startup = Startup(len(small), pool_cold, pool_warm, http_cold, http_warm)
    chunks = len({(pid, a) for pid, a, _ in trace})
    return BigBatch(
        count=len(numbers),
        digits=(min(len(str(n)) for n in numbers), max(len(str(n)) for n in numbers)),
        known_primes=known,
        primes_found=sum(expected),
        rounds=rounds,
        startup=startup,
        warm_server_workers=warmed,
        server_workers=server_workers,
        chunks=chunks,
        trace=trace,
        trace_others=trace_others,
    )


def trace_chunks(
    pool: CpuPool, numbers: Sequence[mpz], expected: list[bool]
) -> list[tuple[int, float, float]]:
    """One pooled run with each chunk's worker pid and (monotonic) start and end."""
    traced = pool.map_batches(traced_is_prime_batch, numbers, prime_cost)
    if [flag for flag, *_ in traced] != expected:
        raise AssertionError("the traced run disagrees with the serial loop")
    return sorted({(pid, start, end) for _, pid, start, end in traced}, key=lambda c: c[1])


# --------------------------------------------------------------------------- 2. tiny request


@dataclass
class Tiny:
    latencies_ms: dict[str, list[float]]
    warmup: int


def run_tiny(sizes: Sizes) -> Tiny:
    print(f"2. tiny requests: {sizes.tiny_requests} x GET {TINY_PATH} and GET /healthz")
    paths = {TINY_PATH: TINY_PATH, "/healthz": "/healthz"}
    with fanout_server() as server:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        try:
            for _ in range(sizes.tiny_warmup):
                for path in paths:
                    get_checked(conn, server.port, path)
            latencies: dict[str, list[float]] = {path: [] for path in paths}
            for i in range(sizes.tiny_requests):
                order = list(paths) if i % 2 == 0 else list(paths)[::-1]
                for path in order:
                    start = time.perf_counter()
                    get_checked(conn, server.port, path)
                    latencies[path].append((time.perf_counter() - start) * 1000)
        finally:
            conn.close()
    return Tiny(latencies, sizes.tiny_warmup)


def get_checked(conn: http.client.HTTPConnection, port: int, path: str) -> None:
    status, data = request(port, "GET", path, conn=conn)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
    if path == TINY_PATH and json.loads(data) != TINY_ANSWER:
        raise AssertionError(f"GET {path} answered {data!r}")


# --------------------------------------------------------------------------- 3. small numbers


@dataclass
class SmallRow:
    label: str
    function: str
    rounds: Rounds
    first: dict[str, float]
    chunks: int
    estimated: float  # seconds, the sum of the cost function over the numbers


def run_small(sizes: Sizes, pool: CpuPool) -> list[SmallRow]:
    count = sizes.small_count
    workloads = [
        (
            f"{count:,} random integers below 10**12",
            "our `is_prime`",
            small_numbers(count, 10**12, "cpu_bench-small-12"),
            is_prime,
            is_prime_batch,
            prime_cost,
        ),
        (
            f"{count:,} random integers below 10**8",
            "the example's trial division",
            small_numbers(count, 10**8, "cpu_bench-small-8"),
            trial_division,
            trial_division_batch,
            trial_division_cost,
        ),
    ]
    rows = []
    # The example's module-global pool: default size (os.cpu_count()), default start method.
    with ProcessPoolExecutor() as example_pool:
        for label, function, numbers, single, batch, cost in workloads:
            print(f"3. {label}, {function}")
            expected = [single(n) for n in numbers]
            contenders: dict[str, Callable[[], object]] = {
                "serial": partial(serial_map, single, numbers),
                "example": partial(example_map, example_pool, single, numbers),
                "ours": partial(pool.map_batches, batch, numbers, cost),
            }
            first = {name: timed(contenders[name])[0] for name in ("example", "ours")}
            rounds = interleave(contenders, sizes.repeat, check_equal(expected), sizes.quiet_wait)
            chunks = planned_chunks(pool, numbers, cost)
            estimated = math.fsum(cost(n) for n in numbers)
            rows.append(SmallRow(label, function, rounds, first, chunks, estimated))
    return rows


def serial_map(f: Callable[[int], bool], numbers: Sequence[int]) -> list[bool]:
    return [f(n) for n in numbers]


def example_map(
    executor: ProcessPoolExecutor, f: Callable[[int], bool], numbers: Sequence[int]
) -> list[bool]:
    """The example's pattern: ``Executor.map`` with its default chunksize of 1."""
    return list(executor.map(f, numbers))


def planned_chunks(pool: CpuPool, items: Sequence[Any], cost: Callable[[Any], float]) -> int:
    """How many chunks ``map_batches`` cuts ``items`` into (mirrors its planning)."""
    total = math.fsum(cost(item) for item in items)
    if total < pool.inline_cost:
        return 0
    return min(pool.workers * CHUNKS_PER_WORKER, max(1, int(total / pool.inline_cost)), len(items))


# --------------------------------------------------------------------------- the report


def fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def spread(values: Sequence[float]) -> str:
    return f"{fmt_s(min(values))} - {fmt_s(max(values))}"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def header(command: str, sizes: Sizes, load_before: float, load_after: float) -> list[str]:
    return [
        "# CPU offload: big batches, tiny requests, the example's pattern",
        "",
        f"Command: `{command}` (from the repository root)",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}, "
        f"{os.cpu_count()} CPUs; 1-min load average {load_before:.2f} before, "
        f"{load_after:.2f} after",
        f"- Python {platform.python_version()}, gmpy2 {gmpy2.version()} "
        f"({gmpy2.mp_version()}), loky {loky.__version__}",
        f"- {sizes.repeat} rounds per table; in each round every contender runs once, in "
        "an order rotating by round. Times are medians over rounds (spread: min - max). "
        "Ratios compare contenders of the same run: the ratio of their medians, or the "
        "median over rounds of their times' ratio within a round. "
        "Every contender's answers are checked equal to the serial loop's. Pools are warm "
        "when timed; first calls (pool start-up included) are reported separately.",
        "- The machine is shared with other people's benchmarks. Before each round the "
        f"benchmark waits up to {sizes.quiet_wait:g} s for fewer than {QUIET_CORES:g} "
        "cores to be busy, and during each round it measures the cores that other programs "
        "(anything outside this benchmark's process tree) kept busy. A *quiet round* is "
        f"one where that averaged under {QUIET_CORES:g} cores over the round and over each "
        f"run of {MIN_METERED_RUN:g} s or more: a pool of 2 processes can only show 2-core "
        "scaling when it has 2 cores.",
        f'- Ours: `CpuPool("process", {WORKERS}, timeout=...)` (loky), '
        "`map_batches(fn, numbers, cost)`. The server: `fanout serve --host 127.0.0.1` "
        "(gunicorn, 2 gevent workers, each with its own pool of `FANOUT_CPU_WORKERS` "
        "processes, default: the number of cores).",
        "",
    ]


BIG_LABELS = {
    "serial": "serial loop: `[is_prime(n) for n in numbers]` in this process",
    "pool": f'`CpuPool("process", {WORKERS}).map_batches(is_prime_batch, numbers, prime_cost)`',
    "http": "`POST /is_prime` on `fanout serve`, end to end (JSON out and back)",
    "ceiling": "ceiling: a perfect 2-way split here (half the time of two serial loops "
    "running at once, one per pool process)",
}
# The ceiling's runs do the whole batch twice; its row shows half their time.
BIG_SCALE = {"ceiling": 0.5}


def basis_rounds(r: Rounds) -> tuple[Rounds, str, bool]:
    """The quiet rounds if there are enough of them, else all.

    Also returns a phrase naming them, and whether they are quiet.
    """
    count, quiet = len(r.others), r.quiet()
    if len(quiet) == count:
        return r, f"all {count} rounds (all quiet)", True
    if len(quiet) >= min(MIN_QUIET_ROUNDS, count):
        return r.subset(quiet), f"the {len(quiet)} quiet rounds (of {count})", True
    return r, f"all {count} rounds (only {len(quiet)} quiet)", False


def big_section(big: BigBatch) -> list[str]:
    r, basis, _ = basis_rounds(big.rounds)
    low, high = big.digits
    digits = str(low) if low == high else f"{low}-{high}"
    rows = [
        "## 1. Big batch of 1000-digit numbers",
        "",
        f"{big.count} distinct numbers of {digits} digits: "
        f"{big.count - big.known_primes} random odd ones and {big.known_primes} primes, "
        f"shuffled ({big.primes_found} prime in all). The pool cut the batch into "
        f"{big.chunks} chunks.",
        "",
        f"How to read: time for the whole batch over {basis}, the cores other programs kept "
        "busy during all runs, and the time over the serial loop's two ways: the ratio of "
        "the medians, and the median of each round's ratio (target for the pool: at most "
        f"{TARGET_BIG_RATIO}x on 2 cores; 0.5x is perfect scaling on ideal hardware, the "
        "ceiling row is what this machine allows).",
        "",
        "| contender | median | spread | other programs (cores) | / serial, ratio of medians "
        "| / serial, median of per-round ratios |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in BIG_LABELS.items():
        k = BIG_SCALE.get(name, 1.0)
        rows.append(
            f"| {label} | {fmt_s(k * r.median(name))} | {spread([k * t for t in r.times[name]])} "
            f"| {r.meters[name].cores()[2]:.2f} | {k * r.ratio_of_medians(name, 'serial'):.2f}x "
            f"| {k * r.ratio(name, 'serial'):.2f}x |"
        )
    rows += ["", *big_verdict(big), "", *cores_section(big)]
    return rows


def big_verdict(big: BigBatch) -> list[str]:
    r, basis, quiet = basis_rounds(big.rounds)
    of_medians, per_round = r.ratio_of_medians("pool", "serial"), r.ratio("pool", "serial")
    met = [x <= TARGET_BIG_RATIO for x in (of_medians, per_round)]
    outcome = verdict(True) if all(met) else verdict(False) if not any(met) else "**borderline**"
    scale = BIG_SCALE["ceiling"]
    ceiling = scale * r.ratio_of_medians("ceiling", "serial")
    to_ceiling = r.median("pool") / (scale * r.median("ceiling"))
    st = big.startup
    return [
        f"- Target (pool <= {TARGET_BIG_RATIO}x serial on 2 cores), over {basis}: {outcome}: "
        f"{of_medians:.3f}x as a ratio of medians ({1 / of_medians:.2f}x speed-up), "
        f"{per_round:.3f}x as the median of per-round ratios (the two differ by the "
        f"contenders' own run-to-run noise: the serial loop alone spans "
        f"{spread(r.times['serial'])}). Through HTTP: {r.ratio_of_medians('http', 'serial'):.2f}x"
        f" / {r.ratio('http', 'serial'):.2f}x.",
        f"- Ceiling: {ceiling_note(ceiling, quiet)} The pool's median time is "
        f"{to_ceiling:.2f}x the perfect split's.",
        f"- Pool start-up, measured apart on {st.count} composite 1000-digit numbers (little "
        "work, but pooled by their estimated cost): the first call on a fresh pool took "
        f"{fmt_s(st.pool_cold)} against {fmt_s(st.pool_warm)} for the next ones (median of "
        f"{STARTUP_WARM}); the first `POST` to a fresh server {fmt_s(st.http_cold)} against "
        f"{fmt_s(st.http_warm)} on the same keep-alive connection. Each gunicorn worker "
        f"starts its own pool on its first pooled request; warm-up then started the pools "
        f"of {big.warm_server_workers} of {big.server_workers} workers before the rounds.",
    ]


def ceiling_note(ceiling: float, quiet: bool) -> str:
    split = f"a perfect 2-way split would be {ceiling:.2f}x serial here"
    if ceiling <= 0.52:
        return f"{split}, as on ideal hardware."
    if not quiet:
        return f"{split}, not 0.5x: other programs held cores during these rounds."
    return (
        f"{split}, not 0.5x, even with other programs quiet: two copies of the loop running "
        "at once each take longer than one alone (the two virtual CPUs slow each other down)."
    )


def cores_section(big: BigBatch) -> list[str]:
    r = big.rounds
    rows = [
        "### Both cores at work",
        "",
        "How to read: CPU seconds (user + system, from /proc) spent during each "
        "contender's timed runs, divided by those runs' wall time, i.e. mean cores busy: by "
        "the pool's worker processes (2.0 = both cores all the time), by the rest of this "
        "benchmark (this process; for HTTP also the server's gunicorn workers), and by "
        "other programs, which take cores away from the pool but not from the one-core "
        "serial loop.",
        "",
        "| runs | pool processes | CPU s per pool process | pool cores "
        "| rest of this benchmark | other programs |",
        "|---|---:|---|---:|---:|---:|",
        meter_row("serial loop", r.meters["serial"]),
        meter_row("in-process pool", r.meters["pool"]),
        meter_row("`POST /is_prime` (pools of both server workers)", r.meters["http"]),
        meter_row("ceiling (two serial loops at once in the pool)", r.meters["ceiling"]),
        "",
        *trace_section(big),
    ]
    return rows


def trace_section(big: BigBatch) -> list[str]:
    pids = sorted({pid for pid, _, _ in big.trace})
    start = min(a for _, a, _ in big.trace)
    end = max(b for _, _, b in big.trace)
    busy = sum(b - a for _, a, b in big.trace)
    overlap = overlap_seconds([(a, b) for _, a, b in big.trace])
    last_ends = [max(b for p, _, b in big.trace if p == pid) for pid in pids]
    tail = max(last_ends) - min(last_ends)
    rows = [
        "How to read: one extra traced run of the in-process pool; each chunk reports its "
        "process id and start/end time. Overlap is the time during which at least two "
        "chunks ran at once.",
        "",
        "| worker pid | chunks | busy |",
        "|---:|---:|---:|",
    ]
    for pid in pids:
        mine = [(a, b) for p, a, b in big.trace if p == pid]
        rows.append(f"| {pid} | {len(mine)} | {fmt_s(sum(b - a for a, b in mine))} |")
    rows += [
        "",
        f"- Chunks ran in {len(pids)} distinct processes; from the first chunk's start to "
        f"the last one's end {fmt_s(end - start)}, {fmt_s(busy)} of chunk time in all "
        f"({busy / (end - start):.2f} chunks running on average), {fmt_s(overlap)} "
        f"({overlap / (end - start):.0%}) with two or more chunks running at once. The "
        f"first worker to run out of chunks then idled {fmt_s(tail)} while the other "
        "finished (chunks are balanced on estimated cost, which is the same for every "
        "1000-digit number, while a prime costs ~30x a typical composite). Other programs "
        f"kept {big.trace_others:.2f} cores busy meanwhile.",
        "",
    ]
    return rows


def meter_row(label: str, meter: CpuMeter) -> str:
    used = sorted((s for s in meter.cpu.values() if s > 0.01), reverse=True)
    per_worker = ", ".join(f"{s:.2f}" for s in used) or "-"
    pool, rest, others = meter.cores()
    return f"| {label} | {len(used)} | {per_worker} | {pool:.2f} | {rest:.2f} | {others:.2f} |"


def tiny_section(tiny: Tiny) -> list[str]:
    rows = [
        "## 2. Tiny request, end to end",
        "",
        f"How to read: latency of one request on a reused keep-alive connection "
        f"(`http.client`), one at a time, the two paths alternating, after "
        f"{tiny.warmup} warm-up requests each. `/healthz` is the floor of "
        "Flask + gunicorn + this client; three small numbers run inline (estimated cost "
        "below 2 ms), no process round trip.",
        "",
        "| request | n | median | p90 | p99 | max | median - healthz median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    floor = statistics.median(tiny.latencies_ms["/healthz"])
    for path, values in tiny.latencies_ms.items():
        median = statistics.median(values)
        rows.append(
            f"| `GET {path}` | {len(values)} | {median:.2f} ms | {percentile(values, 90):.2f} ms "
            f"| {percentile(values, 99):.2f} ms | {max(values):.2f} ms | {median - floor:+.2f} ms |"
        )
    median = statistics.median(tiny.latencies_ms[TINY_PATH])
    rows += [
        "",
        f"- Target (median under {TARGET_TINY_MS:g} ms): {verdict(median < TARGET_TINY_MS)} "
        f"({median:.2f} ms).",
        "",
    ]
    return rows


def small_section(rows_in: list[SmallRow]) -> list[str]:
    rows = [
        "## 3. The example's pattern on small numbers",
        "",
        "How to read: time for the whole set. *example* is `ProcessPoolExecutor().map(f, "
        "numbers)` with its default chunksize of 1 on a warm module-global pool "
        '(2 processes); *ours* is `CpuPool("process", 2).map_batches(f_batch, numbers, '
        "cost)`; *serial* is `[f(n) for n in numbers]`. Every contender runs the same `f`. "
        "Ratios (per round, median over rounds) above 1 mean the first-named is slower.",
        "",
        "| numbers | f | serial | example | ours | example / ours | example / serial "
        "| ours / serial |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows_in:
        r = row.rounds
        rows.append(
            f"| {row.label} | {row.function} | {fmt_s(r.median('serial'))} "
            f"| {fmt_s(r.median('example'))} | {fmt_s(r.median('ours'))} "
            f"| {r.ratio('example', 'ours'):.1f}x | {r.ratio('example', 'serial'):.1f}x "
            f"| {r.ratio('ours', 'serial'):.2f}x |"
        )
    rows.append("")
    for row in rows_in:
        r = row.rounds
        others = statistics.median(r.others)
        rows.append(
            f"- {row.label}, {row.function}: estimated cost {fmt_s(row.estimated)} (the "
            f"serial loop took {fmt_s(r.median('serial'))}), so ours cut it into "
            f"{row.chunks} chunks; spreads: serial {spread(r.times['serial'])}, example "
            f"{spread(r.times['example'])}, ours {spread(r.times['ours'])}; first call of "
            f"the example (its pool starts its processes then) {fmt_s(row.first['example'])}"
            f", of ours (pool started in part 1) {fmt_s(row.first['ours'])}; "
            f"{len(r.quiet())} of {len(r.others)} rounds quiet, other programs kept "
            f"{others:.2f} cores busy (median over rounds)."
        )
    rows.append("")
    return rows


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: little work, 2 rounds")
    parser.add_argument("--repeat", type=int, help="rounds per table (default 7, quick 2)")
    parser.add_argument("--tiny-requests", type=int, help="timed requests per path (400)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds to wait before each round for load from elsewhere to pass (3, quick 1)",
    )
    parser.add_argument("--out", type=Path, help="report path (default bench/results/cpu.md)")
    return parser.parse_args(argv)


def sizes_for(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    overrides = {
        "repeat": args.repeat,
        "tiny_requests": args.tiny_requests,
        "quiet_wait": args.quiet_wait,
    }
    return replace(sizes, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_for(args)
    default_out = "results/raw/cpu-quick.md" if args.quick else "results/cpu.md"
    out: Path = args.out or BENCH / default_out
    command = shlex.join(["python", "bench/cpu_bench.py", *sys.argv[1:]])
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    pool = CpuPool("process", WORKERS, timeout=POOL_TIMEOUT)
    try:
        big = run_big_batch(sizes, pool)
        tiny = run_tiny(sizes)
        small = run_small(sizes, pool)
    finally:
        pool.shutdown()
    report = [
        *header(command, sizes, load_before, os.getloadavg()[0]),
        *big_section(big),
        *tiny_section(tiny),
        *small_section(small),
        f"Total run time: {time.monotonic() - began:.0f} s.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report))
    print("\n".join(report))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
