"""A token from the environment reaches the upstream and nothing else: not the JSON
answer, not the logs, not /metrics, not /readyz, whatever way the upstream fails."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from flask import Flask
from tests.service.sources.http.upstreams import Pki, Upstream

SECRET = "tok-9f2c41d7e0b3"


class Collect(logging.Handler):
    """Every record of the flask_fanout loggers, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.__dict__))


@pytest.fixture
def logs() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("flask_fanout")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_token_appears_nowhere_but_upstream(
    make_app: Callable[..., Flask],
    https_upstream: Upstream,
    http_upstream: Upstream,
    pki: Pki,
    logs: Collect,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    auth = 'headers = { Authorization = "Bearer ${API_TOKEN}", "X-Key" = "${API_TOKEN}" }'
    ca = f'ca_file = "{pki.ca_file}"'
    elsewhere = quote(http_upstream.url("/echo", host="localhost"))
    sources = {
        "reflected": (https_upstream.url("/reflect"), f"{ca}\n{auth}"),
        "refused": (f"http://127.0.0.1:{closed_port()}/data", auth),
        "untrusted": (https_upstream.url("/json"), auth),
        "redirected": (http_upstream.url(f"/status/302?location={elsewhere}"), auth),
        "posted": (
            http_upstream.url("/status/500"),
            f'method = "POST"\nbody = {{ n = 1 }}\n{auth}',
        ),
        "slow": (http_upstream.url("/slow?ms=2000"), f"timeout = 0.3\n{auth}"),
        "in_url": (http_upstream.url("/status/503?key=${API_TOKEN}"), ""),
        "unverified": (https_upstream.url("/status/500"), f"verify = false\n{auth}"),
    }
    toml = "".join(
        f'[sources.{name}]\ntype = "http"\nurl = "{url}"\n{keys}\n'
        for name, (url, keys) in sources.items()
    )
    with caplog.at_level(logging.DEBUG):
        app = make_app(toml)
        client = app.test_client()
        answer = client.get("/")
        readyz = client.get("/readyz")
        metrics = client.get("/metrics")

    body = answer.get_json()
    assert answer.status_code == 502, body
    codes = {name: error["code"] for name, error in body["errors"].items()}
    assert codes == {
        "reflected": "bad_response",
        "refused": "unavailable",
        "untrusted": "tls_error",
        "redirected": "bad_response",
        "posted": "bad_response",
        "slow": "timeout",
        "in_url": "bad_response",
        "unverified": "bad_response",
    }
    assert "${API_TOKEN}" in body["errors"]["in_url"]["message"]  # the URL as written
    # The upstreams did get it: the test would pass with no header sent at all otherwise.
    assert https_upstream.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert any(s.path.endswith(f"key={SECRET}") for s in http_upstream.seen)

    assert readyz.status_code == 200 and 'source="reflected"' in metrics.get_data(as_text=True)
    assert any("verify = false" in line for line in logs.lines)  # the logs were captured
    exposed = {
        "answer": answer.get_data(as_text=True),
        "readyz": readyz.get_data(as_text=True),
        "metrics": metrics.get_data(as_text=True),
        "logs": "\n".join(logs.lines),
        "caplog": caplog.text + repr([r.__dict__ for r in caplog.records]),
        "state": repr(app.extensions["fanout_service"].config)
        + repr(app.extensions["fanout_service"].sources),
    }
    leaks = [where for where, text in exposed.items() if SECRET in text]
    assert leaks == []


def test_a_missing_variable_stops_start_up_naming_key_and_variable(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_fanout import ConfigError

    monkeypatch.delenv("API_TOKEN", raising=False)
    toml = '[sources.a]\ntype = "http"\nurl = "http://127.0.0.1:1/"\n'
    toml += 'headers = { Authorization = "Bearer ${API_TOKEN}" }\n'
    with pytest.raises(ConfigError, match=r"^sources\.a\.headers\.Authorization: .*API_TOKEN"):
        make_app(toml)
