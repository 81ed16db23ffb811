"""The keys of an http source: each bad value stops start-up naming ``sources.NAME.KEY``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.service.sources.http.upstreams import Pki

from flask_fanout import ConfigError
from flask_fanout.service.config import load_config

SECRET = "s3cr3t-value"


def load(tmp_path: Path, keys: str, url: str = "https://api.example/v1", **environ: str) -> object:
    path = tmp_path / "fanout.toml"
    path.write_text(f'[sources.a]\ntype = "http"\nurl = "{url}"\n{keys}\n')
    return load_config({"FANOUT_CONFIG": str(path)}, environ=environ)


@pytest.mark.parametrize(
    ("keys", "key", "says"),
    [
        ('headers = "Bearer x"', "sources.a.headers", "table"),
        ("headers = { X-Count = 1 }", "sources.a.headers.X-Count", "string"),
        ('headers = { "Bad Name" = "x" }', "sources.a.headers.Bad Name", "header name"),
        ('headers = { "" = "x" }', "sources.a.headers.", "header name"),
        ('headers = { Host = "elsewhere" }', "sources.a.headers.Host", "client itself"),
        ('headers = { "Content-Length" = "3" }', "sources.a.headers.Content-Length", "client"),
        ('headers = { A = "1", a = "2" }', "sources.a.headers.a", "twice"),
        ('headers = { A = "x\\r\\nEvil: 1" }', "sources.a.headers.A", "control character"),
        (
            'headers = { Authorization = "Bearer ${NOT_SET}" }',
            "sources.a.headers.Authorization",
            "NOT_SET is not set",
        ),
        ('method = "PUT"', "sources.a.method", "GET, POST"),
        ("method = 1", "sources.a.method", "GET, POST"),
        ("body = { a = 1 }", "sources.a.body", "POST"),
        ('method = "GET"\nbody = [1]', "sources.a.body", "POST"),
        ('method = "POST"\nbody = nan', "sources.a.body", "JSON"),
        ('verify = "no"', "sources.a.verify", "true or false"),
        ('ca_file = "/no/such/ca.pem"', "sources.a.ca_file", "no such file"),
        ("ca_file = 5", "sources.a.ca_file", "file path"),
        (
            'cert_file = "/no/such/cert.pem"\nkey_file = "/no/such/key.pem"',
            "sources.a.cert_file",
            "no such file",
        ),
        ("follow_redirects = -1", "sources.a.follow_redirects", ">= 0"),
        ("follow_redirects = true", "sources.a.follow_redirects", ">= 0"),
        ("follow_redirects = 1.5", "sources.a.follow_redirects", ">= 0"),
        ("max_connections = 0", "sources.a.max_connections", ">= 1"),
        ('max_connections = "4"', "sources.a.max_connections", ">= 1"),
        ("proxy = 'x'", "sources.a", "unknown keys proxy"),
    ],
)
def test_a_bad_key_names_itself(tmp_path: Path, keys: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: ") as caught:
        load(tmp_path, keys)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://api.example/", "http:// or https://"),
        ("https://", "no host"),
        ("https://api.example:99999/", "not a usable URL"),
        ("https://user:pw@api.example/", "credentials"),
        ("https://api.example/${NOT_SET}", "NOT_SET is not set"),
    ],
)
def test_a_bad_url(tmp_path: Path, url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r"^sources\.a\.url: ") as caught:
        load(tmp_path, "", url=url)
    assert says in str(caught.value)


def test_tls_files_must_load(tmp_path: Path, pki: Pki) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"^sources\.a\.ca_file: cannot load"):
        load(tmp_path, f'ca_file = "{garbage}"')
    # A key that does not belong to the certificate: the CA's key is not the client's.
    other_key = tmp_path / "other-key.pem"
    pki.server.private_key_pem.write_to_path(str(other_key))
    with pytest.raises(ConfigError, match=r"^sources\.a\.cert_file: cannot load"):
        load(tmp_path, f'cert_file = "{pki.cert_file}"\nkey_file = "{other_key}"')


@pytest.mark.parametrize(
    ("keys", "key", "says"),
    [
        ('cert_file = "{cert}"', "sources.a.key_file", "go together"),
        ('key_file = "{key}"', "sources.a.cert_file", "go together"),
        ('verify = false\nca_file = "{ca}"', "sources.a.ca_file", "verify = false"),
    ],
)
def test_tls_combinations(tmp_path: Path, pki: Pki, keys: str, key: str, says: str) -> None:
    keys = keys.format(cert=pki.cert_file, key=pki.key_file, ca=pki.ca_file)
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: ") as caught:
        load(tmp_path, keys)
    assert says in str(caught.value)


def test_tls_keys_need_an_https_url(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ConfigError, match=r"^sources\.a\.ca_file: .*https://"):
        load(tmp_path, f'ca_file = "{pki.ca_file}"', url="http://api.example/")
    with pytest.raises(ConfigError, match=r"^sources\.a\.verify: .*https://"):
        load(tmp_path, "verify = false", url="http://api.example/")
    load(tmp_path, "verify = true", url="http://api.example/")  # the default, said aloud
    # ... unless a redirect may lead to https
    load(tmp_path, f'ca_file = "{pki.ca_file}"\nfollow_redirects = 1', url="http://api.example/")


def test_good_keys_load(tmp_path: Path, pki: Pki) -> None:
    keys = f"""
        method = "post"
        body = {{ q = 1 }}
        ca_file = "{pki.ca_file}"
        cert_file = "{pki.cert_file}"
        key_file = "{pki.key_file}"
        follow_redirects = 2
        max_connections = 4
        timeout = 1.5
        [sources.a.headers]
        Authorization = "Bearer ${{API_TOKEN}}"
        "X-Literal" = "costs $$5"
    """
    config = load(
        tmp_path, keys, url="https://api.example/${HOST_PART}/v1", API_TOKEN=SECRET, HOST_PART="eu"
    )
    settings = config.sources["a"].options["settings"]  # type: ignore[attr-defined]
    assert settings.url == "https://api.example/eu/v1"
    assert settings.shown_url == "https://api.example/${HOST_PART}/v1"
    assert settings.method == "POST" and settings.body == b'{"q":1}'
    assert dict(settings.headers) == {"Authorization": f"Bearer {SECRET}", "X-Literal": "costs $5"}
    assert settings.secret_headers == {"authorization"}
    assert (settings.follow_redirects, settings.max_connections) == (2, 4)
    assert SECRET not in repr(config)  # the resolved values stay out of every repr


def test_an_unsafe_value_from_the_environment_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    keys = 'headers = { Authorization = "Bearer ${API_TOKEN}" }'
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, keys, API_TOKEN=SECRET + "\r\nX-Injected: 1")
    assert str(caught.value).startswith("sources.a.headers.Authorization: ")
    assert SECRET not in str(caught.value)


def test_the_readme_example_loads(tmp_path: Path, pki: Pki) -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("### HTTP sources", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    for name, path in {
        "/etc/fanout/internal-ca.pem": pki.ca_file,
        "/etc/fanout/client.pem": pki.cert_file,
        "/etc/fanout/client-key.pem": pki.key_file,
    }.items():
        assert name in example
        example = example.replace(name, str(path))
    config_file = tmp_path / "readme.toml"
    config_file.write_text(example)
    config = load_config({"FANOUT_CONFIG": str(config_file)}, environ={"ORDERS_API_TOKEN": SECRET})
    settings = config.sources["orders"].options["settings"]
    assert (settings.method, settings.follow_redirects, settings.max_connections) == ("POST", 2, 8)
    assert dict(settings.headers)["Authorization"] == f"Bearer {SECRET}"
