"""TLS of http sources against a real HTTPS upstream whose certificate a test CA signed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from tests.service.sources.http.upstreams import MakeSource, Pki, Upstream, serving

from flask_fanout import CallError


def failure(call: object) -> CallError:
    with pytest.raises(CallError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_a_private_ca_is_trusted_through_ca_file(
    make_source: MakeSource, https_upstream: Upstream, pki: Pki
) -> None:
    source = make_source(https_upstream.url("/json"), f'ca_file = "{pki.ca_file}"')
    assert source.read(2.0) == {"ok": True}
    assert source.read(2.0) == {"ok": True}
    assert https_upstream.connections_total == 1  # the TLS connection was kept alive


def test_a_tls_connection_the_server_closed_while_idle_is_replaced(
    make_source: MakeSource, https_upstream: Upstream, pki: Pki
) -> None:
    source = make_source(https_upstream.url("/once"), f'ca_file = "{pki.ca_file}"')
    assert [source.read(2.0) for _ in range(3)] == [{"once": True}] * 3
    assert https_upstream.connections_total == 3


def test_without_ca_file_the_certificate_is_refused(
    make_source: MakeSource, https_upstream: Upstream
) -> None:
    error = failure(lambda: make_source(https_upstream.url("/json")).read(2.0))
    assert error.code == "tls_error"
    assert "certificate verify failed" in error.message
    assert https_upstream.seen == []


def test_a_certificate_for_another_name_is_refused(
    make_source: MakeSource, pki: Pki, tmp_path: Path
) -> None:
    other = Pki(pki.ca, pki.ca.issue_cert("elsewhere.example"), *_files(pki))
    with serving(other) as upstream:
        source = make_source(upstream.url("/json"), f'ca_file = "{pki.ca_file}"')
        error = failure(lambda: source.read(2.0))
    assert error.code == "tls_error"
    assert "127.0.0.1" in error.message or "mismatch" in error.message.lower()


def test_another_ca_is_refused(
    make_source: MakeSource, https_upstream: Upstream, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    error = failure(
        lambda: make_source(https_upstream.url("/json"), f'ca_file = "{stranger}"').read(2.0)
    )
    assert error.code == "tls_error"


def test_verify_false_works_and_warns_at_start_up(
    make_source: MakeSource, https_upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_fanout"):
        source = make_source(https_upstream.url("/json"), "verify = false")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sources.s" in warnings[0].getMessage()
    assert "NOT checked" in warnings[0].getMessage()
    assert source.read(2.0) == {"ok": True}


def test_verified_sources_do_not_warn(
    make_source: MakeSource, https_upstream: Upstream, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_fanout"):
        make_source(https_upstream.url("/json"), f'ca_file = "{pki.ca_file}"')
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.fixture
def mutual(pki: Pki) -> Iterator[Upstream]:
    with serving(pki, require_client_cert=True) as upstream:
        yield upstream


def test_a_client_certificate_is_presented(
    make_source: MakeSource, mutual: Upstream, pki: Pki
) -> None:
    keys = f'ca_file = "{pki.ca_file}"\ncert_file = "{pki.cert_file}"\nkey_file = "{pki.key_file}"'
    assert make_source(mutual.url("/json"), keys).read(2.0) == {"ok": True}
    (seen,) = mutual.seen
    assert seen.peer_cert is not None
    assert ("DNS", "client.example") in seen.peer_cert["subjectAltName"]


def test_without_the_client_certificate_the_upstream_refuses(
    make_source: MakeSource, mutual: Upstream, pki: Pki
) -> None:
    source = make_source(mutual.url("/json"), f'ca_file = "{pki.ca_file}"')
    for _ in range(5):  # the refusal comes as an alert or as a cut connection: both are TLS
        error = failure(lambda: source.read(2.0))
        assert error.code == "tls_error", error.message
    assert mutual.seen == []


def test_https_to_a_plain_http_upstream_is_a_tls_error(
    make_source: MakeSource, http_upstream: Upstream, pki: Pki
) -> None:
    url = http_upstream.url("/json").replace("http://", "https://")
    error = failure(lambda: make_source(url, f'ca_file = "{pki.ca_file}"').read(2.0))
    assert error.code == "tls_error"


def _files(pki: Pki) -> tuple[Path, Path, Path]:
    return pki.ca_file, pki.cert_file, pki.key_file
