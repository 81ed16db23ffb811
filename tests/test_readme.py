"""The README's examples run, or load, as written.

``readme_block`` is shared with the other README tests: the first fenced block of
a language under a heading, so a test fails when the README loses its example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flask_fanout.service import create_app
from flask_fanout.service.config import ServiceConfig, load_config
from flask_fanout.service.sources import SourceLimits, build_sources

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_section(heading: str) -> str:
    """The README's text under ``heading`` (a whole line), up to the next heading.

    Lines inside fenced blocks are not headings (a TOML comment starts with ``# ``).
    """
    parts = README.read_text().split(f"\n{heading}\n", 1)
    assert len(parts) == 2, f"the README lost its heading {heading!r}"
    lines, fenced = [], False
    for line in parts[1].splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def readme_block(heading: str, language: str, index: int = 0) -> str:
    """The ``index``-th fenced block of ``language`` under ``heading``."""
    blocks = re.findall(rf"```{language}\n(.*?)```", readme_section(heading), re.S)
    assert len(blocks) > index, f"the README lost a {language} example under {heading!r}"
    return str(blocks[index])


def readme_example() -> str:
    return readme_block("## Use it in your own Flask app", "python")


def test_readme_example_serves_a_dashboard() -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(readme_example(), str(README), "exec"), namespace)
    app = namespace["app"]
    app.config["FANOUT_CPU_BACKEND"] = "inline"
    response = app.test_client().get("/dashboard")
    assert response.status_code == 200
    assert response.get_json() == {"profile": {"name": "Ada"}, "orders": [1, 2, 3], "errors": {}}


def test_readme_quick_start_has_exactly_two_commands() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", quick_start, re.S)
    assert len(commands) == 2
    assert "fanout serve" in commands[0]
    assert "pytest" in commands[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.replace(" -q ", " ")


def load_example(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> ServiceConfig:
    path = tmp_path / "example.toml"
    path.write_text(toml)
    return load_config({"FANOUT_CONFIG": str(path)}, environ=environ or {})


def test_the_configuration_examples_load(tmp_path: Path) -> None:
    config = load_example(tmp_path, readme_block("## Configuration", "toml"))
    assert config.flask["FANOUT_TIMEOUT"] == 2.0
    assert {n: (s.type, s.timeout) for n, s in config.sources.items()} == {
        "file": ("file", None),
        "db": ("sql", 0.5),
        "api": ("http", 1.0),
    }
    policies = load_example(tmp_path, readme_block("## Configuration", "toml", 1))
    policy = policies.sources["api"].policy
    assert policy is not None and policy.cache is not None and policy.hedge is not None
    assert (policy.cache.ttl, policy.cache.stale_if_error, policy.hedge.after) == (1.0, 30.0, "p95")


def test_the_sql_example_loads_with_its_password_from_the_environment(tmp_path: Path) -> None:
    secret = "sh0p-pw-from-env"
    example = readme_block("### SQL sources", "toml")
    config = load_example(tmp_path, example, {"SHOP_DB_PASSWORD": secret})
    spec = config.sources["orders"]
    assert (spec.type, spec.timeout, spec.options["pool_size"]) == ("sql", 0.5, 10)
    url = spec.options["url"]
    assert (url.drivername, url.host, url.port, url.password) == (
        "postgresql+psycopg",  # ``postgresql://`` means psycopg 3, as the README says
        "db.internal",
        5432,
        secret,
    )
    assert secret not in repr(config)
    sources, close = build_sources(config.sources, SourceLimits(8, 1 << 20, 1 << 20, 100))
    try:
        assert sources["orders"].parameters == {"user_id"}  # a bind parameter, not text
    finally:
        close()


def test_the_declared_routes_example_serves_its_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The routes example lists the Configuration example's ``file``: together they start."""
    monkeypatch.delenv("FANOUT_CONFIG", raising=False)
    example = readme_block("## Configuration", "toml") + readme_block("### Declared routes", "toml")
    path = tmp_path / "example.toml"
    path.write_text(example)
    app = create_app({"FANOUT_CONFIG": str(path), "FANOUT_CPU_BACKEND": "inline"})
    adapter = app.url_map.bind("x")
    assert adapter.match("/users/7/dashboard") == ("routes.dashboard", {"user_id": 7})
    spec = app.test_client().get("/openapi.json").get_json()
    parameters = spec["paths"]["/users/{user_id}/dashboard"]["get"]["parameters"]
    assert {(p["name"], p["in"]) for p in parameters} == {("user_id", "path"), ("since", "query")}
