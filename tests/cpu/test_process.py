"""The process backend on real loky pools, in threads and under gevent.

Parallelism, placement and cancellation are shown by behaviour: chunks record the
pid and the interval they ran in, and touch marker files when they start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from flask_fanout.cpu import (
    CpuPool,
    CpuTimeout,
    CpuUnavailable,
)
from flask_fanout.cpu.chunks import probe_length
from flask_fanout.service.primes import is_prime_batch, prime_cost
from tests import cpu_tasks
from tests.cpu.conftest import ROOT, overlapping, sample_numbers, spins, wait_until
from tests.cpu_tasks import Ran, spin_batch, spin_cost, tag_batch

pytestmark = pytest.mark.slow


def test_tiny_work_runs_inline_in_the_calling_process(fresh_pool: CpuPool) -> None:
    numbers = [7, 11, 13]
    results = fresh_pool.map_batches(tag_batch, numbers, lambda _: 1e-5)
    assert results == [(7, os.getpid()), (11, os.getpid()), (13, os.getpid())]
    stats = fresh_pool.stats()
    assert stats["batches_inline_total"] == 1
    assert stats["chunks_submitted_total"] == 0
    assert stats["pool_starts_total"] == 0  # no process was ever started


def test_costly_work_goes_to_workers_in_order(process_pool: CpuPool) -> None:
    before = process_pool.stats()
    items = spins(200, 0.0005)
    results = process_pool.map_batches(spin_batch, items, spin_cost)
    assert [r.label for r in results] == [label for label, _, _ in items]
    # Only the probe (the first items, worth half of inline_cost) ran here.
    probed = probe_length([spin_cost(i) for i in items], process_pool.inline_cost)
    assert 0 < probed < 10
    assert [r.pid == os.getpid() for r in results] == [True] * probed + [False] * (200 - probed)
    submitted = process_pool.stats()["chunks_submitted_total"] - before["chunks_submitted_total"]
    # Balanced chunks, a few per worker: never one item per chunk.
    assert submitted == 2 * 4
    assert process_pool.stats()["in_flight_chunks"] == 0


def test_work_far_cheaper_than_estimated_stays_inline(fresh_pool: CpuPool) -> None:
    # Estimated at 20 ms (a pool's worth), really a few microseconds: the probe
    # shows it, and the whole batch runs here instead of paying for a round trip.
    items = list(range(200))
    results = fresh_pool.map_batches(tag_batch, items, lambda _: 1e-4)
    assert results == [(x, os.getpid()) for x in items]
    stats = fresh_pool.stats()
    assert stats["batches_inline_total"] == 1 and stats["chunks_submitted_total"] == 0
    assert stats["pool_starts_total"] == 0


def test_a_batch_its_estimates_keep_inline_is_not_probed(fresh_pool: CpuPool) -> None:
    # 10,000 items estimated at 1 us: shipping them would cost more than two
    # workers save, and a probe could only lower the estimates: one call, here.
    calls: list[int] = []

    def count(chunk: list[int]) -> list[int]:
        calls.append(len(chunk))
        return list(chunk)

    items = list(range(10_000))
    assert fresh_pool.map_batches(count, items, 1e-6) == items
    assert calls == [10_000]
    assert fresh_pool.stats()["batches_inline_total"] == 1


def test_a_probed_batch_that_stays_inline_runs_in_one_call(fresh_pool: CpuPool) -> None:
    # Estimated at 0.1 ms each (a pool's worth), really far cheaper: the probe
    # shows it, and then the whole batch runs here in one call, its probe again,
    # rather than cut in two.
    calls: list[list[int]] = []

    def tag(chunk: list[int]) -> list[tuple[int, int]]:
        calls.append(list(chunk))
        return [(x, os.getpid()) for x in chunk]

    items = list(range(5_000))
    results = fresh_pool.map_batches(tag, items, 1e-4)
    assert results == [(x, os.getpid()) for x in items]
    assert len(calls) == 2 and calls[1] == items and calls[0] == items[: len(calls[0])]
    assert fresh_pool.stats()["chunks_submitted_total"] == 0


def test_one_costly_item_leaves_the_calling_process(process_pool: CpuPool) -> None:
    # A single item worth more than inline_cost (here: ~3 ms) is offloaded.
    [(x, pid)] = process_pool.map_batches(tag_batch, [1], lambda _: 0.003)
    assert x == 1 and pid != os.getpid()


def test_chunks_run_in_parallel_on_different_workers(process_pool: CpuPool) -> None:
    runs = process_pool.map_batches(spin_batch, spins(4, 0.3), spin_cost)
    assert [r.label for r in runs] == ["0", "1", "2", "3"]
    assert len({r.pid for r in runs}) == 2
    assert overlapping(runs)


def test_concurrent_requests_share_the_pool(process_pool: CpuPool) -> None:
    results: dict[int, list[tuple[int, int]]] = {}

    def request(k: int) -> None:
        items = list(range(k * 100, k * 100 + 100))
        results[k] = process_pool.map_batches(tag_batch, items, lambda _: 1.0)

    threads = [threading.Thread(target=request, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == list(range(8))
    for k, result in results.items():
        assert [x for x, _ in result] == list(range(k * 100, k * 100 + 100))
    assert process_pool.stats()["in_flight_chunks"] == 0


def test_task_errors_propagate_unchanged(process_pool: CpuPool) -> None:
    with pytest.raises(ValueError, match="bad chunk"):
        process_pool.map_batches(cpu_tasks.fail_batch, list(range(100)), lambda _: 1.0)
    with pytest.raises(ValueError, match="results for"):
        process_pool.map_batches(cpu_tasks.short_batch, list(range(100)), lambda _: 1.0)
    assert process_pool.map_batches(tag_batch, [5], lambda _: 1.0)[0][0] == 5


def test_same_answers_as_serial(process_pool: CpuPool) -> None:
    numbers = sample_numbers()
    assert process_pool.map_batches(is_prime_batch, numbers, prime_cost) == is_prime_batch(numbers)


def test_timeout_cancels_queued_chunks(fresh_pool: CpuPool, tmp_path: Path) -> None:
    # Eight chunks of ~0.4 s on two workers need ~1.6 s; the deadline is 0.5 s.
    with pytest.raises(CpuTimeout) as caught:
        fresh_pool.map_batches(spin_batch, spins(10, 0.4, tmp_path), spin_cost, timeout=0.5)
    assert caught.value.code == "cpu_timeout"
    wait_until(lambda: fresh_pool.stats()["in_flight_chunks"] == 0)
    started = len(list(tmp_path.iterdir()))
    assert started < 10  # queued chunks never ran
    stats = fresh_pool.stats()
    assert stats["timeouts_total"] == 1
    assert stats["chunks_cancelled_total"] >= 1
    assert stats["chunks_submitted_total"] < 8
    # The pool is fine afterwards.
    assert fresh_pool.map_batches(tag_batch, [1, 2], lambda _: 1.0)[1][0] == 2


def test_killed_worker_costs_one_request_then_pool_recovers(
    fresh_pool: CpuPool, tmp_path: Path
) -> None:
    outcome: dict[str, Any] = {}

    def request() -> None:
        try:
            fresh_pool.map_batches(spin_batch, spins(4, 10.0, tmp_path), spin_cost)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=request)
    thread.start()
    wait_until(lambda: any(tmp_path.iterdir()))
    victim = int(next(tmp_path.iterdir()).read_text())
    workers = set(fresh_pool.executor()._processes)  # type: ignore[attr-defined]
    assert victim in workers
    os.kill(victim, signal.SIGKILL)
    thread.join(20)
    assert not thread.is_alive()
    error = outcome["error"]
    assert isinstance(error, CpuUnavailable) and error.code == "cpu_unavailable"

    # The next call succeeds on a rebuilt pool with new processes.
    results = fresh_pool.map_batches(tag_batch, list(range(100)), lambda _: 1.0)
    assert [x for x, _ in results] == list(range(100))
    assert not {pid for _, pid in results} & workers
    stats = fresh_pool.stats()
    assert stats["unavailable_total"] == 1
    assert stats["pool_starts_total"] == 2
    assert stats["in_flight_chunks"] == 0


def test_idle_worker_crash_costs_no_request(fresh_pool: CpuPool) -> None:
    first = {pid for _, pid in fresh_pool.map_batches(tag_batch, [1, 2], lambda _: 1.0)}
    executor = fresh_pool.executor()
    os.kill(next(iter(executor._processes)), signal.SIGKILL)  # type: ignore[attr-defined]
    wait_until(lambda: executor._flags.broken is not None)  # type: ignore[attr-defined]
    # Nothing was running: the next request gets a fresh pool, not a 503.
    results = fresh_pool.map_batches(tag_batch, list(range(20)), lambda _: 1.0)
    assert [x for x, _ in results] == list(range(20))
    assert not {pid for _, pid in results} & first
    stats = fresh_pool.stats()
    assert stats["unavailable_total"] == 0 and stats["pool_starts_total"] == 2
    assert fresh_pool.executor() is not executor


def test_forked_child_builds_its_own_pool(fresh_pool: CpuPool) -> None:
    parent_workers = {pid for _, pid in fresh_pool.map_batches(tag_batch, [1, 2], lambda _: 1.0)}
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(read_end)
            results = fresh_pool.map_batches(tag_batch, list(range(50)), lambda _: 1.0)
            report = {
                "ok": [x for x, _ in results] == list(range(50)),
                "pids": sorted({pid for _, pid in results}),
                "starts": fresh_pool.stats()["pool_starts_total"],
            }
            os.write(write_end, json.dumps(report).encode())
            fresh_pool.shutdown()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["ok"] and report["starts"] == 1
    assert not set(report["pids"]) & parent_workers
    # The parent's pool is untouched by the child.
    assert {pid for _, pid in fresh_pool.map_batches(tag_batch, [3], lambda _: 1.0)} <= (
        parent_workers
    )


def test_shutdown_refuses_later_work() -> None:
    pool = CpuPool("process", 1, timeout=5)
    assert pool.ready()[0]
    pool.shutdown()
    assert pool.ready() == (False, "the CPU pool is shut down")
    with pytest.raises(CpuUnavailable):
        pool.map_batches(tag_batch, [1], lambda _: 1e-6)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="backend"):
        CpuPool("threads", 2, timeout=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        CpuPool("process", 0, timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        CpuPool("process", 2, timeout=0)
    with pytest.raises(ValueError, match="address"):
        CpuPool("dask", 2, timeout=1)


# ---------------------------------------------------------------- gevent

GEVENT_SCRIPT = """
from gevent import monkey

