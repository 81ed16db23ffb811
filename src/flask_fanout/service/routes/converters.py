"""The ``int`` and ``float`` URL converters of the service: ASCII digits, bounded values.

Werkzeug's own match ``\\d``, which is any Unicode digit: ``/users/١٢٣`` would be
user 123. Here only ``0-9`` match, an ``int`` is at most 2**63 - 1 (19 digits, so
no huge number is ever converted) and a ``float`` has at most 40 digits on each
side of its point (so it is always finite: no ``nan``, no ``inf``). Anything
else does not match the route: a JSON 404, like any other unknown path.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import FloatConverter, IntegerConverter, ValidationError

from ..config import INT_MAX


class AsciiIntConverter(IntegerConverter):
    """``<int:name>``: ASCII digits, at most 2**63 - 1."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if not -INT_MAX <= number <= INT_MAX:
            raise ValidationError()
        return number


class AsciiFloatConverter(FloatConverter):
    """``<float:name>``: ASCII digits, a point, ASCII digits (as Werkzeug's: ``1.5``, not ``1``)."""

    regex = r"[0-9]{1,40}\.[0-9]{1,40}"


CONVERTERS = {"int": AsciiIntConverter, "float": AsciiFloatConverter}
"""What the service's URL map uses instead of Werkzeug's ``int`` and ``float``."""
