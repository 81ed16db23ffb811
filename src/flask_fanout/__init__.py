"""flask-fanout: concurrent I/O fan-out and CPU offload for Flask.

Public API: :class:`Fanout`, :func:`gather`, :func:`cpu_map`, :func:`metrics_response`,
the call policies (:class:`Policy` and its parts, :func:`breaker_states`) and the
types they return or raise. Everything else is private.
"""

from .blocking import run_blocking
from .cpu import CpuError, CpuTimeout, CpuUnavailable
from .errors import json_error
from .extension import Fanout, breaker_states, cpu_map
from .gather import gather
from .metrics import metrics_response
from .outcome import CallError, Outcome
from .policies import Breaker, Bulkhead, Cache, Hedge, Policy, Retry
from .settings import ConfigError, Settings

__all__ = [
    "Breaker",
    "Bulkhead",
    "Cache",
    "CallError",
    "ConfigError",
    "CpuError",
    "CpuTimeout",
    "CpuUnavailable",
    "Fanout",
    "Hedge",
    "Outcome",
    "Policy",
    "Retry",
    "Settings",
    "breaker_states",
    "cpu_map",
    "gather",
    "json_error",
    "metrics_response",
    "run_blocking",
]
