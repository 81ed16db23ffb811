"""Single-flight and the TTL cache: one upstream call for many, the last good value on failure."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask

from flask_fanout import Breaker, Cache, ConfigError, Fanout, Policy, gather

from .conftest import fetch


def test_200_concurrent_identical_calls_make_one_upstream_call(
    app: Flask, fanout: Fanout, upstreams
) -> None:
    upstream = upstreams()
    upstream.mode = "hang"  # until every call has arrived: a busy machine starts threads late
    fanout.policy("api", Policy(single_flight=True))
    barrier = threading.Barrier(200)
    outcomes: list[object] = []

    def client() -> None:
        with app.app_context():
            barrier.wait()
            outcomes.append(gather({"api": lambda: fetch(upstream.url, 25)}, timeout=25)["api"])

    threads = [threading.Thread(target=client) for _ in range(200)]
    for thread in threads:
        thread.start()
    policies = app.extensions["fanout"].policies
    deadline = time.monotonic() + 20
    while policies.stats().get("api", {}).get("shared_total", 0) < 199:
        assert time.monotonic() < deadline, policies.stats()
        time.sleep(0.01)
    upstream.released.set()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 200
    assert all(o.ok for o in outcomes)  # type: ignore[attr-defined]
    assert upstream.hits == 1, f"{upstream.hits} upstream calls for 200 identical ones"
    shared = [o for o in outcomes if "shared" in o.flags]  # type: ignore[attr-defined]
    assert len(shared) == 199 and all(o.attempts == 0 for o in shared)  # type: ignore[attr-defined]


def test_a_fresh_value_answers_without_a_call_until_the_ttl(app: Flask, upstreams) -> None:
    upstream = upstreams()
    policies = {"api": Policy(cache=Cache(ttl=0.3))}
    with app.app_context():
        first = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
        again = [gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]]
        assert upstream.hits == 1
        time.sleep(0.35)
        later = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
    assert not first.cached and first.attempts == 1
    assert again[0].cached and again[0].value == first.value and again[0].age is not None
    assert not later.cached and upstream.hits == 2


def test_a_stale_value_is_served_and_marked_when_the_upstream_fails(app: Flask, upstreams) -> None:
    upstream = upstreams()
    policies = {"api": Policy(cache=Cache(ttl=0.1, stale_if_error=30.0))}
    with app.app_context():
        good = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
        upstream.mode = "fail"
        time.sleep(0.15)
        stale = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
        upstream.mode = "hang"
        hung = gather({"api": lambda: fetch(upstream.url, 1.0)}, timeout=0.2, policies=policies)[
            "api"
        ]
    assert stale.ok and stale.stale and stale.value == good.value
    assert stale.age is not None and stale.age >= 0.15
    assert stale.cause is not None and stale.cause.code == "bad_response"
    assert hung.ok and hung.stale and hung.cause is not None and hung.cause.code == "timeout"
    assert 0.2 <= hung.elapsed < 1.0, "answered at the timeout, with the stale value"


def test_no_stale_value_past_stale_if_error(app: Flask, upstreams) -> None:
    upstream = upstreams()
    policies = {"api": Policy(cache=Cache(ttl=0.05, stale_if_error=0.1))}
    with app.app_context():
        gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)
        upstream.mode = "fail"
        time.sleep(0.2)
        outcome = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
    assert outcome.code == "bad_response" and not outcome.stale


def test_an_open_circuit_answers_with_the_stale_value(app: Flask, upstreams) -> None:
    upstream = upstreams()
    breaker = Breaker(window=3, min_calls=3, open_for=30.0)
    policies = {"api": Policy(breaker=breaker, cache=Cache(ttl=0.0, stale_if_error=60.0))}
    with app.app_context():
        good = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
        upstream.mode = "fail"
        for _ in range(3):
            gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)
        hits = upstream.hits
        outcome = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
    assert outcome.stale and outcome.value == good.value
    assert outcome.cause is not None and outcome.cause.code == "circuit_open"
    assert upstream.hits == hits


def test_keys_tell_calls_apart_and_the_cache_is_bounded(app: Flask, upstreams) -> None:
    upstream = upstreams()
    policies = {"api": Policy(cache=Cache(ttl=60.0, max_entries=2))}

    def read(key: str) -> object:
        return gather(
            {"api": lambda: fetch(upstream.url, 1.0)}, policies=policies, keys={"api": key}
        )["api"]

    with app.app_context():
        for key in ("a", "b", "a", "b"):
            read(key)
        assert upstream.hits == 2, "a and b are two entries, each fetched once"
        read("c")  # evicts a, the least recently used
        read("b")
        assert upstream.hits == 3
        read("a")
        assert upstream.hits == 4


def test_bad_cache_settings_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"cache\.ttl"):
        Cache(ttl=-1)
    with pytest.raises(ConfigError, match=r"cache\.max_entries"):
        Cache(max_entries=0)
    with pytest.raises(ConfigError, match="cache: must be a Cache"):
        Policy(cache=1.0)  # type: ignore[arg-type]


def test_while_a_refresh_is_in_flight_identical_calls_answer_the_last_good_value(
    app: Flask, upstreams
) -> None:
    upstream = upstreams()
    cache = Cache(ttl=0.05, stale_while_revalidate=30.0)
    policies = {"api": Policy(cache=cache)}
    results: list[object] = []

    def refresh() -> None:
        with app.app_context():
            results.append(
                gather({"api": lambda: fetch(upstream.url, 5.0)}, policies=policies)["api"]
            )

    with app.app_context():
        good = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
        time.sleep(0.1)  # expired
        upstream.mode = "hang"
        leader = threading.Thread(target=refresh)
        leader.start()
        while upstream.active == 0:  # the refresh has reached the upstream
            time.sleep(0.005)
        meanwhile = gather({"api": lambda: fetch(upstream.url, 1.0)}, policies=policies)["api"]
        upstream.mode = "ok"
        upstream.released.set()
        leader.join(10)
    assert meanwhile.stale and meanwhile.value == good.value and meanwhile.cause is None
    assert meanwhile.elapsed < 0.5, "answered at once, not after the refresh"
    assert results and results[0].ok and not results[0].stale  # type: ignore[attr-defined]
    assert upstream.hits == 2, "one call made the value, one refreshed it"
