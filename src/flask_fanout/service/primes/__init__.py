"""Primality for ``/is_prime``: parsing and limits, the exact test, and the routes."""

from __future__ import annotations

from .numbers import (
    Parsed,
    ParsedNumbers,
    PrimeInputError,
    PrimeLimits,
    parse_json_numbers,
    parse_path_numbers,
)
from .primality import Integer, batch_cost, is_prime, is_prime_batch, prime_cost

__all__ = [
    "Integer",
    "Parsed",
    "ParsedNumbers",
    "PrimeInputError",
    "PrimeLimits",
    "batch_cost",
    "is_prime",
    "is_prime_batch",
    "parse_json_numbers",
    "parse_path_numbers",
    "prime_cost",
]
