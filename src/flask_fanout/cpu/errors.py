"""The CPU errors a view maps to HTTP: :class:`CpuTimeout` (504), :class:`CpuUnavailable` (503)."""

from __future__ import annotations

from typing import ClassVar


class CpuError(Exception):
    """Base of the CPU errors; ``code`` is the machine code for a JSON error."""

    code: ClassVar[str] = "cpu_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CpuTimeout(CpuError):
    """The work did not finish before its deadline (answer 504)."""

    code = "cpu_timeout"


class CpuUnavailable(CpuError):
    """A worker died, the pool is shut down or the cluster is unreachable (answer 503)."""

    code = "cpu_unavailable"


SHUT_DOWN = "the CPU pool is shut down"
