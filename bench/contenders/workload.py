"""The two workloads every contender serves on ``GET /``, chosen by environment variables.

``BENCH_WORKLOAD=sleeps`` (the default): the original example's three "reads", a file,
a database and an API, faked by sleeps of 0.1, 0.2 and 0.3 s.

``BENCH_WORKLOAD=http``: three real HTTP calls to the local upstream
(``BENCH_UPSTREAM``, default ``http://127.0.0.1:18001``) answering after 100, 200 and
300 ms.

Either way the answer is the example's JSON: ``{"result_file": ..., "result_db": ...,
"result_api": ...}``; ideal latency is 0.3 s when the three run concurrently.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

SLEEPS = {"file": 0.1, "db": 0.2, "api": 0.3}
DELAYS_MS = {"file": 100, "db": 200, "api": 300}

WORKLOAD = os.environ.get("BENCH_WORKLOAD", "sleeps")
UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18001").rstrip("/")
if WORKLOAD not in ("sleeps", "http"):
    raise SystemExit(f"BENCH_WORKLOAD must be 'sleeps' or 'http', not {WORKLOAD!r}")


def upstream_urls() -> dict[str, str]:
    """Source name -> the upstream URL that answers after that source's delay."""
    return {name: f"{UPSTREAM}/delay/{ms}" for name, ms in DELAYS_MS.items()}


def _sleeper(name: str, seconds: float) -> Callable[[], str]:
    def read() -> str:
        time.sleep(seconds)
        return f"{name} read complete"

    read.__name__ = f"read_{name}"
    return read


def sleep_sources() -> dict[str, Callable[[], str]]:
    """Source name -> a blocking call that sleeps for that source's time."""
    return {name: _sleeper(name, seconds) for name, seconds in SLEEPS.items()}


def as_answer(results: dict[str, object]) -> dict[str, object]:
    """The example's JSON shape: ``result_NAME`` for each source."""
    return {f"result_{name}": value for name, value in results.items()}
