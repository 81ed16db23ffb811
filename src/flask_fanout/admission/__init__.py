"""Admission control: a bounded number of requests in flight per worker.

:mod:`.gate` counts; :mod:`.limit` adapts the bound to the latency it causes;
:mod:`.middleware` turns requests away, before Flask sees them.
"""

from .gate import Admission
from .limit import GradientLimit, GradientParams, set_queue_delay_probe
from .middleware import ROUTE_KEY, AdmissionMiddleware, exempt_paths_of

__all__ = [
    "ROUTE_KEY",
    "Admission",
    "AdmissionMiddleware",
    "GradientLimit",
    "GradientParams",
    "exempt_paths_of",
    "set_queue_delay_probe",
]
