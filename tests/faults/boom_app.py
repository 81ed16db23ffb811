"""The service plus views that fail or answer unusually, served by ``fanout serve --app``.

The security tests use the failing views; the worker tests the streamed, large
and empty answers, and how the worker set up the garbage collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

from flask import Flask, Response, request

from flask_fanout.service import create_app

SECRET = "secret-detail-8d1f"
BIG_TENS = 800_000  # an 8 MB body: more than one send can take


def create() -> Flask:
    """``tests.faults.boom_app:create()``: built in the gunicorn worker, not at import."""
    app = create_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"an unexpected failure: {SECRET}")

    @app.get("/missing-arg")
    def missing_arg() -> str:
        return request.args["never-sent"]

    @app.get("/stream")
    def stream() -> Response:
        def pieces() -> Iterator[bytes]:
            for number in range(3):
                yield b"piece %d;" % number

        return Response(pieces(), mimetype="text/plain")

    @app.get("/big")
    def big() -> Response:
        return Response(b"0123456789" * BIG_TENS, mimetype="text/plain")

    @app.get("/gc")
    def garbage_collector() -> dict[str, object]:
        return {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}

    @app.get("/empty")
    def empty() -> tuple[str, int]:
        return "", 204

    return app
