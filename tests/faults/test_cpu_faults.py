"""CPU backends losing their processes under ``fanout serve``.

- a loky worker (a child of a gunicorn worker) SIGKILLed mid-request: that
  request gets a 503 JSON with ``Retry-After``, the next one a 200;
- the Dask scheduler (``dask scheduler`` from the venv) killed mid-request: that
  request gets a 503/504 JSON, later ones a quick 503, and the rest of the
  service (``/healthz``, ``GET /``) keeps answering.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import gmpy2
import psutil

from .conftest import Answer, Processes, Server, post_json

CPU_TIMEOUT = 10.0
BOUND = CPU_TIMEOUT + 5  # client timeout for CPU requests: past it, the service hung


def mersenne(p: int) -> str:
    """2**p - 1 in decimal: a prime that costs about a second to prove at p ~ 10,000."""
    return str(gmpy2.mpz(2) ** p - 1)


HEAVY = [mersenne(p) for p in (9689, 9941, 11213)]  # ~1 s, ~1.2 s, ~2.5 s of CPU
MEDIUM = [str(10**300 + i) for i in range(120)]  # offloaded (over the inline cost), quick


def file_source(procs: Processes) -> str:
    notes = procs.log_dir / "notes.txt"
    notes.write_text("notes\n")
    return f'[sources.file]\ntype = "file"\npath = "{notes}"\n'


def in_background(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["answer"] = fn()
        except BaseException as exc:  # reported by the test
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def loky_workers(server: Server) -> list[psutil.Process]:
    workers = []
    for gunicorn_worker in server.workers():
        for child in gunicorn_worker.children():
            if "loky" in " ".join(child.cmdline()) and "resource_tracker" not in " ".join(
                child.cmdline()
            ):
                workers.append(child)
    return workers


def busy(processes: list[psutil.Process], seconds: float = 20) -> psutil.Process:
    """The first of ``processes`` seen using CPU (polling, bounded)."""
    deadline = time.monotonic() + seconds
    for p in processes:
        p.cpu_percent(None)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        for p in processes:
            if p.is_running() and p.cpu_percent(None) > 10:
                return p
    raise AssertionError("no worker process picked up the work")


def check_unavailable(answer: Answer) -> None:
    assert answer.status == 503, answer
    assert answer.json()["error"] == "cpu_unavailable"
    assert answer.headers["retry-after"]


def test_a_killed_loky_worker_costs_one_answer(procs: Processes) -> None:
    server = procs.serve(
        "--workers",
        "1",
        config=file_source(procs),
        env={"FANOUT_CPU_WORKERS": "2", "FANOUT_CPU_TIMEOUT": str(CPU_TIMEOUT)},
    )
    assert post_json(server.base + "/is_prime", {"numbers": MEDIUM}, timeout=BOUND).status == 200
    workers = loky_workers(server)
    assert len(workers) == 2, "the process pool runs in the gunicorn worker"

    thread, result = in_background(
        lambda: post_json(server.base + "/is_prime", {"numbers": HEAVY}, timeout=BOUND)
    )
    victim = busy(workers)
    os.kill(victim.pid, signal.SIGKILL)
    thread.join(BOUND + 1)
    check_unavailable(result["answer"])

    again = post_json(server.base + "/is_prime", {"numbers": HEAVY[:2]}, timeout=BOUND)
    assert again.status == 200
    assert [r["prime"] for r in again.json()["results"]] == [True, True]
    assert server.get("/healthz").status == 200
    assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE
    deadline = time.monotonic() + 5
    while len(live := [p for p in loky_workers(server) if p.status() != "zombie"]) != 2:
        assert time.monotonic() < deadline, f"the pool was rebuilt, the old one gone: {live}"
        time.sleep(0.1)


def test_a_killed_dask_scheduler(procs: Processes) -> None:
    address, scheduler = procs.dask_cluster(nworkers=1)
    server = procs.serve(
        "--workers",
        "1",
        config=file_source(procs),
        env={
            "FANOUT_CPU_BACKEND": "dask",
            "FANOUT_DASK_ADDRESS": address,
            "FANOUT_CPU_TIMEOUT": str(CPU_TIMEOUT),
        },
        ready="/readyz",  # the scheduler and its worker are up
    )
    assert post_json(server.base + "/is_prime", {"numbers": MEDIUM}, timeout=BOUND).status == 200

    thread, result = in_background(
        lambda: post_json(server.base + "/is_prime", {"numbers": HEAVY}, timeout=BOUND)
    )
    time.sleep(1.0)  # the chunks are on the cluster (about 5 s of work for one thread)
    assert thread.is_alive(), "the heavy request finished before the scheduler was killed"
    os.killpg(scheduler.pid, signal.SIGKILL)
    scheduler.wait(10)
    thread.join(BOUND + 1)
    answer = result["answer"]
    assert answer.status in (503, 504), answer
    assert answer.json()["error"] in ("cpu_unavailable", "cpu_timeout")

    # Later CPU requests fail fast, while the client tries to reconnect and after it
    # gave up (then at most one connection attempt of 5 s at a time): never a hang.
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 6:
        later = post_json(server.base + "/is_prime", {"numbers": MEDIUM}, timeout=5 + 3)
        check_unavailable(later)
        time.sleep(0.3)
    assert server.get("/is_prime/7,11", timeout=5).json() == {"7": True, "11": True}
    assert server.get("/healthz", timeout=5).status == 200
    home = server.get("/", timeout=5)
    assert home.status == 200 and home.json()["result_file"] == "notes\n"
    ready = server.get("/readyz", timeout=5 + 3)
    assert ready.status == 503 and ready.json()["checks"]["cpu"]["ready"] is False
