"""The bulkhead: a slow upstream fills its own slots, and the other calls keep answering."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from flask_fanout import Bulkhead, ConfigError, Policy, gather

from .conftest import fetch


def test_a_slow_upstream_fills_its_bulkhead_while_other_sources_keep_answering(
    app: Flask, upstreams
) -> None:
    slow, fast = upstreams(), upstreams()
    slow.mode = "hang"
    policies = {"slow": Policy(bulkhead=Bulkhead(max_concurrent=3))}

    def request() -> dict:
        with app.app_context():
            calls = {"slow": lambda: fetch(slow.url, 1.0), "fast": lambda: fetch(fast.url, 1.0)}
            return gather(calls, timeout=1.0, policies=policies)

    with ThreadPoolExecutor(12) as clients:
        answers = list(clients.map(lambda _: request(), range(12)))
    slow.released.set()
    codes = sorted(a["slow"].code for a in answers)
    assert codes == ["rejected"] * 9 + ["timeout"] * 3
    assert all(a["fast"].ok for a in answers), "the fast source answers every request"
    assert slow.max_active == 3, "never more than 3 calls at the slow upstream"
    rejected = [a["slow"] for a in answers if a["slow"].code == "rejected"]
    assert max(o.elapsed for o in rejected) < 0.5, "turned away at once, not at the timeout"


def test_a_short_wait_takes_a_slot_freed_in_time(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode, upstream.delay = "slow", 0.15
    policies = {"api": Policy(bulkhead=Bulkhead(max_concurrent=1, max_wait=0.5))}
    results: list[object] = []

    def one() -> None:
        with app.app_context():
            results.append(gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies))

    threads = [threading.Thread(target=one) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r["api"].ok for r in results)  # type: ignore[index]
    assert upstream.max_active == 1
    assert time.monotonic() - started >= 0.3, "the second call waited for the first"


def test_bad_bulkhead_settings_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"bulkhead\.max_concurrent"):
        Bulkhead(max_concurrent=0)
    with pytest.raises(ConfigError, match=r"bulkhead\.max_wait"):
        Bulkhead(max_wait=-1)