monkey.patch_all()

import faulthandler, json, os, signal, sys, tempfile, time

import gevent

from flask_fanout.cpu import CpuPool, CpuUnavailable
from tests.cpu_tasks import spin_batch, spin_cost, tag_batch

faulthandler.dump_traceback_later(60, exit=True)  # a hang fails with exit code 1
pool = CpuPool("process", 2, timeout=30)
ticks = []

def ticker():
    while True:
        ticks.append(time.time())
        gevent.sleep(0.005)

def request(k, seconds=0.25, marker_dir=""):
    items = [(f"{k}-{i}", seconds, marker_dir) for i in range(2)]
    try:
        return pool.map_batches(spin_batch, items, spin_cost)
    except CpuUnavailable as exc:
        return exc.code

tick = gevent.spawn(ticker)
requests = [gevent.spawn(request, k) for k in range(2)]
gevent.joinall(requests, raise_error=True)
runs = [run for g in requests for run in g.value]

# A worker killed mid-chunk: that request gets a 503, the next one is served.
markers = tempfile.mkdtemp()
doomed = gevent.spawn(request, "doomed", 10.0, markers)
while not os.listdir(markers):
    gevent.sleep(0.01)
os.kill(int(open(os.path.join(markers, os.listdir(markers)[0])).read()), signal.SIGKILL)
crashed = doomed.get(timeout=20)
after = pool.map_batches(tag_batch, list(range(6)), lambda _: 1.0)
tick.kill()

try:
    CpuPool("dask", 2, timeout=1, dask_address="tcp://127.0.0.1:8786")
    dask_error = None
except ValueError as exc:
    dask_error = str(exc)
print(json.dumps({
    "pid": os.getpid(),
    "runs": runs,
    "ticks": ticks,
    "crashed": crashed,
    "after": after,
    "dask_error": dask_error,
}))
# No pool.shutdown(): the process must still exit. loky's own exit handler
# hangs under gevent unless the pool's workers were killed first.
"""


def test_process_backend_under_gevent() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    runs = [Ran(*run) for run in report["runs"]]
    assert len(runs) == 4 and report["pid"] not in {r.pid for r in runs}
    assert overlapping(runs)
    # The hub kept running: the ticker greenlet ticked while every chunk computed.
    for run in runs:
        assert sum(run.start <= t <= run.end for t in report["ticks"]) >= 5
    assert report["crashed"] == "cpu_unavailable"
    assert [x for x, _ in report["after"]] == list(range(6))
    assert "gevent" in report["dask_error"]
