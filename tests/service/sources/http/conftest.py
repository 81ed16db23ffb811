"""Fixtures of the http sources' tests: a test CA, real upstreams, sources built from TOML."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from tests.service.sources.http.upstreams import MakeSource, Pki, Upstream, serving

from flask_fanout.service.config import load_config
from flask_fanout.service.sources import HttpSource, SourceLimits, build_sources


@pytest.fixture
def https_upstream(pki: Pki) -> Iterator[Upstream]:
    with serving(pki, token="t0ken-for-tests") as upstream:
        yield upstream


@pytest.fixture
def http_upstream() -> Iterator[Upstream]:
    with serving(token="t0ken-for-tests") as upstream:
        yield upstream


@pytest.fixture
def make_source(tmp_path: Path) -> Iterator[MakeSource]:
    """``make_source(url, 'key = value' lines, environ={...})``: one http source, as configured."""
    closers: list[Callable[[], None]] = []

    def build(url: str, keys: str = "", environ: Mapping[str, str] | None = None) -> HttpSource:
        path = tmp_path / f"source{len(closers)}.toml"
        table = f'[sources.s]\ntype = "http"\nurl = "{url}"\n' + textwrap.dedent(keys)
        path.write_text(table)
        config = load_config({"FANOUT_CONFIG": str(path)}, environ=environ or {})
        sources, close = build_sources(config.sources, SourceLimits(64, 1 << 20, 1 << 20, 100))
        closers.append(close)
        source = sources["s"]
        assert isinstance(source, HttpSource)
        return source

    yield build
    for close in closers:
        close()
