"""Every error is JSON: never an HTML page, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from flask_fanout import json_error

log = logging.getLogger("flask_fanout.service")


def register_error_handlers(app: Flask) -> None:
    """Every error is JSON: never an HTML page, never a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = json_error(exc.code or 500, code, exc.description or exc.name)
        for header in ("Allow", "Retry-After"):
            if exc.get_response().headers.get(header):
                response.headers[header] = exc.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.exception("unhandled error")
        return json_error(500, "internal_error", "The server failed to answer this request.")
