"""Retries: a flaky upstream is retried; a broken one is retried only within the budget."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from flask_fanout import ConfigError, Policy, Retry, gather

from .conftest import fetch


def test_a_failed_attempt_is_retried_and_marked(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.script.extend(["fail"])
    with app.app_context():
        outcome = gather(
            {"api": lambda: fetch(upstream.url, 1.0)},
            policies={"api": Policy(retry=Retry(attempts=3, backoff=0.01))},
        )["api"]
    assert outcome.ok and outcome.value["mode"] == "ok"
    assert "retried" in outcome.flags and outcome.attempts == 2
    assert upstream.hits == 2


def test_retries_stop_at_the_budget(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode = "fail"
    policy = Policy(retry=Retry(attempts=3, budget=0.1, backoff=0.001))
    with app.app_context():
        outcomes = [
            gather({"api": lambda: fetch(upstream.url, 1.0)}, policies={"api": policy})["api"]
            for _ in range(100)
        ]
    retries = upstream.hits - 100
    # One token to start with, then a tenth of one per call: at most 1 + 0.1 x 100.
    assert 8 <= retries <= 11, retries
    assert sum(o.attempts - 1 for o in outcomes) == retries
    assert all(o.code == "bad_response" for o in outcomes)


def test_a_retry_never_starts_past_the_call_timeout(app: Flask, upstreams) -> None:
    upstream = upstreams()
    upstream.mode = "fail"
    policy = Policy(retry=Retry(attempts=5, budget=1.0, backoff=0.2, max_backoff=0.2))
    with app.app_context():
        for _ in range(10):
            started = time.monotonic()
            outcome = gather(
                {"api": lambda: fetch(upstream.url, 0.25)}, timeout=0.25, policies={"api": policy}
            )["api"]
            assert time.monotonic() - started < 0.25 + 0.2
            assert outcome.code == "bad_response", "the last attempt's error, not a timeout"


def test_codes_not_listed_are_not_retried(app: Flask, dead_url: str) -> None:
    policy = Policy(retry=Retry(attempts=3, on=frozenset({"bad_response"})))
    with app.app_context():
        outcome = gather({"api": lambda: fetch(dead_url, 1.0)}, policies={"api": policy})["api"]
    assert outcome.code == "unavailable" and outcome.attempts == 1


def test_bad_retry_settings_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"retry\.attempts"):
        Retry(attempts=0)
    with pytest.raises(ConfigError, match=r"retry\.budget"):
        Retry(budget=2)
