"""CPU work behind the ``concurrent.futures.Executor`` interface.

A view hands :meth:`CpuPool.map_batches` a batch function, the items and a cost
estimate per item. Cheap batches run inline (an inter-process round trip costs
about 0.5 ms, more than a handful of small numbers); costly ones are split into
contiguous chunks of balanced cost and sent to one of three backends:

- ``"process"`` (:mod:`.process`): a loky process pool, created on first use in
  the process that uses it (never before gunicorn forks) and rebuilt after a
  worker dies;
- ``"dask"`` (:mod:`.dask_backend`): a Dask distributed cluster through
  ``Client.get_executor()``;
- ``"inline"`` (:mod:`.inline`): for tests and tiny deployments.

Failures become two exceptions the routes map to HTTP: :class:`CpuTimeout` (504)
and :class:`CpuUnavailable` (503). Nothing here imports Flask.
"""

from .chunks import CHUNKS_PER_WORKER, DEFAULT_INLINE_COST, Cost, split_balanced
from .errors import CpuError, CpuTimeout, CpuUnavailable
from .inline import InlineExecutor
from .pool import BackendName, CpuPool

__all__ = [
    "CHUNKS_PER_WORKER",
    "DEFAULT_INLINE_COST",
    "BackendName",
    "Cost",
    "CpuError",
    "CpuPool",
    "CpuTimeout",
    "CpuUnavailable",
    "InlineExecutor",
    "split_balanced",
]
