"""Validation shared by the policy settings: a bad value names its field."""

from __future__ import annotations

from ..settings import ConfigError


def number(owner: str, field: str, value: object, *, minimum: float, strict: bool) -> float:
    """``value`` as a float of at least (or, ``strict``, more than) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{owner}.{field}: must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ConfigError(f"{owner}.{field}: must be {bound}, got {value!r}")
    return float(value)


def integer(owner: str, field: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{field}: must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{owner}.{field}: must be >= {minimum}, got {value!r}")
    return value


def fraction(owner: str, field: str, value: object) -> float:
    """A rate in (0, 1]."""
    rate = number(owner, field, value, minimum=0.0, strict=True)
    if rate > 1:
        raise ConfigError(f"{owner}.{field}: must be at most 1, got {value!r}")
    return rate


def codes(owner: str, field: str, value: object) -> frozenset[str]:
    """A set of error codes (``["unavailable", "timeout"]``)."""
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else None
    if items is None or not all(isinstance(code, str) and code for code in items):
        raise ConfigError(f"{owner}.{field}: must be a list of error codes, got {value!r}")
    return frozenset(items)
