"""What a call returns through ``gather``: an :class:`Outcome`, or the :class:`CallError` it raised.

Its own module so that ``gather`` (which makes outcomes) and the metrics (which
count them) both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class CallError(Exception):
    """A call failed in a way its caller can name: raise it from a call.

    ``code`` is machine-readable (``timeout``, ``unavailable``, ``bad_response``,
    ...); ``message`` is a sentence for a human.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"CallError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one call: a value or an error, and how long it took."""

    name: str
    value: T | None = None
    error: CallError | None = None
    elapsed: float = 0.0
    """Seconds from submission to completion (or to giving up on it)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> str:
        """``ok``, or the error's code: what metrics and access lines record."""
        return "ok" if self.error is None else self.error.code
