"""The service plus two failing views, served by ``fanout serve --app`` in the security tests."""

from __future__ import annotations

from flask import Flask, request

from flask_fanout.service import create_app

SECRET = "secret-detail-8d1f"


def create() -> Flask:
    """``tests.faults.boom_app:create()``: built in the gunicorn worker, not at import."""
    app = create_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"an unexpected failure: {SECRET}")

    @app.get("/missing-arg")
    def missing_arg() -> str:
        return request.args["never-sent"]

    return app
