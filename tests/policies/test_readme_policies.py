"""The README's call-policies example runs as written, against a real upstream."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def policies_example() -> str:
    section = README.read_text().split("## Call policies", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its call-policies example"
    return match.group(1)


def test_readme_policies_example_caches_then_answers_stale(upstreams) -> None:
    upstream = upstreams()
    code = policies_example().replace("http://127.0.0.1:9000/prices", upstream.url)
    namespace: dict[str, Any] = {"__name__": "readme_policies"}
    exec(compile(code, str(README), "exec"), namespace)
    app = namespace["app"]
    app.config["FANOUT_CPU_BACKEND"] = "inline"
    client = app.test_client()
    first = client.get("/prices").get_json()
    again = client.get("/prices").get_json()
    assert first["flags"] == [] and again["flags"] == ["cached"]
    assert upstream.hits == 1
    upstream.mode = "fail"
    time.sleep(1.05)  # past the ttl: the call is made, fails, and the stale value answers
    stale = client.get("/prices")
    assert stale.status_code == 200
    assert stale.get_json()["flags"] == ["retried", "stale"], "retried once, then stale"
    assert stale.get_json()["age_s"] >= 1.0
