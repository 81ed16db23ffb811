"""Where the CPU went while contenders ran: their processes, the rest of ours, others.

CPU times come from /proc and tick in 10 ms steps, so a run of a few ms says little on
its own; a meter sums a contender's runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.proctree import cpu_seconds, machine_busy_seconds, tree_cpu_seconds

CORES = os.cpu_count() or 1


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds so far of each process (0 for one that is gone)."""
    return {pid: cpu_seconds(pid) for pid in pids}


@dataclass(frozen=True)
class Snapshot:
    """The counters a meter reads before a run."""

    pids: list[int]
    cpu: dict[int, float]
    tree: float
    machine: float


@dataclass
class CpuMeter:
    """CPU spent while a contender's timed runs ran, summed over its runs.

    ``pids`` gives processes to account for one by one (a pool's workers); ``tree``
    is this benchmark's own processes (this one, its pools, its servers and theirs);
    whatever else the machine did meanwhile is other programs (the machine is shared).
    """

    pids: Callable[[], list[int]] = list
    cpu: dict[int, float] = field(default_factory=dict)
    tree: float = 0.0
    machine: float = 0.0
    wall: float = 0.0

    def start(self) -> Snapshot:
        pids = self.pids()
        return Snapshot(pids, cpu_by_pid(pids), tree_cpu_seconds(), machine_busy_seconds())

    def stop(self, snap: Snapshot, seconds: float) -> float:
        """Add one run of ``seconds``; return the cores other programs kept busy during it."""
        machine = machine_busy_seconds() - snap.machine
        tree = tree_cpu_seconds() - snap.tree
        for pid, cpu in cpu_by_pid(snap.pids).items():
            self.cpu[pid] = self.cpu.get(pid, 0.0) + cpu - snap.cpu[pid]
        self.machine += machine
        self.tree += tree
        self.wall += seconds
        return min(CORES, max(0.0, machine - tree) / seconds) if seconds > 0 else 0.0

    def cores(self) -> tuple[float, float, float]:
        """Mean cores busy: (``pids``, the rest of this benchmark, other programs)."""
        if not self.wall:
            return 0.0, 0.0, 0.0
        procs = sum(self.cpu.values())
        others = min(CORES, max(0.0, self.machine - self.tree) / self.wall)
        return procs / self.wall, max(0.0, self.tree - procs) / self.wall, others
