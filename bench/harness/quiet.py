"""Is the machine quiet? The cores that programs outside this benchmark keep busy.

The machine is shared (2 cores): a run measured while someone else's benchmark runs
understates the contenders. Everything of ours is this process and its descendants
(servers, the upstream, pools), so "other programs" is the machine's busy time minus
this process tree's, over a window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.proctree import machine_busy_seconds, tree_cpu_seconds


@dataclass(frozen=True)
class Quiet:
    """What a wait for quiet found: the cores others kept busy, and how long it waited."""

    other_cores: float
    waited_s: float


def other_cores(window: float = 0.5) -> float:
    """Mean cores busy outside this process tree over the next ``window`` seconds."""
    busy, ours = machine_busy_seconds(), tree_cpu_seconds()
    time.sleep(window)
    others = (machine_busy_seconds() - busy) - (tree_cpu_seconds() - ours)
    return max(0.0, others) / window


def wait_for_quiet(max_wait: float, threshold: float, window: float = 0.5) -> Quiet:
    """Wait (up to ``max_wait`` s) until others keep fewer than ``threshold`` cores busy.

    Measures at least one window; past ``max_wait`` it returns anyway, with what it saw
    last, so the caller can mark the run as measured on a busy machine.
    """
    started = time.monotonic()
    while True:
        busy = other_cores(window)
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait:
            return Quiet(busy, waited)
