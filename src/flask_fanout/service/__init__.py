"""The flask-fanout service, built on the extension's public API.

``create_app`` imports the app lazily: ``fanout serve`` validates the
configuration in gunicorn's master process, which should load as little as
possible before the gevent workers monkey-patch the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service; ``config`` overrides ``FANOUT_*`` settings from file and environment."""
    from .app import create_app as build

    return build(config)


__all__ = ["create_app"]
