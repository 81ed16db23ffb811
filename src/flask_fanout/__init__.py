"""flask-fanout: concurrent I/O fan-out and CPU offload for Flask.

Public API: :class:`Fanout`, :func:`gather`, :func:`cpu_map`, :func:`metrics_response`
and the types they return or raise. Everything else is private.
"""

from .blocking import run_blocking
from .cpu import CpuError, CpuTimeout, CpuUnavailable
from .errors import json_error
from .extension import Fanout, cpu_map
from .gather import gather
from .metrics import metrics_response
from .outcome import CallError, Outcome
from .settings import ConfigError, Settings

__all__ = [
    "CallError",
    "ConfigError",
    "CpuError",
    "CpuTimeout",
    "CpuUnavailable",
    "Fanout",
    "Outcome",
    "Settings",
    "cpu_map",
    "gather",
    "json_error",
    "metrics_response",
    "run_blocking",
]
