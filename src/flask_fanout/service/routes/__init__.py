"""The service's HTTP routes, one blueprint per module."""

from __future__ import annotations

from .aggregate import aggregate
from .operations import operations

__all__ = ["aggregate", "operations"]
