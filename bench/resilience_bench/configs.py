"""The three ways ``fanout serve`` runs: no policy, policies, policies and a cache.

Every configuration has the same sources: a file, and ``api`` on the flaky upstream
with ``timeout = --timeout``; only the ``[sources.api.*]`` policy tables differ.
"""

from __future__ import annotations

from harness.processes import REPO

SAMPLE = REPO / "src" / "flask_fanout" / "service" / "demo" / "data" / "sample.txt"

POLICIES = """
[sources.api.breaker]
failure_rate = 0.5
window = 200
min_calls = 50
[sources.api.bulkhead]
max_concurrent = 200
[sources.api.retry]
attempts = 2
budget = 0.1
backoff = 0.01
[sources.api.hedge]
after = "p95"
budget = 0.3
min_samples = 5
"""
CACHE = """
[sources.api.cache]
ttl = 1.0
stale_if_error = 30.0
stale_while_revalidate = 30.0
"""
CONFIGS = {"none": "", "hedge": POLICIES, "hedge+cache": POLICIES + CACHE}


def config_text(upstream_port: int, timeout: float, policies: str) -> str:
    """The TOML of one configuration, ``policies`` appended to the ``api`` source."""
    return (
        f'[sources.file]\ntype = "file"\npath = "{SAMPLE}"\n\n'
        f'[sources.api]\ntype = "http"\nurl = "http://127.0.0.1:{upstream_port}/api"\n'
        f"timeout = {timeout}\n{policies}"
    )


def one_line(toml: str) -> str:
    """A TOML fragment on one line, for the report's footnotes."""
    return toml.strip().replace("\n", "; ")
