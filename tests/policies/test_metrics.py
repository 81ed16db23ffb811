"""The policies' metrics: breaker state and moves, rejections, retries, hedges, cache."""

from __future__ import annotations

from flask import Flask

from flask_fanout import (
    Breaker,
    Bulkhead,
    Cache,
    Fanout,
    Hedge,
    Policy,
    Retry,
    gather,
    metrics_response,
)
from flask_fanout.metrics.flusher import flusher
from tests.metrics.test_metrics import grew, scrape, value

from .conftest import fetch


def test_policy_metrics_follow_what_the_policies_did(upstreams, dead_url: str) -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_CPU_BACKEND="inline", FANOUT_ACCESS_LOG=False)
    fanout = Fanout(app)
    app.get("/metrics")(metrics_response)
    upstream = upstreams()
    dead, flaky, slow, cached = (f"pm_{n}" for n in ("dead", "flaky", "slow", "cached"))
    fanout.policy(dead, Policy(breaker=Breaker(window=2, min_calls=2, open_for=60)))
    fanout.policy(flaky, Policy(retry=Retry(attempts=2, backoff=0.001)))
    fanout.policy(slow, Policy(hedge=Hedge(after=0.0, budget=1.0), bulkhead=Bulkhead(1)))
    fanout.policy(cached, Policy(cache=Cache(ttl=0.0, stale_if_error=60)))
    labels = {name: flusher._source_label(name) for name in (dead, flaky, slow, cached)}
    client = app.test_client()
    before = scrape(client)
    with app.app_context():
        for _ in range(3):
            gather({dead: lambda: fetch(dead_url, 1.0)})
        upstream.script.extend(["fail"])
        gather({flaky: lambda: fetch(upstream.url, 1.0)})
        upstream.script.extend(["slow"])
        gather({slow: lambda: fetch(upstream.url, 1.0)})  # the hedge is rejected: 1 slot
        gather({cached: lambda: fetch(upstream.url, 1.0)})
        upstream.mode = "fail"
        gather({cached: lambda: fetch(upstream.url, 1.0)})
    after = scrape(client)

    def moved(name: str, source: str, **extra: str) -> float:
        return grew(before, after, name, source=labels[source], **extra)

    assert value(after, "fanout_breaker_state", source=labels[dead]) == 2
    assert moved("fanout_breaker_transitions_total", dead, to="open") == 1
    assert moved("fanout_breaker_fast_fails_total", dead) == 1
    assert moved("fanout_retries_total", flaky) == 1
    assert value(after, "fanout_retry_budget", source=labels[flaky]) < 1
    assert moved("fanout_hedges_total", slow, result="sent") == 1
    assert moved("fanout_bulkhead_rejected_total", slow) == 1
    assert moved("fanout_cache_total", cached, result="miss") == 2
    assert moved("fanout_cache_total", cached, result="stale") == 1
