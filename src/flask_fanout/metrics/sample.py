"""What the extension reports to the metrics at each flush: one :class:`Sample` per app.

The metrics never look inside the extension's state: ``Fanout`` hands
:func:`~flask_fanout.metrics.install` a function returning a ``Sample``, so the
arrow goes one way (extension -> metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """Gauges and running totals of one app in this process, read at a flush."""

    requests_in_flight: int = 0
    admission_limit: int = 0
    admission_latency: float = 0.0
    """Seconds: the latency the adaptive controller last saw (0 when static)."""
    admission_baseline: float = 0.0
    """Seconds: the no-load latency it compared with (0 when static)."""
    io_running: int = 0
    io_queued: int = 0
    io_size: int = 0
    cpu_in_flight: int = 0
    cpu_queued: int = 0
    totals: Mapping[str, int] = field(default_factory=dict)
    """Counters that only grow (until a reset): the flusher adds their growth.

    Keys: ``rejected``, ``chunks_submitted_total``, ``batches_inline_total``,
    ``batches_pooled_total``, ``timeouts_total``, ``unavailable_total``.
    """
    policies: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Per call name, the state of its policy: gauges (``breaker_state``,
    ``bulkhead_in_use``, ``retry_budget``, ``hedge_budget``) and totals (the keys
    ending in ``_total``), as ``PolicyState.stats`` makes them."""
