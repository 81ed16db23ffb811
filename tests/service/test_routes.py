"""Declared routes: typed path and query parameters reach a real HTTP upstream, encoded.

The upstream is a real HTTP server on 127.0.0.1 that answers every request with
the raw request target it received (and records it), so each test sees exactly
what a hostile parameter turned into on the wire.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.metrics.test_metrics import grew, scrape
from tests.server.test_cli import fetch


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[Any]:
    """An HTTP upstream that answers ``{"path": <raw request target>}`` and records it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.paths = []  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def routes_config(echo_url: str, text_file: Path) -> str:
    return f"""
        [sources.notes]
        type = "file"
        path = "{text_file}"

        [sources.orders]
        type = "http"
        url = "{echo_url}/users/{{user_id}}/orders?since={{since}}&limit={{limit}}"

        [sources.item]
        type = "http"
        url = "{echo_url}/items/{{name}}/detail?q={{q}}"

        [sources.price]
        type = "http"
        url = "{echo_url}/prices/{{amount}}"

        [routes.dashboard]
        path = "/users/<int:user_id>/dashboard"
        sources = ["notes", "orders"]
        description = "One user's orders, and the notes."
        [routes.dashboard.query.since]
        type = "string"
        default = "2024-01-01"
        [routes.dashboard.query.limit]
        type = "int"

        [routes.item]
        path = "/items/<name>"
        sources = ["item"]
        [routes.item.query.q]
        type = "string"
        default = ""

        [routes.price]
        path = "/prices/<float:amount>"
        sources = ["price"]
    """


@pytest.fixture
def app(make_app: Callable[..., Flask], echo: Any, text_file: Path) -> Flask:
    return make_app(routes_config(echo.url, text_file))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def upstream_path(client: FlaskClient, url: str, source: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["errors"] == {}, body
    path: str = body[f"result_{source}"]["path"]
    return path


def test_a_route_reads_its_sources_with_the_request_parameters(client: FlaskClient) -> None:
    response = client.get("/users/7/dashboard?limit=20")
    assert response.status_code == 200
    body = response.get_json()
    assert body["result_notes"] == "hello from a real file\n"
    assert body["result_orders"] == {"path": "/users/7/orders?since=2024-01-01&limit=20"}
    assert set(body) == {"result_notes", "result_orders", "errors", "timing_ms"}
    assert set(body["timing_ms"]) == {"notes", "orders", "total"}
    given = upstream_path(client, "/users/0042/dashboard?limit=-3&since=2025-06-01", "orders")
    assert given == "/users/42/orders?since=2025-06-01&limit=-3"


def test_get_root_reads_only_the_sources_without_parameters(client: FlaskClient) -> None:
    body = client.get("/").get_json()
    assert set(body) == {"result_notes", "errors", "timing_ms"}
    assert body["errors"] == {}


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("/items/..", "/items/%2E%2E/detail?q="),
        ("/items/%2e%2e", "/items/%2E%2E/detail?q="),
        ("/items/.", "/items/%2E/detail?q="),
        ("/items/...x", "/items/...x/detail?q="),
        ("/items/%00", "/items/%00/detail?q="),
        ("/items/a%3Fb%23c%26d%3De", "/items/a%3Fb%23c%26d%3De/detail?q="),
        ("/items/%25", "/items/%25/detail?q="),
        ("/items/%252F", "/items/%252F/detail?q="),
        ("/items/caf%C3%A9", "/items/caf%C3%A9/detail?q="),
        ("/items/x?q=a%26admin%3D1%23", "/items/x/detail?q=a%26admin%3D1%23"),
        ("/items/x?q=../../etc", "/items/x/detail?q=..%2F..%2Fetc"),
        ("/items/x?q=%00+1", "/items/x/detail?q=%00%201"),
    ],
)
def test_hostile_values_cannot_change_the_upstream_path(
    client: FlaskClient, echo: Any, url: str, sent: str
) -> None:
    assert upstream_path(client, url, "item") == sent
    assert echo.paths[-1] == sent  # what the server received, not only what it echoed


@pytest.mark.parametrize(
    "url",
    [
        "/items/a%2Fb",  # an encoded '/' is a '/' to the router: two segments, no route
        "/items/a/b",
        "/users/١٢٣/dashboard?limit=1",  # Arabic-Indic digits: not ASCII
        "/users/%D9%A1%D9%A2%D9%A3/dashboard?limit=1",
        "/users/\uff11\uff12/dashboard?limit=1",  # fullwidth digits
        "/users/9223372036854775808/dashboard?limit=1",  # 2**63
        "/users/" + "9" * 5000 + "/dashboard?limit=1",
        "/users/-1/dashboard?limit=1",
        "/users/+1/dashboard?limit=1",
        "/users/1.5/dashboard?limit=1",
        "/users/0x10/dashboard?limit=1",
        "/prices/nan",
        "/prices/inf",
        "/prices/1e5",
        "/prices/5",
        "/prices/-1.5",
        "/prices/1." + "0" * 41,
        "/users/7/dashboard/",  # no trailing-slash redirect (an HTML 308)
    ],
)
def test_a_bad_path_parameter_is_a_json_404(client: FlaskClient, echo: Any, url: str) -> None:
    before = len(echo.paths)
    response = client.get(url)
    assert response.status_code == 404, response.data
    assert response.is_json and response.get_json()["error"] == "not_found"
    assert len(echo.paths) == before  # the upstream was never called


