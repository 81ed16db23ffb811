"""The service's own ``FANOUT_*`` settings (limits, data directory, demo upstream, proxies).

The extension's settings are :class:`flask_fanout.Settings`; both are read from
the same merged values (see ``loader.py``) and both are known top-level keys of
the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from flask_fanout import Settings
from flask_fanout.settings import parse_int, read_setting

from ..primes import PrimeLimits


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of the service itself (the extension's are :class:`Settings`)."""

    file_max_bytes: int = 1 << 20
    """FANOUT_FILE_MAX_BYTES: a file source larger than this is an error."""
    http_max_bytes: int = 4 << 20
    """FANOUT_HTTP_MAX_BYTES: an HTTP answer larger than this is an error."""
    sql_max_rows: int = 1000
    """FANOUT_SQL_MAX_ROWS: rows a sql source may return."""
    max_body_bytes: int = 4 << 20
    """FANOUT_MAX_BODY_BYTES: largest request body accepted (413 above it)."""
    prime_max_numbers: int = PrimeLimits().max_numbers
    """FANOUT_PRIME_MAX_NUMBERS: numbers per primality request."""
    prime_max_digits: int = PrimeLimits().max_digits
    """FANOUT_PRIME_MAX_DIGITS: decimal digits per number."""
    prime_max_total_digits: int = PrimeLimits().max_total_digits
    """FANOUT_PRIME_MAX_TOTAL_DIGITS: decimal digits per request."""
    data_dir: str = ""
    """FANOUT_DATA_DIR: where the embedded default database lives."""
    upstream_url: str = "http://127.0.0.1:8001"
    """FANOUT_UPSTREAM_URL: the demo upstream called by the default ``api`` source."""
    proxy_hops: int = field(default=0, metadata={"minimum": 0})
    """FANOUT_PROXY_HOPS: reverse proxies in front whose X-Forwarded-* headers are trusted."""

    @property
    def prime_limits(self) -> PrimeLimits:
        return PrimeLimits(
            max_numbers=self.prime_max_numbers,
            max_digits=self.prime_max_digits,
            max_total_digits=self.prime_max_total_digits,
        )


def setting_keys() -> set[str]:
    """Every ``FANOUT_*`` setting, the extension's and the service's."""
    return {f"FANOUT_{f.name.upper()}" for cls in (Settings, ServiceSettings) for f in fields(cls)}


def service_settings(values: Mapping[str, Any]) -> ServiceSettings:
    """The service's settings from the merged ``FANOUT_*`` values, each checked."""
    defaults = ServiceSettings()
    parsed: dict[str, Any] = {}
    for f in fields(ServiceSettings):
        key, default = f"FANOUT_{f.name.upper()}", getattr(defaults, f.name)
        parse = parse_int(f.metadata.get("minimum", 1)) if isinstance(default, int) else str
        parsed[f.name] = read_setting(values, key, parse, default)
    return ServiceSettings(**parsed)
