"""Configuration: a bad value stops start-up with a message naming the key."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_fanout import ConfigError
from flask_fanout.service import create_app
from flask_fanout.service.config import load_config


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[sources.a]\ntype = "ftp"\nurl = "x"\n', "sources.a.type"),
        ('[sources.a]\ntype = "file"\n', "sources.a.path"),
        ('[sources.a]\ntype = "sql"\nurl = "sqlite://"\n', "sources.a.query"),
        ('[sources.a]\ntype = "http"\nurl = "ftp://x"\n', "sources.a.url"),
        ('[sources.a]\ntype = "http"\nurl = "http://x"\ntimeout = -1\n', "sources.a.timeout"),
        ('[sources.a]\ntype = "http"\nurl = "http://x"\ntimeout = "soon"\n', "sources.a.timeout"),
        ('[sources.a]\ntype = "http"\nurl = "http://x"\nproxy = "y"\n', "sources.a"),
        ('[sources.a]\ntype = "sql"\nurl = "nosuchdb://x"\nquery = "SELECT 1"\n', "sources.a.url"),
        ('io_threads = "many"\n[sources.a]\ntype = "file"\npath = "p"\n', "FANOUT_IO_THREADS"),
        ('colour = "blue"\n[sources.a]\ntype = "file"\npath = "p"\n', "colour"),
        ("[sources]\n", "sources"),
        ("this is = not toml [", "FANOUT_CONFIG"),
    ],
)
def test_bad_config_file_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}"):
        load_config({"FANOUT_CONFIG": write(tmp_path, toml)}, environ={})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FANOUT_IO_THREADS", "0"),
        ("FANOUT_TIMEOUT", "abc"),
        ("FANOUT_DEADLINE", "-3"),
        ("FANOUT_CPU_BACKEND", "gpu"),
        ("FANOUT_CPU_WORKERS", "1.5"),
        ("FANOUT_MAX_INFLIGHT", "none"),
        ("FANOUT_FILE_MAX_BYTES", "big"),
        ("FANOUT_PRIME_MAX_NUMBERS", "0"),
    ],
)
def test_bad_environment_value_names_the_key(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}"):
        load_config({}, environ={name: value, "FANOUT_DATA_DIR": "/tmp/fanout-test-data"})


def test_dask_backend_needs_an_address() -> None:
    with pytest.raises(ConfigError, match=r"^FANOUT_DASK_ADDRESS"):
        load_config({"FANOUT_CPU_BACKEND": "dask"}, environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^FANOUT_CONFIG: no such file"):
        load_config({"FANOUT_CONFIG": str(tmp_path / "absent.toml")}, environ={})


def test_precedence_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'io_threads = 7\ntimeout = 1.5\n[sources.a]\ntype = "file"\npath = "p"\n'
    )
    config = load_config(
        {"FANOUT_TIMEOUT": 2.5}, environ={"FANOUT_CONFIG": path, "FANOUT_IO_THREADS": "9"}
    )
    assert config.flask["FANOUT_IO_THREADS"] == "9"
    assert config.flask["FANOUT_TIMEOUT"] == 2.5
    app = create_app(
        {"FANOUT_CONFIG": path, "FANOUT_IO_THREADS": 9, "FANOUT_CPU_BACKEND": "inline"}
    )
    assert app.extensions["fanout"].settings.io_threads == 9


def test_embedded_default_has_file_db_and_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: object
) -> None:
    monkeypatch.delenv("FANOUT_CONFIG", raising=False)
    app = create_app(
        {
            "FANOUT_DATA_DIR": str(tmp_path / "data"),
            "FANOUT_UPSTREAM_URL": upstream.url,  # type: ignore[attr-defined]
            "FANOUT_CPU_BACKEND": "inline",
        }
    )
    response = app.test_client().get("/")
    body = response.get_json()
    assert response.status_code == 200, body
    assert set(body) >= {"result_file", "result_db", "result_api", "errors", "timing_ms"}
    assert body["errors"] == {}
    assert "flask-fanout" in body["result_file"]
    assert [row["name"] for row in body["result_db"]] == ["keyboard", "monitor", "mouse"]
    assert (tmp_path / "data" / "demo.sqlite3").exists()


def test_sources_come_from_the_operator_only(
    make_app: Callable[..., Flask], text_file: Path
) -> None:
    app = make_app(f'[sources.a]\ntype = "file"\npath = "{text_file}"\n')
    client = app.test_client()
    answer = client.get("/?path=/etc/passwd&url=http://evil&query=DROP")
    assert answer.status_code == 200
    assert answer.get_json()["result_a"] == "hello from a real file\n"
