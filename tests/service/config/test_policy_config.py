"""Per-source policies in the TOML file: checked at start-up, seen in GET / and /readyz."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from tests.policies.conftest import Upstream
from tests.server.test_cli import free_port
from tests.service.config.test_config import write

from flask_fanout import Breaker, Bulkhead, Cache, ConfigError, Hedge, Policy, Retry
from flask_fanout.service.config import POLICY_KEYS, load_config

FULL = """
[sources.api]
type = "http"
url = "http://127.0.0.1:9/"
timeout = 1.0
single_flight = true

[sources.api.breaker]
failure_rate = 0.25
slow_call = 0.5
window = 8
min_calls = 4
open_for = 2.0
probes = 1
ignore = ["not_found"]

[sources.api.bulkhead]
max_concurrent = 4
max_wait = 0.01

[sources.api.retry]
attempts = 3
budget = 0.2
backoff = 0.01
on = ["unavailable"]

[sources.api.hedge]
after = "p90"
budget = 0.05

[sources.api.cache]
ttl = 1.0
stale_if_error = 30.0
stale_while_revalidate = 5.0
"""


def test_every_policy_table_is_read_into_the_source_policy(tmp_path: Path) -> None:
    spec = load_config({"FANOUT_CONFIG": write(tmp_path, FULL)}).sources["api"]
    assert spec.policy == Policy(
        breaker=Breaker(
            failure_rate=0.25,
            slow_call=0.5,
            window=8,
            min_calls=4,
            open_for=2.0,
            probes=1,
            ignore=frozenset({"not_found"}),
        ),
        bulkhead=Bulkhead(max_concurrent=4, max_wait=0.01),
        retry=Retry(attempts=3, budget=0.2, backoff=0.01, on=frozenset({"unavailable"})),
        hedge=Hedge(after="p90", budget=0.05),
        cache=Cache(ttl=1.0, stale_if_error=30.0, stale_while_revalidate=5.0),
        single_flight=True,
    )
    assert not set(spec.options) & POLICY_KEYS, "policy tables are not source options"


def test_a_source_without_policy_tables_has_none(tmp_path: Path) -> None:
    toml = '[sources.api]\ntype = "http"\nurl = "http://127.0.0.1:9/"\n'
    assert load_config({"FANOUT_CONFIG": write(tmp_path, toml)}).sources["api"].policy is None


HTTP = '[sources.a]\ntype = "http"\nurl = "http://x"\n'


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (HTTP + "[sources.a.cache]\nttl = -1\n", "sources.a.cache.ttl"),
        (HTTP + "[sources.a.cache]\nttl = 'soon'\n", "sources.a.cache.ttl"),
        (
            HTTP + "[sources.a.cache]\nstale_while_revalidate = -1\n",
            "sources.a.cache.stale_while_revalidate",
        ),
        (HTTP + "[sources.a.breaker]\nwindw = 3\n", "sources.a.breaker: unknown keys windw"),
        (HTTP + "[sources.a.breaker]\nfailure_rate = 2\n", "sources.a.breaker.failure_rate"),
        (HTTP + "[sources.a.breaker]\nwindow = 5\nmin_calls = 6\n", "sources.a.breaker.min_calls"),
        (HTTP + "[sources.a.breaker]\nignore = 'x'\n", "sources.a.breaker.ignore"),
        (HTTP + "[sources.a.bulkhead]\nmax_concurrent = 0\n", "sources.a.bulkhead.max_concurrent"),
        (HTTP + "[sources.a.retry]\nattempts = 1.5\n", "sources.a.retry.attempts"),
        (HTTP + "[sources.a.retry]\non = [1]\n", "sources.a.retry.on"),
        (HTTP + "[sources.a.hedge]\nafter = 'p200'\n", "sources.a.hedge.after"),
        (HTTP + "cache = 1.0\n", "sources.a.cache: must be a table"),
        (HTTP + "single_flight = 'yes'\n", "sources.a.single_flight"),
    ],
)
def test_a_bad_policy_value_stops_start_up_naming_the_key(
    tmp_path: Path, toml: str, key: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"FANOUT_CONFIG": write(tmp_path, toml)})
    assert str(raised.value).startswith(key), str(raised.value)


@pytest.fixture
def api() -> Iterator[Upstream]:
    upstream = Upstream()
    yield upstream
    upstream.close()


def test_get_shows_a_stale_source_in_a_field_of_its_own(
    make_app: Callable[..., Flask], api: Upstream, text_file: Path
) -> None:
    app = make_app(
        f"""
        [sources.notes]
        type = "file"
        path = "{text_file}"

        [sources.api]
        type = "http"
        url = "{api.url}"

        [sources.api.cache]
        ttl = 0.05
        stale_if_error = 30.0
        """
    )
    client = app.test_client()
    fresh = client.get("/").get_json()
    assert "stale" not in fresh and fresh["result_api"]["mode"] == "ok"
    api.mode = "fail"
    time.sleep(0.1)
    answer = client.get("/")
    body = answer.get_json()
    assert answer.status_code == 200
    assert body["result_api"] == fresh["result_api"], "the last good value"
    assert "api" not in body["errors"]
    assert body["stale"]["api"]["age_s"] >= 0.05
    assert body["stale"]["api"]["cause"]["code"] == "bad_response"


def test_readyz_stays_ready_with_an_open_breaker_and_reports_it(
    make_app: Callable[..., Flask], text_file: Path
) -> None:
    app = make_app(
        f"""
        [sources.notes]
        type = "file"
        path = "{text_file}"

        [sources.api]
        type = "http"
        url = "http://127.0.0.1:{free_port()}/"

        [sources.api.breaker]
        window = 3
        min_calls = 3
        open_for = 60.0
        """
    )
    client = app.test_client()
    before = client.get("/readyz").get_json()
    assert before["checks"]["breakers"]["each"] == {"api": "closed"}
    codes = [client.get("/").get_json()["errors"]["api"]["code"] for _ in range(5)]
    assert codes == ["unavailable"] * 3 + ["circuit_open"] * 2
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200 and body["status"] == "ready"
    assert body["checks"]["breakers"] == {
        "ready": True,
        "each": {"api": "open"},
        "detail": "not closed: api",
    }


def test_a_declared_route_caches_each_parameter_value_apart(
    make_app: Callable[..., Flask], api: Upstream
) -> None:
    app = make_app(
        f"""
        [sources.user]
        type = "http"
        url = "{api.url}users/{{user_id}}"

        [sources.user.cache]
        ttl = 60.0

        [routes.profile]
        path = "/profiles/<int:user_id>"
        sources = ["user"]
        """
    )
    client = app.test_client()
    for user in (1, 2, 1, 2):
        assert client.get(f"/profiles/{user}").status_code == 200
    assert api.hits == 2, "one upstream call per user, each cached apart"
