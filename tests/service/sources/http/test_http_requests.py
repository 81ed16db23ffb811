"""What http sources send, against a real upstream that records it: headers from the
environment, POST bodies, redirects, and the per-source connection limit."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import quote

import pytest
from tests.service.sources.http.upstreams import MakeSource, Pki, Upstream

from flask_fanout import CallError

TOKEN = "t0ken-for-tests"  # what the upstreams' /auth expects
AUTH = 'headers = { Authorization = "Bearer ${API_TOKEN}" }'


def failure(source: object, timeout: float = 2.0) -> CallError:
    with pytest.raises(CallError) as caught:
        source.read(timeout)  # type: ignore[attr-defined]
    return caught.value


def test_an_authorization_header_from_the_environment_is_sent(
    make_source: MakeSource, https_upstream: Upstream, pki: Pki
) -> None:
    keys = f'ca_file = "{pki.ca_file}"\n{AUTH}'
    source = make_source(https_upstream.url("/auth"), keys, environ={"API_TOKEN": TOKEN})
    assert source.read(2.0) == {"authorized": True}
    assert https_upstream.seen[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_wrong_token_is_the_upstreams_401(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    source = make_source(http_upstream.url("/auth"), AUTH, environ={"API_TOKEN": "wrong"})
    error = failure(source)
    assert (error.code, error.message) == (
        "bad_response",
        f"{http_upstream.url('/auth')} answered HTTP 401",
    )


def test_headers_are_sent_as_configured(make_source: MakeSource, http_upstream: Upstream) -> None:
    keys = 'headers = { "X-Tenant" = "acme", Accept = "application/json", "User-Agent" = "me/1" }'
    echo = make_source(http_upstream.url("/echo"), keys).read(2.0)
    assert echo["method"] == "GET"
    assert echo["headers"]["x-tenant"] == "acme"
    assert echo["headers"]["accept"] == "application/json"  # replaces the default
    assert echo["headers"]["user-agent"] == "me/1"
    assert "content-length" not in echo["headers"] and echo["body"] == ""


def test_a_post_sends_its_body_as_json(make_source: MakeSource, http_upstream: Upstream) -> None:
    keys = """
        method = "POST"
        [sources.s.body]
        query = "orders"
        limit = 5
        tags = ["a", "é"]
        nested = { on = true, when = 1979-05-27 }
    """
    echo = make_source(http_upstream.url("/echo"), keys).read(2.0)
    assert echo["method"] == "POST"
    assert echo["headers"]["content-type"] == "application/json"
    assert json.loads(echo["body"]) == {
        "query": "orders",
        "limit": 5,
        "tags": ["a", "é"],
        "nested": {"on": True, "when": "1979-05-27"},
    }
    assert int(echo["headers"]["content-length"]) == len(echo["body"].encode())


def test_a_post_body_may_be_an_array_or_a_value(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    for body, expected in (("[1, 2]", [1, 2]), ('"x"', "x"), ("3.5", 3.5)):
        echo = make_source(http_upstream.url("/echo"), f'method = "POST"\nbody = {body}').read(2.0)
        assert json.loads(echo["body"]) == expected


def test_a_post_without_body_sends_an_empty_one(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    echo = make_source(http_upstream.url("/echo"), 'method = "post"').read(2.0)
    assert (echo["method"], echo["body"], echo["headers"]["content-length"]) == ("POST", "", "0")
    assert "content-type" not in echo["headers"]


def test_posts_reuse_their_connection(make_source: MakeSource, http_upstream: Upstream) -> None:
    source = make_source(http_upstream.url("/echo"), 'method = "POST"\nbody = { n = 1 }')
    for _ in range(3):
        assert json.loads(source.read(2.0)["body"]) == {"n": 1}
    assert http_upstream.connections_total == 1


# ----------------------------------------------------------------------------- redirects


def test_a_redirect_is_not_followed_by_default(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    error = failure(make_source(http_upstream.url("/hop/1")))
    assert error.code == "bad_response"
    assert (
        "302" in error.message and "redirect" in error.message and "not followed" in error.message
    )
    assert [s.path for s in http_upstream.seen] == ["/hop/1"]


def test_redirects_are_followed_up_to_the_limit(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    echo = make_source(http_upstream.url("/hop/3"), "follow_redirects = 3").read(2.0)
    assert echo["path"] == "/hop/0"
    assert [s.path for s in http_upstream.seen] == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]
    assert http_upstream.connections_total == 1  # same host: one kept-alive connection


def test_too_many_redirects(make_source: MakeSource, http_upstream: Upstream) -> None:
    error = failure(make_source(http_upstream.url("/hop/3"), "follow_redirects = 2"))
    assert error.code == "bad_response"
    assert "more than 2" in error.message
    assert len(http_upstream.seen) == 3


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [
        (301, "GET", ""),
        (302, "GET", ""),
        (303, "GET", ""),
        (307, "POST", '{"n":1}'),
        (308, "POST", '{"n":1}'),
    ],
)
def test_a_redirected_post_continues_as_browsers_do(
    make_source: MakeSource, http_upstream: Upstream, status: int, method: str, body: str
) -> None:
    keys = 'method = "POST"\nbody = { n = 1 }\nfollow_redirects = 1'
    echo = make_source(http_upstream.url(f"/hop/1?status={status}"), keys).read(2.0)
    assert (echo["method"], echo["body"]) == (method, body)
    assert ("content-type" in echo["headers"]) == (method == "POST")


def test_a_relative_location_resolves_against_the_url(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    url = http_upstream.url("/status/301?location=" + quote("../echo?from=redirect"))
    echo = make_source(url, "follow_redirects = 1").read(2.0)
    assert echo["path"] == "/echo?from=redirect"


def test_sensitive_headers_are_dropped_on_a_cross_host_redirect(
    make_source: MakeSource, http_upstream: Upstream, https_upstream: Upstream
) -> None:
    elsewhere = http_upstream.url("/echo", host="localhost")
    keys = """
        follow_redirects = 1
        [sources.s.headers]
        Authorization = "Bearer literal-token"
        "X-Api-Key" = "${API_KEY}"
        "X-Plain" = "kept"
    """
    source = make_source(
        http_upstream.url("/status/302?location=" + quote(elsewhere)),
        keys,
        environ={"API_KEY": "k3y"},
    )
    echo = source.read(2.0)
    assert echo["headers"]["host"].startswith("localhost:")
    assert echo["headers"]["x-plain"] == "kept"
    assert "authorization" not in echo["headers"]
    assert "x-api-key" not in echo["headers"]  # it came from the environment: a secret
    assert http_upstream.seen[0].headers["authorization"] == "Bearer literal-token"


def test_sensitive_headers_stay_on_a_same_host_redirect(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    source = make_source(
        http_upstream.url("/hop/1"), f"follow_redirects = 1\n{AUTH}", environ={"API_TOKEN": TOKEN}
    )
    assert source.read(2.0)["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_a_redirect_to_another_scheme_is_refused(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    url = http_upstream.url("/status/302?location=" + quote("file:///etc/passwd"))
    error = failure(make_source(url, "follow_redirects = 1"))
    assert error.code == "bad_response" and "not http" in error.message


def test_a_redirect_without_location(make_source: MakeSource, http_upstream: Upstream) -> None:
    error = failure(make_source(http_upstream.url("/status/302"), "follow_redirects = 1"))
    assert error.code == "bad_response" and "without a Location" in error.message


# ----------------------------------------------------------------------------- max_connections


def read_at_once(source: object, calls: int, timeout: float = 5.0) -> list[object]:
    """``calls`` reads of one source started together; their values or errors."""
    results: list[object] = [None] * calls
    start = threading.Barrier(calls)

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = source.read(timeout)  # type: ignore[attr-defined]
        except CallError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_max_connections_caps_what_the_upstream_sees(
    make_source: MakeSource, https_upstream: Upstream, pki: Pki
) -> None:
    keys = f'ca_file = "{pki.ca_file}"\nmax_connections = 2'
    source = make_source(https_upstream.url("/slow?ms=150"), keys)
    results = read_at_once(source, 6)
    assert results == [{"slept_ms": 150}] * 6
    assert https_upstream.requests_max == 2
    assert https_upstream.connections_max == 2
    assert https_upstream.connections_total == 2  # and they were kept alive


def test_without_max_connections_the_same_calls_overlap(
    make_source: MakeSource, https_upstream: Upstream, pki: Pki
) -> None:
    source = make_source(https_upstream.url("/slow?ms=150"), f'ca_file = "{pki.ca_file}"')
    assert read_at_once(source, 6) == [{"slept_ms": 150}] * 6
    assert https_upstream.requests_max > 2  # so the test above can fail


def test_a_call_waits_for_a_free_connection_within_its_timeout(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    source = make_source(http_upstream.url("/slow?ms=800"), "max_connections = 1")
    first = threading.Thread(target=lambda: read_at_once(source, 1, timeout=3.0))
    first.start()
    deadline = time.monotonic() + 5
    while http_upstream.requests_now < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    error = failure(source, timeout=0.3)
    waited = time.monotonic() - started
    assert error.code == "timeout"
    assert "max_connections = 1" in error.message
    assert len(http_upstream.seen) == 1  # it never reached the upstream
    assert waited >= 0.3  # it waited for the slot, not refused at once
    first.join(5)
    assert source.read(2.0) == {"slept_ms": 800}  # the slot is free again


def test_the_limit_counts_idle_connections_to_other_hosts(
    make_source: MakeSource, http_upstream: Upstream
) -> None:
    elsewhere = http_upstream.url("/echo", host="localhost")
    source = make_source(
        http_upstream.url("/status/302?location=" + quote(elsewhere)),
        "max_connections = 1\nfollow_redirects = 1",
    )
    for _ in range(3):
        source.read(2.0)
    # With one connection allowed, each hop closes the idle one to the other host
    # first (the upstream may see the close a moment after the next connect, so
    # its count of open connections is not the measure): 6 connections for 6 hops.
    # Idle connections kept to both hosts would have made 2.
    assert http_upstream.connections_total == 6