def test_float_and_the_largest_int_pass(client: FlaskClient) -> None:
    assert upstream_path(client, "/prices/19.99", "price") == "/prices/19.99"
    assert upstream_path(client, "/prices/0.000001", "price") == "/prices/1e-06"
    top = "/users/9223372036854775807/dashboard?limit=9223372036854775807"
    assert upstream_path(client, top, "orders") == (
        "/users/9223372036854775807/orders?since=2024-01-01&limit=9223372036854775807"
    )


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "missing_parameter"),
        ("?since=2020", "missing_parameter"),
        ("?limit=", "invalid_parameter"),
        ("?limit=abc", "invalid_parameter"),
        ("?limit=1.5", "invalid_parameter"),
        ("?limit=%D9%A1", "invalid_parameter"),
        ("?limit=9223372036854775808", "invalid_parameter"),
        ("?limit=-9223372036854775808", "invalid_parameter"),
        ("?limit=" + "9" * 5000, "invalid_parameter"),
        ("?limit=+1", "invalid_parameter"),
        ("?limit=1&limit=2", "invalid_parameter"),
        ("?limit=nan", "invalid_parameter"),
    ],
)
def test_a_bad_query_parameter_is_a_json_400(
    client: FlaskClient, echo: Any, query: str, code: str
) -> None:
    before = len(echo.paths)
    response = client.get("/users/7/dashboard" + query)
    assert response.status_code == 400, response.data
    body = response.get_json()
    assert body["error"] == code and body["parameter"] == "limit", body
    assert "limit" in body["message"] and len(body["message"]) < 300
    assert len(echo.paths) == before


def test_unknown_query_parameters_are_ignored(client: FlaskClient) -> None:
    given = upstream_path(client, "/users/7/dashboard?limit=1&_=123&user_id=8", "orders")
    assert given == "/users/7/orders?since=2024-01-01&limit=1"


def test_routes_are_in_the_spec_with_their_parameters(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/users/{user_id}/dashboard"]["get"]
    assert operation["operationId"] == "route_dashboard"
    assert operation["tags"] == ["routes"]
    assert "One user's orders" in operation["description"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["user_id"]["in"] == "path" and parameters["user_id"]["required"]
    assert parameters["user_id"]["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**63 - 1,
    }
    assert parameters["since"] == {
        "in": "query",
        "name": "since",
        "required": False,
        "schema": {"type": "string", "default": "2024-01-01"},
        "description": "string query parameter",
    }
    assert parameters["limit"]["required"] is True
    assert parameters["limit"]["schema"]["type"] == "integer"
    assert "default" not in parameters["limit"]["schema"]
    assert set(operation["responses"]) == {"200", "400", "404", "502", "503", "504"}
    price = spec["paths"]["/prices/{amount}"]["get"]["parameters"][0]
    assert price["schema"]["pattern"] == r"^[0-9]{1,40}\.[0-9]{1,40}$"
    item = spec["paths"]["/items/{name}"]["get"]["parameters"]
    assert [p["name"] for p in item] == ["name", "q"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.get_data(as_text=True)


def test_metrics_label_a_route_by_its_rule_never_its_path(client: FlaskClient) -> None:
    before = scrape(client)
    for user in (1, 2, 3):
        assert client.get(f"/users/{user}/dashboard?limit=1").status_code == 200
    assert client.get("/users/4/dashboard").status_code == 400
    assert client.get("/users/x/dashboard").status_code == 404
    after = scrape(client)
    requests = "fanout_http_requests_total"
    rule = "/users/<int:user_id>/dashboard"
    assert grew(before, after, requests, route=rule, method="GET", status="200") == 3
    assert grew(before, after, requests, route=rule, method="GET", status="400") == 1
    assert grew(before, after, requests, route="unmatched", method="GET", status="404") >= 1
    assert grew(before, after, "fanout_source_calls_total", source="orders", outcome="ok") == 3
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any(route.startswith("/users/") and route != rule for route in routes), routes


def test_a_route_under_fanout_serve(serve: Any, echo: Any, text_file: Path, tmp_path: Path) -> None:
    """The gevent workers of ``fanout serve``, over real HTTP on both sides."""
    config = tmp_path / "routes.toml"
    config.write_text(textwrap.dedent(routes_config(echo.url, text_file)))
    base, _ = serve("--config", str(config))
    status, body = fetch(base + "/users/7/dashboard?limit=2")
    assert status == 200 and body["errors"] == {}, body
    assert body["result_orders"] == {"path": "/users/7/orders?since=2024-01-01&limit=2"}
    assert fetch(base + "/items/%2e%2e")[1]["result_item"] == {"path": "/items/%2E%2E/detail?q="}
    for url, expected in [
        ("/users/%D9%A1%D9%A2/dashboard?limit=1", (404, "not_found")),
        ("/users/99999999999999999999/dashboard?limit=1", (404, "not_found")),
        ("/users/7/dashboard", (400, "missing_parameter")),
        ("/users/7/dashboard?limit=x", (400, "invalid_parameter")),
    ]:
        status, body = fetch(base + url)
        assert (status, body["error"]) == expected, url
