"""The circuit breaker, against a dead, then revived, upstream on 127.0.0.1."""

from __future__ import annotations

import statistics
import time

import pytest
from flask import Flask

from flask_fanout import Breaker, ConfigError, Fanout, Policy, breaker_states, gather

from .conftest import fetch

BREAKER = Breaker(window=10, min_calls=10, failure_rate=0.5, open_for=0.5, probes=2)


def call(url: str, **options: object) -> dict:
    return gather({"api": lambda: fetch(url, 1.0)}, timeout=1.0, **options)  # type: ignore[arg-type]


def test_a_dead_upstream_opens_the_breaker_then_calls_fail_fast_and_it_closes_again(
    app: Flask, fanout: Fanout, dead_url: str, upstreams
) -> None:
    fanout.policy("api", Policy(breaker=BREAKER))
    with app.app_context():
        window = [call(dead_url)["api"] for _ in range(10)]
        assert [o.code for o in window] == ["unavailable"] * 10, "the window fills with real calls"
        assert breaker_states() == {"api": "open"}

        upstream = upstreams(int(dead_url.rsplit(":", 1)[1].rstrip("/")))  # it comes back
        fast = []
        for _ in range(200):
            began = time.perf_counter()
            outcome = call(dead_url)["api"]
            fast.append(time.perf_counter() - began)
            assert outcome.code == "circuit_open", outcome
            assert outcome.attempts == 0
        assert upstream.hits == 0, "no call reaches the dependency while the circuit is open"
        assert statistics.median(fast) < 0.001, f"median fast fail {statistics.median(fast):.6f} s"
        assert sorted(fast)[int(0.9 * len(fast))] < 0.001, "nine calls in ten under 1 ms"

        time.sleep(0.55)  # open_for: probes may go through
        probes = [call(dead_url)["api"] for _ in range(2)]
        assert all(o.ok for o in probes), probes
        assert breaker_states() == {"api": "closed"}
        assert all(call(dead_url)["api"].ok for _ in range(20))
        assert upstream.hits == 22


def test_a_failed_probe_opens_the_circuit_again(app: Flask, dead_url: str) -> None:
    policies = {"api": Policy(breaker=BREAKER)}
    with app.app_context():
        for _ in range(10):
            call(dead_url, policies=policies)
        assert call(dead_url, policies=policies)["api"].code == "circuit_open"
        time.sleep(0.55)
        probes = [call(dead_url, policies=policies)["api"].code for _ in range(2)]
        assert probes == ["unavailable"] * 2, "the two probes reach the upstream"
        assert call(dead_url, policies=policies)["api"].code == "circuit_open"
        assert breaker_states() == {"api": "open"}


def test_slow_calls_open_the_breaker_even_when_they_succeed(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode, upstream.delay = "slow", 0.05
    slow = Breaker(slow_call=0.02, slow_rate=0.5, window=4, min_calls=4, open_for=5.0)
    policies = {"api": Policy(breaker=slow)}
    with app.app_context():
        answers = [call(upstream.url, policies=policies)["api"] for _ in range(6)]
    assert [o.code for o in answers] == ["ok"] * 4 + ["circuit_open"] * 2
    assert upstream.hits == 4


def test_calls_overlap_through_one_breaker(app: Flask, upstreams) -> None:
    """Unlike pybreaker's, this breaker never holds its lock around the call."""
    upstream = upstreams()
    upstream.mode, upstream.delay = "slow", 0.2
    with app.app_context():
        one = Policy(breaker=Breaker())
        outcomes = gather(
            {f"d{i}": (lambda: fetch(upstream.url, 2.0)) for i in range(5)},
            policies=dict.fromkeys([f"d{i}" for i in range(5)], one),
        )
    assert all(o.ok for o in outcomes.values())
    assert upstream.max_active == 5, "five calls were at the upstream at once"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"window": 0}, "breaker.window"),
        ({"failure_rate": 1.5}, "breaker.failure_rate"),
        ({"min_calls": 30}, "breaker.min_calls"),
        ({"open_for": 0}, "breaker.open_for"),
        ({"slow_call": "fast"}, "breaker.slow_call"),
        ({"ignore": "not_found"}, "breaker.ignore"),
    ],
)
def test_bad_breaker_settings_name_their_field(options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        Breaker(**options)


def test_half_open_decides_on_the_rate_over_its_probes(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode = "fail"
    breaker = Breaker(window=4, min_calls=4, failure_rate=0.5, open_for=0.2, probes=4)
    policies = {"api": Policy(breaker=breaker)}
    with app.app_context():
        for _ in range(4):
            call(upstream.url, policies=policies)
        assert breaker_states() == {"api": "open"}
        upstream.mode = "ok"
        upstream.script.append("fail")  # one probe in four fails: under the rate
        time.sleep(0.25)
        probes = [call(upstream.url, policies=policies)["api"].code for _ in range(4)]
        assert probes == ["bad_response", "ok", "ok", "ok"]
        assert breaker_states() == {"api": "closed"}
