"""The primality endpoints on every CPU backend: same answers, clean failures.

Real loky process pools and a real Dask LocalCluster; a worker is SIGKILLed in
the middle of a request.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gmpy2
import psutil
import pytest
import sympy
from flask import Flask

MERSENNE_EXPONENTS = [4423, 9689, 9941, 11213, 19937]  # 2**p - 1 is prime


def mersenne(p: int) -> str:
    """2**p - 1 in decimal, past Python's 4300-digit str(int) limit."""
    return str(gmpy2.mpz(2) ** p - 1)


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def make_primes_app(
    make_app: Callable[..., Flask], text_file: Path, backend: str, **settings: Any
) -> Flask:
    return make_app(
        f'[sources.a]\ntype = "file"\npath = "{text_file}"\n',
        FANOUT_CPU_BACKEND=backend,
        FANOUT_CPU_WORKERS=2,
        FANOUT_PRIME_MAX_DIGITS=7000,
        **settings,
    )


def mixed_numbers() -> list[int]:
    rng = random.Random(3)
    numbers = [rng.getrandbits(64) for _ in range(200)]
    numbers += [2**p - 1 for p in MERSENNE_EXPONENTS[:2]]
    numbers += [3825123056546413051, 2**4423 + 1, (2**89 - 1) * (2**107 - 1)]
    numbers += [rng.getrandbits(3300) | 1 for _ in range(30)]
    return numbers


@pytest.mark.parametrize("backend", ["inline", "process", "dask"])
def test_every_backend_gives_the_same_exact_answers(
    backend: str,
    request: pytest.FixtureRequest,
    make_app: Callable[..., Flask],
    text_file: Path,
) -> None:
    extra = (
        {"FANOUT_DASK_ADDRESS": request.getfixturevalue("dask_address")}
        if backend == "dask"
        else {}
    )
    app = make_primes_app(make_app, text_file, backend, **extra)
    numbers = mixed_numbers()
    response = app.test_client().post("/is_prime", json={"numbers": [str(n) for n in numbers]})
    assert response.status_code == 200, response.get_json()
    got = [r["prime"] for r in response.get_json()["results"]]
    assert got == [bool(sympy.isprime(n)) for n in numbers]
    stats = app.extensions["fanout"].cpu.stats()
    if backend != "inline":
        assert stats["chunks_submitted_total"] >= 2, "a big batch must leave the request thread"
    app.extensions["fanout"].cpu.shutdown()


def loky_workers() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "loky" in " ".join(child.cmdline())
    ]


def test_a_killed_worker_costs_one_answer_then_service_recovers(
    make_app: Callable[..., Flask], text_file: Path
) -> None:
    app = make_primes_app(make_app, text_file, "process")
    client = app.test_client()
    assert client.get("/is_prime/2,3").status_code == 200
    before = {p.pid for p in loky_workers()}
    heavy = {"numbers": [mersenne(p) for p in MERSENNE_EXPONENTS]}
    answer: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: answer.update(r=client.post("/is_prime", json=heavy)))
    worker.start()
    deadline = time.monotonic() + 20
    busy: list[psutil.Process] = []
    while not busy and time.monotonic() < deadline:
        busy = [p for p in loky_workers() if p.pid not in before and p.cpu_percent(0.05) > 20]
        busy = busy or [p for p in loky_workers() if p.cpu_percent(0.05) > 20]
    assert busy, "no worker picked up the batch"
    os.kill(busy[0].pid, signal.SIGKILL)
    worker.join(30)
    response = answer["r"]
    assert response.status_code == 503
    assert response.is_json and response.get_json()["error"] == "cpu_unavailable"
    assert response.headers["Retry-After"]

    again = client.post("/is_prime", json={"numbers": [mersenne(p) for p in (4423, 9689)]})
    assert again.status_code == 200
    assert [r["prime"] for r in again.get_json()["results"]] == [True, True]
    app.extensions["fanout"].cpu.shutdown()


def test_the_cpu_deadline_answers_504_and_cancels(
    make_app: Callable[..., Flask], text_file: Path
) -> None:
    app = make_primes_app(make_app, text_file, "process", FANOUT_CPU_TIMEOUT=0.3)
    client = app.test_client()
    heavy = {"numbers": [mersenne(p) for p in MERSENNE_EXPONENTS] * 1}
    response = client.post("/is_prime", json=heavy)
    assert response.status_code == 504
    assert response.get_json()["error"] == "cpu_timeout"
    assert client.get("/is_prime/7,11,13").get_json() == {"7": True, "11": True, "13": True}
    assert app.extensions["fanout"].cpu.stats()["timeouts_total"] == 1
    app.extensions["fanout"].cpu.shutdown()


def test_readyz_reports_an_unreachable_dask_scheduler(
    make_app: Callable[..., Flask], text_file: Path
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_primes_app(
        make_app, text_file, "dask", FANOUT_DASK_ADDRESS=f"tcp://127.0.0.1:{port}"
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready"
    assert body["checks"]["cpu"]["ready"] is False and body["checks"]["cpu"]["detail"]
    answer = app.test_client().post("/is_prime", json={"numbers": [mersenne(4423)]})
    assert answer.status_code == 503 and answer.get_json()["error"] == "cpu_unavailable"
