"""Structured logs: one access line per request, each traceback logged once."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_fanout import ConfigError, Fanout, Settings, gather
from flask_fanout.access_log import ACCESS_LOGGER
from flask_fanout.server.logs import JsonFormatter, configure_logging


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="flask_fanout")
    yield caplog


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fanout for r in caplog.records if r.name == ACCESS_LOGGER]  # type: ignore[attr-defined]


def test_one_line_per_request_with_route_status_duration_and_sources(
    make_app: Callable[..., Flask],
    text_file: Path,
    upstream: Any,
    tmp_path: Path,
    access: pytest.LogCaptureFixture,
) -> None:
    app = make_app(
        f"""
        [sources.file]
        type = "file"
        path = "{text_file}"
        [sources.api]
        type = "http"
        url = "{upstream.url}/hang"
        timeout = 0.2
        [sources.gone]
        type = "file"
        path = "{tmp_path / "missing.txt"}"
        """
    )
    client = app.test_client()
    client.get("/").close()
    client.get("/is_prime/" + "7," * 200 + "x").close()
    first, second = access_lines(access)
    assert first["event"] == "request"
    assert (first["method"], first["route"], first["path"]) == ("GET", "/", "/")
    assert first["status"] == 200
    assert first["duration_ms"] >= 200
    assert first["sources"] == {"file": "ok", "api": "timeout", "gone": "unavailable"}
    assert second["route"] == "/is_prime/<path:numbers>" and second["status"] == 400
    assert "sources" not in second
    assert len(second["path"]) < 300 and second["path"].endswith("...")

    record = next(r for r in access.records if r.name == ACCESS_LOGGER)
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == ACCESS_LOGGER and line["level"] == "info"
    assert line["ts"].endswith("Z") and line["status"] == 200
    assert line["sources"]["api"] == "timeout"
    assert record.getMessage().startswith("GET / 200 ")


def test_access_log_can_be_turned_off_and_is_validated(
    make_app: Callable[..., Flask], text_file: Path, access: pytest.LogCaptureFixture
) -> None:
    app = make_app(f'[sources.a]\ntype = "file"\npath = "{text_file}"\n', FANOUT_ACCESS_LOG="off")
    app.test_client().get("/").close()
    assert access_lines(access) == []
    assert Settings.from_mapping({"FANOUT_ACCESS_LOG": "1"}).access_log is True
    assert Settings.from_mapping({"FANOUT_ACCESS_LOG": False}).access_log is False
    with pytest.raises(ConfigError, match="FANOUT_ACCESS_LOG"):
        Settings.from_mapping({"FANOUT_ACCESS_LOG": "sometimes"})
    with pytest.raises(ConfigError, match="FANOUT_METRICS"):
        Settings.from_mapping({"FANOUT_METRICS": "2"})


def test_a_failed_call_is_logged_once_with_its_traceback(
    access: pytest.LogCaptureFixture,
) -> None:
    app = Flask(__name__)
    app.config.update(FANOUT_CPU_BACKEND="inline")
    Fanout(app)

    def broken() -> int:
        raise ValueError("bad row")

    @app.get("/both")
    def both() -> dict[str, Any]:
        outcomes = gather({"good": lambda: 1, "bad": broken}, timeout=1)
        return {name: o.ok for name, o in outcomes.items()}

    with app.test_client().get("/both") as response:
        assert response.get_json() == {"good": True, "bad": False}
    tracebacks = [r for r in access.records if r.exc_info]
    assert len(tracebacks) == 1
    assert "ValueError: bad row" in JsonFormatter().format(tracebacks[0])
    assert access_lines(access)[0]["sources"] == {"good": "ok", "bad": "error"}


def test_an_unhandled_view_error_is_logged_once(
    make_app: Callable[..., Flask], text_file: Path, access: pytest.LogCaptureFixture
) -> None:
    app = make_app(f'[sources.a]\ntype = "file"\npath = "{text_file}"\n')

    def boom() -> str:
        raise RuntimeError("the view broke")

    app.add_url_rule("/boom", view_func=boom)
    access.set_level(logging.INFO)  # every logger, Flask's and werkzeug's too
    with app.test_client().get("/boom") as response:
        assert response.status_code == 500 and response.is_json
    tracebacks = [r for r in access.records if r.exc_info]
    assert len(tracebacks) == 1 and tracebacks[0].name == "flask_fanout.service"
    line = json.loads(JsonFormatter().format(tracebacks[0]))
    assert "\n" not in JsonFormatter().format(tracebacks[0])
    assert "RuntimeError: the view broke" in line["exc_info"]
    assert access_lines(access)[0]["status"] == 500


def test_configure_logging_writes_json_lines_once() -> None:
    logger = logging.getLogger("flask_fanout")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    flags = (logging.logThreads, logging.logMultiprocessing)
    stream = io.StringIO()
    try:
        configure_logging(stream)
        configure_logging(stream)  # idempotent
        logging.getLogger("flask_fanout.service").warning("disk %s", "full")
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
        logging.logThreads, logging.logMultiprocessing = flags
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "disk full" and entry["level"] == "warning"
    assert entry["logger"] == "flask_fanout.service"
