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
from hypothesis import given
from hypothesis import strategies as st

from flask_fanout import ConfigError, Fanout, Settings, gather
from flask_fanout.access_log import ACCESS_LOGGER, set_access_writer
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


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """``configure_logging`` on a fresh stream; the loggers as they were afterwards."""
    logger = logging.getLogger("flask_fanout")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    flags = (logging.logThreads, logging.logMultiprocessing)
    stream = io.StringIO()
    try:
        configure_logging(stream)
        yield stream
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
        logging.logThreads, logging.logMultiprocessing = flags
        set_access_writer(None)


def _serve_one(path: str = "/") -> None:
    """Serve one request with only the loggers' own handlers: pytest (9) adds its
    capture handlers to a logger that does not propagate, which closes the lane."""
    logger = logging.getLogger("flask_fanout")
    captures = [h for h in logger.handlers if type(h).__name__ == "LogCaptureHandler"]
    for handler in captures:
        logger.removeHandler(handler)
    try:
        _serve_one_request(path)
    finally:
        for handler in captures:
            logger.addHandler(handler)


def _serve_one_request(path: str) -> None:
    app = Flask(__name__)
    Fanout(app)

    @app.get("/")
    def index() -> dict[str, Any]:
        outcomes = gather({"file": lambda: "read", "db": lambda: 1 / 0}, timeout=5.0)
        return {name: outcome.ok for name, outcome in outcomes.items()}

    assert app.test_client().get(path).status_code in (200, 404)


def test_configure_logging_writes_json_lines_once(json_lines: io.StringIO) -> None:
    configure_logging(json_lines)  # idempotent
    logging.getLogger("flask_fanout.service").warning("disk %s", "full")
    (line,) = json_lines.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "disk full" and entry["level"] == "warning"
    assert entry["logger"] == "flask_fanout.service"


def test_an_access_line_without_a_record_reads_like_one_with(json_lines: io.StringIO) -> None:
    made: list[str] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record.name)
        return record

    logging.setLogRecordFactory(counting)
    try:
        _serve_one()
    finally:
        logging.setLogRecordFactory(factory)
    assert ACCESS_LOGGER not in made  # the lane wrote it, no record was made
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert len(access) == 1, lines
    (direct,) = access
    # The same request with a record: a second handler makes the lane step aside.
    seen: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger(ACCESS_LOGGER).addHandler(collector)
    try:
        _serve_one()
    finally:
        logging.getLogger(ACCESS_LOGGER).removeHandler(collector)
    (record,) = [r for r in seen if r.name == ACCESS_LOGGER]
    via_record = json.loads(JsonFormatter().format(record))
    later = json_lines.getvalue().splitlines()[len(lines) :]
    assert [json.loads(line)["logger"] for line in later].count(ACCESS_LOGGER) == 1
    assert set(direct) == set(via_record)
    for key in ("level", "logger", "event", "method", "route", "path", "status", "sources"):
        assert direct[key] == via_record[key], key
    assert via_record["sources"] == {"file": "ok", "db": "error"}


def test_a_filter_or_a_level_on_the_way_is_obeyed(json_lines: io.StringIO) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    access.addFilter(lambda record: False)
    try:
        _serve_one()
    finally:
        access.filters.clear()
    assert ACCESS_LOGGER not in json_lines.getvalue()
    logging.getLogger("flask_fanout").setLevel(logging.WARNING)
    _serve_one()
    assert ACCESS_LOGGER not in json_lines.getvalue()


def test_a_handler_further_up_still_hears_every_request(json_lines: io.StringIO) -> None:
    logging.getLogger("flask_fanout").propagate = True
    seen: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(collector)
    try:
        _serve_one()
        _serve_one("/missing")
    finally:
        logging.getLogger().removeHandler(collector)
    assert [r.fanout["status"] for r in seen if r.name == ACCESS_LOGGER] == [200, 404]  # type: ignore[attr-defined]
    assert json_lines.getvalue().count(ACCESS_LOGGER) == 2


def _record_with(fields: dict[str, Any]) -> logging.LogRecord:
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "m", (), None)
    record.fanout = fields
    return record


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text()
JSON_SCALARS |= st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.dictionaries(
        st.text().filter(lambda key: key not in ("ts", "level", "logger")),
        st.recursive(
            JSON_SCALARS, lambda v: st.lists(v) | st.dictionaries(st.text(), v), max_leaves=8
        ),
    )
)
def test_a_line_says_what_the_standard_library_would(fields: dict[str, Any]) -> None:
    line = JsonFormatter().format(_record_with(fields))
    assert "\n" not in line
    expected = json.loads(json.dumps({"level": "info", "logger": ACCESS_LOGGER, **fields}))
    assert {key: value for key, value in json.loads(line).items() if key != "ts"} == expected


def test_what_orjson_refuses_is_still_written() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    fields = {"big": 2**70, "by_number": {7: "seven"}, "thing": Opaque()}
    line = json.loads(JsonFormatter().format(_record_with(fields)))
    assert line["big"] == 2**70 and line["by_number"] == {"7": "seven"}
    assert line["thing"] == "opaque"
