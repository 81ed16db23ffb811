"""Memory and CPU of a process tree, read from /proc (Linux only, no dependencies).

A server under test is often several processes (gunicorn's arbiter and its workers,
uvicorn's supervisor and its workers), so every figure here covers a process and all
of its live descendants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class TreeSample:
    """One reading of a process tree."""

    pids: tuple[int, ...]
    rss_bytes: int
    cpu_seconds: float

    @property
    def rss_mb(self) -> float:
        return self.rss_bytes / 2**20


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    return raw[raw.rfind(")") + 2 :].split()


def _parents() -> dict[int, int]:
    """Map every live pid to its parent pid."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])
    return parents


def children(pid: int) -> list[int]:
    """The live direct children of ``pid``."""
    return [child for child, parent in _parents().items() if parent == pid]


def cmdline(pid: int) -> list[str]:
    """The command line of ``pid`` ([] for a process that is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return raw.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is gone for our purposes)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def descendants(root: int) -> list[int]:
    """``root`` and all of its live descendants, root first."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of one process (0 for one that is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime and stime are fields 14 and 15 of stat(5), i.e. 11 and 12 after the name.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def sample(root: int) -> TreeSample:
    """RSS (summed) and CPU time used so far (summed) by ``root`` and its descendants."""
    pids = tuple(pid for pid in descendants(root) if os.path.exists(f"/proc/{pid}"))
    return TreeSample(
        pids=pids,
        rss_bytes=sum(_rss_bytes(pid) for pid in pids),
        cpu_seconds=sum(cpu_seconds(pid) for pid in pids),
    )


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU seconds of ``root`` (default: this process) and its live descendants."""
    return sample(os.getpid() if root is None else root).cpu_seconds


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot.

    Steal time (the hypervisor ran someone else) counts as busy; guest time is already
    part of user time.
    """
    with open("/proc/stat", "rb") as stat:
        fields = stat.readline().split()[1:]
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    busy = sum(int(value) for i, value in enumerate(fields[:8]) if i not in (3, 4))
    return busy / _CLOCK_TICKS
