"""Part 3's exact measure: the instructions ours spends beyond the batch function inline.

Times of two contenders doing the same few ms of work differ by +-1-2 % from round
to round on this machine, which hides an overhead of a fraction of a percent.
``valgrind --tool=callgrind`` counts instructions instead: the same count for the
same program and inputs, whatever else the machine does. Each count runs this
module under callgrind with a fixed hash seed and no address randomization
(``setarch -R``; with it, two runs of the same child count the same to the
instruction, without it they differed by ~0.2 %): ``calls`` calls of ``ours`` or
``inline`` after the same warm-up. The difference between ``calls`` and 0 calls
is the calls' own count.

Under callgrind everything runs ~50x slower, which the pool's timing of a batch
would read as dear work (and send it to the workers). So the child gives the pool
a clock on which every timed run looks cheap, so that it plans this batch as a
native run does (inline), and checks that no batch went to the workers.
"""

from __future__ import annotations

import itertools
import os
import platform
import re
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


@dataclass(frozen=True)
class Instructions:
    """Instructions per call of each, and what ours spends beyond inline."""

    inline: int
    ours: int
    calls: int

    @property
    def overhead(self) -> float:
        """Ours' extra instructions, as a share of inline's."""
        return (self.ours - self.inline) / self.inline


def available() -> bool:
    return shutil.which("valgrind") is not None


def count_instructions(calls: int = 10) -> Instructions:
    """Per call of ours and of the batch function inline, on part 3's first workload."""
    counts = {mode: _collected(mode, calls) - _collected(mode, 0) for mode in ("ours", "inline")}
    return Instructions(counts["inline"] // calls, counts["ours"] // calls, calls)


def _collected(mode: str, calls: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(BENCH)}
    done = subprocess.run(
        [
            "setarch",
            platform.machine(),
            "--addr-no-randomize",
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "cpu_offload.instructions",
            mode,
            str(calls),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=BENCH,
        check=True,
        timeout=600,
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _child(mode: str, calls: int) -> None:
    from cpu_offload.small import workloads
    from flask_fanout.cpu import CpuPool, chunks

    ticks = itertools.count()
    chunks.time = types.SimpleNamespace(  # type: ignore[assignment]
        perf_counter=lambda: next(ticks) * 1e-7
    )
    work = workloads(10_000)[0]
    numbers = work.numbers
    pool = CpuPool("process", 2, timeout=30)
    # The warm-up, the same for both: each once.
    pool.map_batches(work.batch, numbers, work.cost(numbers))
    work.batch(numbers)
    for _ in range(calls):
        if mode == "ours":
            pool.map_batches(work.batch, numbers, work.cost(numbers))
        else:
            work.batch(numbers)
    stats = pool.stats()
    assert stats["batches_pooled_total"] == 0, stats


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
