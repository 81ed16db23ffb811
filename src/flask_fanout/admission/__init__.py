"""Admission control: a bounded number of requests in flight per worker.

:mod:`.gate` counts; :mod:`.middleware` turns requests away, before Flask sees them.
"""

from .gate import Admission
from .middleware import AdmissionMiddleware, exempt_paths_of

__all__ = ["Admission", "AdmissionMiddleware", "exempt_paths_of"]
