"""Batch functions for tests/cpu/, importable by loky and Dask workers.

Each returns one result per item and records where and when it ran, so tests can
prove parallelism and placement by behaviour rather than by wall-clock speed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple


class Ran(NamedTuple):
    """Where and when one item of a spin batch ran."""

    label: str
    pid: int
    start: float
    end: float


def tag_batch(items: Sequence[int]) -> list[tuple[int, int]]:
    """Each item with the pid that handled it."""
    pid = os.getpid()
    return [(x, pid) for x in items]


def spin_batch(items: Sequence[tuple[str, float, str]]) -> list[Ran]:
    """Burn CPU for each ``(label, seconds, marker_dir)``; touch ``marker_dir/label`` first.

    The marker holds the worker's pid, so a test can see that an item started and
    which process runs it.
    """
    out = []
    for label, seconds, marker_dir in items:
        start = time.time()
        if marker_dir:  # written beside, then renamed: a reader never sees it empty
            written = Path(f"{marker_dir}.{label}.{os.getpid()}.tmp")
            written.write_text(str(os.getpid()))
            os.replace(written, Path(marker_dir, label))
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            pass
        out.append(Ran(label, os.getpid(), start, time.time()))
    return out


def spin_cost(item: tuple[str, float, str]) -> float:
    return item[1]


def fail_batch(items: Sequence[int]) -> list[int]:
    raise ValueError(f"bad chunk starting at {items[0]}")


def short_batch(items: Sequence[int]) -> list[int]:
    """A buggy batch function: one result too few."""
    return list(items[1:])


CALLS: list[int] = []
"""How many items each call of :func:`spin_each_batch` got, in this process."""


def spin_each_batch(items: Sequence[float]) -> list[int]:
    """Burn each item's seconds of CPU; the pid that did, per item."""
    CALLS.append(len(items))
    pid = os.getpid()
    out = []
    for seconds in items:
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            pass
        out.append(pid)
    return out
