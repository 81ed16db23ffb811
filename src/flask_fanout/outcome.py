"""What a call returns through ``gather``: an :class:`Outcome`, or the :class:`CallError` it raised.

Its own module so that ``gather`` (which makes outcomes) and the metrics (which
count them) both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


FLAGS = frozenset({"cached", "stale", "shared", "retried", "hedged"})
"""What a call's policies did (:mod:`flask_fanout.policies`), in :attr:`Outcome.flags`."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one call: a value or an error, how long it took, what the policies did."""

    name: str
    value: T | None = None
    error: CallError | None = None
    elapsed: float = 0.0
    """Seconds from submission to completion (or to giving up on it)."""
    flags: frozenset[str] = field(default=frozenset())
    """Any of :data:`FLAGS`: ``cached`` (a fresh cached value, no call made), ``stale``
    (the last good value, standing in for a failure), ``shared`` (the answer of an
    identical call in flight), ``retried`` (more than one attempt), ``hedged`` (a
    second attempt was sent while the first was slow)."""
    age: float | None = None
    """For ``cached`` and ``stale`` values: seconds since the value was fetched."""
    cause: CallError | None = None
    """For a ``stale`` value: the failure it stands in for."""
    attempts: int = 1
    """Attempts made for this call (retries and hedges included; 0 when none was made)."""

    @property
    def stale(self) -> bool:
        return "stale" in self.flags

    @property
    def cached(self) -> bool:
        return "cached" in self.flags

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> str:
        """``ok``, or the error's code: what metrics and access lines record."""
        return "ok" if self.error is None else self.error.code
