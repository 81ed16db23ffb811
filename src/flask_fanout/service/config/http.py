"""The keys of a ``type = "http"`` source, checked at start-up.

``url``, ``headers``, ``method``, ``body``, ``verify``, ``ca_file``,
``cert_file``, ``key_file``, ``follow_redirects`` and ``max_connections``. Header
values and the URL may name environment variables (``"Bearer ${API_TOKEN}"``),
resolved here, once. What comes from the environment may be a secret: errors name
the key and the variable, never a value, and :attr:`HttpSettings.shown_url` (the
URL as written, ``${VAR}`` unexpanded) is what logs and answers show.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask_fanout import ConfigError

from .envvars import expand_env, names_env
from .tls import TlsFileError, TlsSettings

HTTP_KEYS = frozenset(
    {
        "headers",
        "method",
        "body",
        "verify",
        "ca_file",
        "cert_file",
        "key_file",
        "follow_redirects",
        "max_connections",
    }
)
"""Optional keys of an ``http`` source (``url`` is required)."""
METHODS = ("GET", "POST")
MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
"""Headers the client writes itself; a source may not set them."""
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field names
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class HttpSettings:
    """One ``http`` source's settings, resolved. ``url`` and ``headers`` may hold
    secrets, so they stay out of ``repr``."""

    url: str = field(repr=False)
    shown_url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes | None = field(default=None, repr=False)
    secret_headers: frozenset[str] = frozenset()
    tls: TlsSettings = field(default_factory=TlsSettings)
    follow_redirects: int = 0
    max_connections: int | None = None


def http_settings(where: str, table: Mapping[str, Any], environ: Mapping[str, str]) -> HttpSettings:
    """Check an ``http`` source's table (``where`` is ``sources.NAME``)."""
    template = table["url"]
    url = expand_env(template, f"{where}.url", environ)
    shown = template if names_env(template) else url
    _check_url(where, url, shown)
    headers, secret = _headers(where, table.get("headers", {}), environ)
    method = _method(where, table.get("method", "GET"))
    body = _body(where, table, method)
    tls = _tls(where, table, url)
    return HttpSettings(
        url=url,
        shown_url=shown,
        method=method,
        headers=headers,
        body=body,
        secret_headers=secret,
        tls=tls,
        follow_redirects=_count(where, table, "follow_redirects", 0, default=0) or 0,
        max_connections=_count(where, table, "max_connections", 1, default=None),
    )


def _check_url(where: str, url: str, shown: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: must start with http:// or https://")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
        (host or "").encode("idna")
    except (ValueError, UnicodeError):
        raise ConfigError(f"{where}.url: not a usable URL: {shown}") from None
    if not host:
        raise ConfigError(f"{where}.url: has no host: {shown}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{where}.url: credentials in the URL are not sent; put them in headers"
            ' (for example Authorization = "Basic ${API_BASIC}")'
        )


def _headers(
    where: str, table: object, environ: Mapping[str, str]
) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}.headers: must be a table of header names and string values")
    headers: list[tuple[str, str]] = []
    secret: set[str] = set()
    seen: set[str] = set()
    for name, value in table.items():
        key = f"{where}.headers.{name}"
        if not _TOKEN.match(name):
            raise ConfigError(f"{key}: not a valid header name")
        if name.lower() in MANAGED_HEADERS:
            raise ConfigError(f"{key}: set by the client itself, not configurable")
        if name.lower() in seen:
            raise ConfigError(f"{key}: given twice (header names ignore case)")
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {type(value).__name__}")
        expanded = expand_env(value, key, environ)
        if _CONTROL.search(expanded):
            raise ConfigError(f"{key}: contains a control character (CR, LF, NUL, ...)")
        if names_env(value):
            secret.add(name.lower())
        seen.add(name.lower())
        headers.append((name, expanded))
    return tuple(headers), frozenset(secret)


def _method(where: str, value: object) -> str:
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ConfigError(f"{where}.method: must be one of {', '.join(METHODS)}, got {value!r}")
    return value.upper()


def _body(where: str, table: Mapping[str, Any], method: str) -> bytes | None:
    if "body" not in table:
        return None
    if method != "POST":
        raise ConfigError(f'{where}.body: only with method = "POST" (the body is sent as JSON)')
    try:
        text = json.dumps(table["body"], separators=(",", ":"), default=_iso, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.body: cannot be sent as JSON: {exc}") from None
    return text.encode()


def _iso(value: object) -> str:
    if isinstance(value, dt.date | dt.time):  # TOML dates and times
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _tls(where: str, table: Mapping[str, Any], url: str) -> TlsSettings:
    verify = table.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigError(f"{where}.verify: must be true or false, got {verify!r}")
    files = {key: _file(where, table, key) for key in ("ca_file", "cert_file", "key_file")}
    if (files["cert_file"] is None) != (files["key_file"] is None):
        missing = "key_file" if files["key_file"] is None else "cert_file"
        raise ConfigError(f"{where}.{missing}: cert_file and key_file go together")
    if not verify and files["ca_file"] is not None:
        raise ConfigError(f"{where}.ca_file: has no use with verify = false")
    given = [key for key in ("ca_file", "cert_file") if key in table] + ["verify"] * (not verify)
    if given and url.startswith("http://") and not table.get("follow_redirects"):
        raise ConfigError(f"{where}.{given[0]}: TLS settings need an https:// url")
    tls = TlsSettings(verify, files["ca_file"], files["cert_file"], files["key_file"])
    try:
        tls.check()  # load every file now: a broken one stops start-up
    except TlsFileError as exc:
        raise ConfigError(f"{where}.{exc.key}: {exc.reason}") from None
    return tls


def _file(where: str, table: Mapping[str, Any], key: str) -> str | None:
    path = table.get(key)
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{where}.{key}: must be a file path (a non-empty string)")
    if not os.path.isfile(path):
        raise ConfigError(f"{where}.{key}: no such file: {path}")
    return path


def _count(
    where: str, table: Mapping[str, Any], key: str, minimum: int, default: int | None
) -> int | None:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}.{key}: must be a whole number >= {minimum}, got {value!r}")
    return value
