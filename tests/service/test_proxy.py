"""FANOUT_PROXY_HOPS: X-Forwarded-* trusted from that many proxies, and from none by default."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request

from flask_fanout import ConfigError
from flask_fanout.service import create_app

# What two proxies send: the outer one's values first, each proxy appending its own.
FORWARDED = {
    "X-Forwarded-For": "198.51.100.9, 203.0.113.7",
    "X-Forwarded-Proto": "https, http",
    "X-Forwarded-Host": "api.example.org, inner.local",
    "X-Forwarded-Port": "443, 8080",
    "X-Forwarded-Prefix": "/fanout, /inner",
}


def service(hops: Any) -> Flask:
    app = create_app({"FANOUT_CPU_BACKEND": "inline", "FANOUT_PROXY_HOPS": hops})

    @app.get("/whoami")
    def whoami() -> dict[str, str]:  # what a view sees of the client, for these tests
        return {
            "addr": str(request.remote_addr),
            "url": request.url,
        }

    return app


def test_forwarded_headers_are_ignored_by_default() -> None:
    client = service(0).test_client()
    seen = client.get("/whoami", headers=FORWARDED).get_json()
    assert seen == {"addr": "127.0.0.1", "url": "http://localhost/whoami"}
    assert b'"/openapi.json"' in client.get("/docs", headers=FORWARDED).data


@pytest.mark.parametrize(
    ("hops", "client", "url", "prefix"),
    [
        (1, "203.0.113.7", "http://inner.local:8080/inner/whoami", "/inner"),
        (2, "198.51.100.9", "https://api.example.org/fanout/whoami", "/fanout"),
    ],
)
def test_the_values_of_the_trusted_hops_are_used(
    hops: int, client: str, url: str, prefix: str
) -> None:
    app = service(hops).test_client()
    seen = app.get("/whoami", headers=FORWARDED).get_json()
    assert seen == {"addr": client, "url": url}
    assert f'"{prefix}/openapi.json"'.encode() in app.get("/docs", headers=FORWARDED).data


@pytest.mark.parametrize("hops", [-1, "two", True])
def test_a_bad_hop_count_stops_start_up(hops: Any) -> None:
    with pytest.raises(ConfigError, match=r"^FANOUT_PROXY_HOPS: "):
        create_app({"FANOUT_CPU_BACKEND": "inline", "FANOUT_PROXY_HOPS": hops})
