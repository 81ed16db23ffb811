"""Hedged calls: a second attempt wins against a slow first one, within its budget."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_fanout import ConfigError, Hedge, Policy, gather

from .conftest import fetch


def test_a_hedge_after_a_fixed_delay_wins_against_a_hanging_first_attempt(
    app: Flask, upstreams
) -> None:
    upstream = upstreams()
    upstream.script.append("hang")  # the first attempt hangs, the hedge answers
    with app.app_context():
        outcome = gather(
            {"api": lambda: fetch(upstream.url, 2.0)},
            timeout=2.0,
            policies={"api": Policy(hedge=Hedge(after=0.05, budget=0.5))},
        )["api"]
    assert outcome.ok and outcome.value["mode"] == "ok", outcome
    assert "hedged" in outcome.flags and outcome.attempts == 2
    assert outcome.elapsed < 1.0, "the hedge answered, not the hanging attempt"
    assert upstream.hits == 2 and upstream.max_active == 2, "both attempts were in flight"


def test_the_hedge_delay_is_the_call_own_recent_p95(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode, upstream.delay = "slow", 0.02
    policy = Policy(hedge=Hedge(after="p95", budget=0.5, min_samples=20))
    with app.app_context():
        warm = [
            gather({"api": lambda: fetch(upstream.url, 2.0)}, policies={"api": policy})["api"]
            for _ in range(20)
        ]
        assert all(o.ok and "hedged" not in o.flags for o in warm), "no hedge while learning"
        hits = upstream.hits
        upstream.script.append("hang")
        outcome = gather(
            {"api": lambda: fetch(upstream.url, 2.0)}, timeout=2.0, policies={"api": policy}
        )["api"]
    assert outcome.ok and "hedged" in outcome.flags
    assert outcome.elapsed < 0.5, "hedged after about the p95 (~20 ms), not the timeout"
    assert upstream.hits == hits + 2


def test_hedges_stop_at_the_budget(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode, upstream.delay = "slow", 0.03
    policy = Policy(hedge=Hedge(after=0.0, budget=0.05))
    with app.app_context():
        outcomes = [
            gather({"api": lambda: fetch(upstream.url, 1.0)}, policies={"api": policy})["api"]
            for _ in range(60)
        ]
    hedged = sum("hedged" in o.flags for o in outcomes)
    assert 2 <= hedged <= 4, hedged  # 1 to start with + 0.05 x 60
    assert upstream.hits == 60 + hedged


@pytest.mark.parametrize("after", ["p100", "fast", -1.0, "p0"])
def test_bad_hedge_delays_name_the_field(after: object) -> None:
    with pytest.raises(ConfigError, match=r"hedge\.after"):
        Hedge(after=after)  # type: ignore[arg-type]
