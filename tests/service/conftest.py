"""Fixtures shared by the service's tests: a test CA (config checks and http sources use it)."""

from __future__ import annotations

import pytest
from tests.service.sources.http.upstreams import Pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))
