"""Declared routes and URL templates: a bad one stops start-up, naming its key."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from tests.server.test_cli import serve_config

from flask_fanout import ConfigError
from flask_fanout.service.config import load_config
from flask_fanout.service.sources.http.url_template import UrlTemplate, encode

SOURCES = """
[sources.notes]
type = "file"
path = "/tmp/notes.txt"
[sources.orders]
type = "http"
url = "http://127.0.0.1:9/users/{user_id}/orders?since={since}"
"""


def route(body: str) -> str:
    return SOURCES + textwrap.dedent(body)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[routes]\na = 1", "routes.a"),
        ("[routes.a]\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = 'x/y'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a//b'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/../b'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<path:p>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<uuid:p>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<any(x,y):p>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<int(signed=True):p>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<int:1p>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<int:p>/<p>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a/<int:p'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a b'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a?b=1'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a%2Fb'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/<int:p>/x'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/is_prime/<int:n>'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/healthz/x'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/docs/x'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/openapi.json/x'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/metrics'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/readyz'\nsources = ['notes']", "routes.a.path"),
        ("[routes.a]\npath = '/a'", "routes.a.sources"),
        ("[routes.a]\npath = '/a'\nsources = []", "routes.a.sources"),
        ("[routes.a]\npath = '/a'\nsources = 'notes'", "routes.a.sources"),
        ("[routes.a]\npath = '/a'\nsources = ['nope']", "routes.a.sources"),
        ("[routes.a]\npath = '/a'\nsources = ['notes', 'notes']", "routes.a.sources"),
        ("[routes.a]\npath = '/a'\nsources = ['notes']\nmethod = 'POST'", "routes.a"),
        ("[routes.'a b']\npath = '/a'\nsources = ['notes']", "routes.a b"),
        ("[routes.a]\npath = '/a'\nsources = ['notes']\nquery = 1", "routes.a.query"),
        (
            "[routes.a]\npath = '/a'\nsources = ['notes']\n[routes.a.query.q]\ntype = 'date'",
            "routes.a.query.q.type",
        ),
        (
            "[routes.a]\npath = '/a'\nsources = ['notes']\n[routes.a.query.q]\ndefault = 1",
            "routes.a.query.q.type",
        ),
        (
            "[routes.a]\npath = '/a'\nsources = ['notes']\n[routes.a.query.q]\n"
            "type = 'int'\ndefault = 'x'",
            "routes.a.query.q.default",
        ),
        (
            "[routes.a]\npath = '/a'\nsources = ['notes']\n[routes.a.query.q]\n"
            "type = 'int'\ndefault = true",
            "routes.a.query.q.default",
        ),
        (
            "[routes.a]\npath = '/a'\nsources = ['notes']\n[routes.a.query.q]\n"
            "type = 'int'\ndefault = 9223372036854775807\nstep = 1",
            "routes.a.query.q",
        ),
        (
            "[routes.a]\npath = '/a'\nsources = ['notes']\n[routes.a.query.q]\n"
            "type = 'float'\ndefault = nan",
            "routes.a.query.q.default",
        ),
        (
            "[routes.a]\npath = '/a/<q>'\nsources = ['notes']\n[routes.a.query.q]\ntype = 'int'",
            "routes.a.query.q",
        ),
        (
            "[routes.a]\npath = '/a/<int:x>'\nsources = ['notes']\n"
            "[routes.b]\npath = '/a/<int:y>'\nsources = ['notes']",
            "routes.b.path",
        ),
    ],
)
def test_a_bad_route_names_its_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(route(toml))
    with pytest.raises(ConfigError) as error:
        load_config({"FANOUT_CONFIG": str(path)}, environ={})
    assert str(error.value).startswith(f"{key}:"), str(error.value)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://{host}/x", "sources.api.url"),
        ("http://127.0.0.1:{port}/x", "sources.api.url"),
        ("http://127.0.0.1/x#{frag}", "sources.api.url"),
        ("http://127.0.0.1/x/{}", "sources.api.url"),
        ("http://127.0.0.1/x/{a-b}", "sources.api.url"),
        ("http://127.0.0.1/x/{a", "sources.api.url"),
        ("http://127.0.0.1/x/a}", "sources.api.url"),
        ("http://127.0.0.1/x/{{a}}", "sources.api.url"),
    ],
)
def test_a_bad_url_template_stops_create_app(
    make_app: Callable[..., Flask], url: str, key: str
) -> None:
    with pytest.raises(ConfigError) as error:
        make_app(f'[sources.api]\ntype = "http"\nurl = "{url}"\n')
    assert str(error.value).startswith(f"{key}:"), str(error.value)


def test_a_route_must_provide_every_parameter_of_its_sources(
    make_app: Callable[..., Flask],
) -> None:
    toml = route("[routes.a]\npath = '/users/<int:user_id>'\nsources = ['orders']\n")
    with pytest.raises(ConfigError) as error:
        make_app(toml)
    message = str(error.value)
    assert message.startswith("routes.a.sources:") and "'orders'" in message, message
    assert "since" in message and "user_id" not in message.split("takes")[1].split(",")[0]
    provided = toml + "[routes.a.query.since]\ntype = 'string'\n"
    assert make_app(provided).url_map.bind("x").match("/users/1") == ("routes.a", {"user_id": 1})


def test_serve_with_a_route_missing_a_parameter_exits_cleanly(tmp_path: Path) -> None:
    text = route("[routes.a]\npath = '/users/<int:user_id>'\nsources = ['orders']\n")
    result = serve_config(tmp_path, text)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("fanout: configuration error: routes.a.sources: "), lines
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stderr


def test_serve_with_a_bad_url_template_exits_cleanly(tmp_path: Path) -> None:
    result = serve_config(tmp_path, '[sources.api]\ntype = "http"\nurl = "http://{host}/x"\n')
    assert result.returncode == 2
    assert result.stderr.startswith("fanout: configuration error: sources.api.url: ")
    assert "Traceback" not in result.stderr


def test_templates_fill_each_value_encoded_whole() -> None:
    template = UrlTemplate.parse("https://api/u/{id}/o.{fmt}?since={since}&x={id}", "k")
    assert template.names == {"id", "fmt", "since"}
    assert template.fill({"id": 7, "fmt": "json", "since": 1.5}) == (
        "https://api/u/7/o.json?since=1.5&x=7"
    )
    hostile = {"id": "../a/?#%00", "fmt": "..", "since": "1&admin=true"}
    assert template.fill(hostile) == (
        "https://api/u/..%2Fa%2F%3F%23%2500/o.%2E%2E?since=1%26admin%3Dtrue&x=..%2Fa%2F%3F%23%2500"
    )
    plain = UrlTemplate.parse("http://127.0.0.1:8001/api/data?x=1", "k")
    assert plain.names == frozenset() and plain.fill({}) == "http://127.0.0.1:8001/api/data?x=1"


@pytest.mark.parametrize(
    ("value", "in_path", "encoded"),
    [
        ("..", True, "%2E%2E"),
        (".", True, "%2E"),
        ("..", False, ".."),
        ("a..b", True, "a..b"),
        ("/", True, "%2F"),
        ("\x00", True, "%00"),
        ("é", False, "%C3%A9"),
        (" +", False, "%20%2B"),
        (-3, True, "-3"),
    ],
)
def test_encode(value: str | int, in_path: bool, encoded: str) -> None:
    assert encode(value, in_path) == encoded


def test_a_source_with_parameters_on_no_route_is_a_warning(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(SOURCES)
    body = app.test_client().get("/").get_json()
    assert set(body["errors"]) == {"notes"} and "orders" not in body["timing_ms"]  # not read
    warned = [r.getMessage() for r in caplog.records if r.name == "flask_fanout.service"]
    assert warned == [
        "sources.orders takes since, user_id: GET / does not read it, and no [routes.NAME] lists it"
    ]
