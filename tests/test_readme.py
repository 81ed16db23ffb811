"""The README's "use it in your own Flask app" example runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Use it in your own Flask app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its example"
    return match.group(1)


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
