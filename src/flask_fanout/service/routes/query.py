"""Declared query-string parameters, parsed strictly: a bad one is a JSON 400.

Only declared parameters are read (others are ignored, as caches and browsers add
their own). An ``int`` is ASCII digits with an optional ``-``, within a signed
64-bit value; a ``float`` is ASCII ``[-]digits[.digits]``, at most 40 digits on
each side (always finite: no ``nan``, no ``inf``, no exponent); a ``string`` is
taken as sent. A parameter given twice is ambiguous: 400 too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import Response
from werkzeug.datastructures import MultiDict

from flask_fanout import json_error

from ..config import INT_MAX, QueryParam

_INT = re.compile(r"-?[0-9]{1,19}")
_FLOAT = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")
_EXPECTED = {
    "int": f"an integer (ASCII digits, optional '-', at most {INT_MAX} in size)",
    "float": "a decimal number such as 1.5 (ASCII digits, optional '-' and '.')",
    "string": "a string",
}


class ParameterError(Exception):
    """A declared query parameter is missing or malformed: a 400 naming it."""

    def __init__(self, code: str, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    def response(self) -> Response:
        return json_error(400, self.code, self.message, parameter=self.name)


def parse_query(
    declared: Mapping[str, QueryParam], args: MultiDict[str, str]
) -> dict[str, int | float | str]:
    """The declared parameters' values, typed, defaults filled in."""
    values: dict[str, int | float | str] = {}
    for name, param in declared.items():
        given = args.getlist(name)
        if not given:
            if param.default is None:
                raise ParameterError(
                    "missing_parameter", name, f"query parameter {name!r} is required"
                )
            values[name] = param.default
            continue
        if len(given) > 1:
            raise ParameterError(
                "invalid_parameter", name, f"query parameter {name!r} is given more than once"
            )
        values[name] = _typed(param, given[0])
    return values


def _typed(param: QueryParam, text: str) -> int | float | str:
    if param.type == "string":
        return text
    pattern = _INT if param.type == "int" else _FLOAT
    if pattern.fullmatch(text):
        number = int(text) if param.type == "int" else float(text)
        if abs(number) <= INT_MAX or param.type == "float":
            return number
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise ParameterError(
        "invalid_parameter",
        param.name,
        f"query parameter {param.name!r} must be {_EXPECTED[param.type]}, got {shown!r}",
    )


def schema(param: QueryParam) -> dict[str, object]:
    """The OpenAPI schema of ``param``'s values, as this module accepts them."""
    result: dict[str, object]
    if param.type == "int":
        result = {"type": "integer", "minimum": -INT_MAX, "maximum": INT_MAX}
    elif param.type == "float":
        result = {"type": "string", "format": "decimal", "pattern": f"^{_FLOAT.pattern}$"}
    else:
        result = {"type": "string"}
    if param.default is not None:
        result["default"] = str(param.default) if param.type == "float" else param.default
    return result
