"""The ``sql`` source: ``source.py`` runs the query, ``engine.py`` keeps the engines
per process, ``guard.py`` bounds the rows and turns database errors into safe ones.
"""

from __future__ import annotations

from .engine import EngineCache, EngineSpec
from .source import SqlSource

__all__ = ["EngineCache", "EngineSpec", "SqlSource"]
