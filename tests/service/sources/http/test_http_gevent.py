"""HTTPS sources under ``fanout serve``'s gevent workers: TLS is cooperative there
(two slow HTTPS calls overlap), the client certificate and the token are sent,
and the logs carry the verify = false warning but never the token."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.service.sources.http.upstreams import Pki, serving

SECRET = "tok-gevent-5b1e0c"


@pytest.mark.slow
def test_https_sources_under_fanout_serve(serve: Any, pki: Pki, tmp_path: Path) -> None:
    with serving(pki, require_client_cert=True, token=SECRET) as upstream:
        mutual = (
            f'ca_file = "{pki.ca_file}"\ncert_file = "{pki.cert_file}"\n'
            f'key_file = "{pki.key_file}"\n'
            'headers = { Authorization = "Bearer ${API_TOKEN}" }\n'
        )
        lax = f'verify = false\ncert_file = "{pki.cert_file}"\nkey_file = "{pki.key_file}"\n'
        config = tmp_path / "fanout.toml"
        config.write_text(
            f'[sources.auth]\ntype = "http"\nurl = "{upstream.url("/auth")}"\n{mutual}\n'
            f'[sources.slow_a]\ntype = "http"\nurl = "{upstream.url("/slow?ms=400")}"\n{mutual}\n'
            f'[sources.slow_b]\ntype = "http"\nurl = "{upstream.url("/slow?ms=400")}"\n{lax}\n'
        )
        base, _ = serve("--config", str(config), env={"API_TOKEN": SECRET})
        with urllib.request.urlopen(base + "/", timeout=10) as answer:
            body = json.load(answer)
    assert body["errors"] == {}, body
    assert body["result_auth"] == {"authorized": True}
    assert body["result_slow_a"] == body["result_slow_b"] == {"slept_ms": 400}
    assert upstream.requests_max >= 2  # the two slow HTTPS calls overlapped in one worker
    log = (tmp_path / "stderr.log").read_text()
    # gunicorn's master checks the config before forking (a plain line), each worker
    # builds its sources again (a JSON line each).
    lines = [line for line in log.splitlines() if "verify = false" in line]
    warnings = [json.loads(line) for line in lines if line.startswith("{")]
    assert warnings and all(w["level"] == "warning" for w in warnings)
    assert all("sources.slow_b" in w["message"] for w in warnings)
    assert SECRET not in log
