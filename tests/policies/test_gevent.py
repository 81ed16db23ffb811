"""The policies under gevent: greenlets share one flight, hedge, and fail fast.

The app runs in a child process patched by gevent (as under ``fanout serve``),
against an upstream of this process on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from .conftest import Upstream

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import json, sys, time, urllib.request
    import gevent
    from flask import Flask
    from flask_fanout import Breaker, CallError, Fanout, Hedge, Policy, gather

    url, dead = sys.argv[1], sys.argv[2]
    app = Flask(__name__)
    app.config.update(FANOUT_CPU_BACKEND="inline", FANOUT_METRICS=False, FANOUT_ACCESS_LOG=False)
    fanout = Fanout(app)
    fanout.policy("shared", Policy(single_flight=True))
    fanout.policy("hedged", Policy(hedge=Hedge(after=0.05, budget=1.0)))
    fanout.policy("dead", Policy(breaker=Breaker(window=5, min_calls=5, open_for=60)))

    def get(target):
        try:
            return json.loads(urllib.request.urlopen(target, timeout=2).read())
        except urllib.error.URLError:
            raise CallError("unavailable", "refused") from None

    def one(name, target):
        with app.app_context():
            return gather({name: lambda: get(target)}, timeout=2.0)[name]

    shared = [gevent.spawn(one, "shared", url) for _ in range(200)]
    gevent.joinall(shared)
    hedged = one("hedged", url)
    for _ in range(5):
        one("dead", dead)
    began = time.perf_counter()
    fast = one("dead", dead)
    print(json.dumps({
        "shared_ok": sum(g.value.ok for g in shared),
        "hedged": sorted(hedged.flags), "hedged_ok": hedged.ok,
        "fast": fast.code, "fast_s": time.perf_counter() - began,
    }))
    """
)


def test_single_flight_hedges_and_the_breaker_work_under_gevent(upstreams, dead_url) -> None:
    upstream: Upstream = upstreams()
    upstream.mode, upstream.delay = "slow", 0.3
    upstream.script.extend(["slow"])  # the 200 share it
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, upstream.url, dead_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["shared_ok"] == 200
    assert result["hedged_ok"] and result["hedged"] == ["hedged"]
    assert result["fast"] == "circuit_open" and result["fast_s"] < 0.005
    assert upstream.hits == 1 + 2, "one call for 200 greenlets, two for the hedged one"
