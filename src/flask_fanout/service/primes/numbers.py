"""Parsing of requested numbers, with the limits that bound a request's work.

Numbers are parsed and printed with :class:`gmpy2.mpz`, never ``int(str)``:
Python's 4300-digit int/str conversion limit must not turn a long number into
a 500, and digit limits are checked before any conversion so that the work a
request can cause is bounded up front.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from gmpy2 import mpz


@dataclass(frozen=True)
class PrimeLimits:
    """Per-request limits, so that one request cannot buy unbounded CPU or memory.

    Digits are significant digits (leading zeros and the sign do not count).
    The defaults accept 10,000 numbers of 20 digits or 500 of 2,000 digits.
    """

    max_numbers: int = 10_000
    max_digits: int = 5_000
    max_total_digits: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("max_numbers", "max_digits", "max_total_digits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PrimeLimits.{name} must be a positive integer, got {value!r}")


class Parsed(NamedTuple):
    """One requested number: its canonical decimal ``key`` and its ``value``."""

    key: str
    value: mpz


class ParsedNumbers(list[Parsed]):
    """The parsed numbers in input order, and ``digits``: the most significant
    digits of any of them, counted with the limits, so that the cost model needs
    no pass over the numbers of its own (:func:`~.primality.batch_cost`)."""

    digits: int = 0


class PrimeInputError(ValueError):
    """Bad or oversized input, with everything needed for a JSON error response.

    ``status`` is 400 for input that is not what the API accepts and 413 for
    input over a limit. 413 (Content Too Large) rather than 422: the input is
    well formed, there is just more of it than this server will process, and
    a smaller request would succeed; it is used for GET (numbers in the path)
    and POST alike so that clients handle one status for "split your batch".
    """

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": code, "message": ..., **details}``."""
        return {"error": self.code, "message": self.message, **self.details}


# ASCII digits only: str.isdigit() and \d accept other scripts' digits, which
# mpz would reject or misread. fullmatch, so a trailing newline never passes.
_TOKEN = re.compile(r"[+-]?[0-9]+", re.ASCII)
_MAX_LISTED = 20  # bad items named in an error; keeps the error itself small
_MAX_SHOWN = 40  # characters shown of each bad item


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _canonical(token: str) -> str | None:
    """The normalized decimal form of a token ("+007" -> "7", "-0" -> "0"), or None."""
    if _TOKEN.fullmatch(token) is None:
        return None
    digits = token.lstrip("+-").lstrip("0") or "0"
    return "-" + digits if token[0] == "-" and digits != "0" else digits


def _check_count(count: int, limits: PrimeLimits) -> None:
    if count > limits.max_numbers:
        raise PrimeInputError(
            413,
            "too_many_numbers",
            f"Too many numbers: {count} given, at most {limits.max_numbers} per request.",
            {"limit": limits.max_numbers, "count": count},
        )


def _invalid(invalid: list[Any], what: str) -> PrimeInputError:
    return PrimeInputError(
        400,
        "invalid_number",
        f"{len(invalid)} {what} not a base-10 integer"
        " (ASCII digits with an optional + or - sign, e.g. 17 or -0042).",
        {"invalid": invalid[:_MAX_LISTED], "invalid_count": len(invalid)},
    )


def _convert(keys: list[str], limits: PrimeLimits) -> ParsedNumbers:
    """Enforce the digit limits, then (and only then) build the mpz values."""
    too_long: list[dict[str, int]] = []
    total = most = 0
    for index, key in enumerate(keys):
        digits = len(key) - (key[0] == "-")
        total += digits
        if digits > most:
            most = digits
        if digits > limits.max_digits:
            too_long.append({"index": index, "digits": digits})
    if too_long:
        raise PrimeInputError(
            413,
            "number_too_long",
            f"{len(too_long)} number(s) have more than {limits.max_digits} digits.",
            {"limit": limits.max_digits, "numbers": too_long[:_MAX_LISTED]},
        )
    if total > limits.max_total_digits:
        raise PrimeInputError(
            413,
            "too_many_digits",
            f"Too many digits in total: {total} given,"
            f" at most {limits.max_total_digits} per request.",
            {"limit": limits.max_total_digits, "digits": total},
        )
    parsed = ParsedNumbers(Parsed(key, mpz(key)) for key in keys)
    parsed.digits = most
    return parsed


def parse_path_numbers(text: str, limits: PrimeLimits) -> ParsedNumbers:
    """Parse ``GET /is_prime/<text>``: comma-separated base-10 integers, in order.

    Raises :class:`PrimeInputError` naming every bad token (an empty element
    from ``1,,2`` or a trailing comma is a bad token).
    """
    # Count first: a huge list is refused before any per-token work.
    _check_count(text.count(",") + 1, limits)
    keys: list[str] = []
    invalid: list[str] = []
    for token in text.split(","):
        key = _canonical(token)
        if key is None:
            invalid.append(_clip(token))
        else:
            keys.append(key)
    if invalid:
        raise _invalid(invalid, "token(s) are")
    return _convert(keys, limits)


class _NotInteger(str):
    """Source text of a JSON float or NaN/Infinity, kept to name it in errors."""


def _describe(item: object) -> str:
    """A short JSON-like rendering of a bad element, cheap even for huge ones."""
    if isinstance(item, _NotInteger):
        return _clip(str(item))
    if isinstance(item, str):
        return _clip(json.dumps(item))
    if isinstance(item, list):
        return "[...]"
    if isinstance(item, dict):
        return "{...}"
    return json.dumps(item)  # true, false, null


def parse_json_numbers(body: bytes | str, limits: PrimeLimits) -> ParsedNumbers:
    """Parse ``POST /is_prime``: ``{"numbers": [...]}`` of JSON integers or decimal strings.

    Input order and duplicates are kept. JSON integers reach us as their
    source text (``parse_int``) so no digit count goes through ``int()``;
    floats (``1.5``, ``1e3``, ``2.0``), booleans, null and containers are
    rejected by index.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PrimeInputError(
                400,
                "invalid_json",
                f"The request body is not valid UTF-8 (byte {exc.start}).",
            ) from None
    try:
        document = json.loads(
            body, parse_int=str, parse_float=_NotInteger, parse_constant=_NotInteger
        )
    except json.JSONDecodeError as exc:
        raise PrimeInputError(
            400,
            "invalid_json",
            f"The request body is not valid JSON: {exc.msg}"
            f" (line {exc.lineno}, column {exc.colno}).",
        ) from None
    except RecursionError:  # absurdly deep nesting
        raise PrimeInputError(
            400, "invalid_json", "The request body is nested too deeply."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("numbers"), list):
        raise PrimeInputError(
            400,
            "invalid_body",
            'The request body must be a JSON object with a "numbers" list,'
            ' e.g. {"numbers": [2, "3"]}.',
        )
    items: list[object] = document["numbers"]
    _check_count(len(items), limits)
    keys: list[str] = []
    invalid: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        key = (
            _canonical(item)
            if isinstance(item, str) and not isinstance(item, _NotInteger)
            else None
        )
        if key is None:
            invalid.append({"index": index, "value": _describe(item)})
        else:
            keys.append(key)
    if invalid:
        raise _invalid(invalid, "element(s) of numbers are")
    return _convert(keys, limits)
