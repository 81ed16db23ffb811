"""The ``file`` source: a text file read whole, off the event loop."""

from __future__ import annotations

from dataclasses import dataclass

from flask_fanout import CallError, run_blocking

from .base import NO_PARAMS, Params


@dataclass
class FileSource:
    """A text file, read whole; a file over ``max_bytes`` is an error, not a slow answer."""

    name: str
    path: str
    max_bytes: int
    timeout: float | None = None
    parameters: frozenset[str] = frozenset()

    def read(self, timeout: float, params: Params = NO_PARAMS) -> str:
        try:
            data = run_blocking(self._read_bytes)
        except FileNotFoundError:
            raise CallError("unavailable", f"file not found: {self.path}") from None
        except OSError as exc:
            raise CallError("unavailable", f"cannot read {self.path}: {exc.strerror}") from None
        if len(data) > self.max_bytes:
            raise CallError("too_large", f"{self.path} is larger than {self.max_bytes} bytes")
        return data.decode("utf-8", errors="replace")

    def _read_bytes(self) -> bytes:
        with open(self.path, "rb") as handle:
            return handle.read(self.max_bytes + 1)
