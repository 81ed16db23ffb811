"""JSON error answers: ``{"error": code, "message": sentence, ...details}``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def json_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **details: Any
) -> Response:
    """A JSON error response; clients branch on ``error``, people read ``message``."""
    response = jsonify({"error": code, "message": message, **details})
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response
