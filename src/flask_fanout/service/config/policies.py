"""A source's call policies in the TOML file: ``[sources.NAME.breaker]`` and the others.

Each table maps to one part of :class:`flask_fanout.Policy` with the same field
names (``[sources.api.cache] ttl = 1.0`` is ``Cache(ttl=1.0)``), plus
``single_flight = true`` on the source itself. Checked at start-up: an unknown
key or a bad value stops the service with an error naming
``sources.NAME.TABLE.KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from flask_fanout import Breaker, Bulkhead, Cache, ConfigError, Hedge, Policy, Retry

from .tables import reject_unknown_keys

_PARTS: dict[str, type[Any]] = {
    "breaker": Breaker,
    "bulkhead": Bulkhead,
    "retry": Retry,
    "hedge": Hedge,
    "cache": Cache,
}
POLICY_KEYS = frozenset({*_PARTS, "single_flight"})
"""Keys of a ``[sources.NAME]`` table that belong to its policy, whatever its type."""


def source_policy(where: str, table: Mapping[str, Any]) -> Policy | None:
    """The policy of the source table at ``where`` (``sources.api``), or None without one."""
    parts: dict[str, Any] = {}
    for key, kind in _PARTS.items():
        if key not in table:
            continue
        options = table[key]
        if not isinstance(options, Mapping):
            raise ConfigError(f"{where}.{key}: must be a table ([{where}.{key}])")
        reject_unknown_keys(f"{where}.{key}", options, {f.name for f in fields(kind)})
        try:
            parts[key] = kind(**options)
        except ConfigError as exc:  # "cache.ttl: ..." -> "sources.api.cache.ttl: ..."
            raise ConfigError(f"{where}.{exc}") from None
    single_flight = table.get("single_flight", False)
    if not isinstance(single_flight, bool):
        raise ConfigError(f"{where}.single_flight: must be true or false, got {single_flight!r}")
    if not parts and not single_flight:
        return None
    return Policy(**parts, single_flight=single_flight)
