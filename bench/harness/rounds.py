"""Contenders taking turns, round by round, and the statistics of their times.

Within a round every contender runs once, in an order rotating by round, so load
from elsewhere on the machine hits them alike; ratios compare runs of the same
rounds. Before each round the machine gets a chance to go quiet, and the cores
other programs used are recorded per round and per run.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.meter import CpuMeter
from harness.quiet import wait_for_quiet

T = TypeVar("T")
QUIET_CORES = 0.3  # other programs under this many cores: a quiet round
MIN_METERED_RUN = 0.5  # seconds; shorter runs are not judged quiet or not on their own


def timed(call: Callable[[], T]) -> tuple[float, T]:
    """Wall seconds of one call (after a garbage collection), and its result."""
    gc.collect()
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def percentile(values: Sequence[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


@dataclass
class Rounds:
    """Seconds per contender per round, and the load from other programs in each round."""

    times: dict[str, list[float]]
    others: list[float]  # mean cores busy outside this benchmark's process tree, per round
    run_others: dict[str, list[float]]  # the same during each run
    meters: dict[str, CpuMeter]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def quiet(self) -> list[int]:
        """Rounds during which other programs kept fewer than QUIET_CORES cores busy.

        Over the whole round, and during each run long enough to tell (CPU times
        tick in 10 ms steps, so a run of a few ms cannot say).
        """
        return [
            i
            for i, others in enumerate(self.others)
            if others < QUIET_CORES
            and all(
                self.run_others[name][i] < QUIET_CORES
                for name in self.times
                if self.times[name][i] >= MIN_METERED_RUN
            )
        ]

    def ratio(self, name: str, base: str) -> float:
        """Median over rounds of this round's ``name`` time / its ``base`` time."""
        pairs = zip(self.times[name], self.times[base], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def ratio_of_medians(self, name: str, base: str) -> float:
        return self.median(name) / self.median(base)

    def subset(self, rounds: Sequence[int]) -> Rounds:
        """These rounds only (the CPU meters stay those of all rounds)."""
        return Rounds(
            times={name: [t[i] for i in rounds] for name, t in self.times.items()},
            others=[self.others[i] for i in rounds],
            run_others={name: [o[i] for i in rounds] for name, o in self.run_others.items()},
            meters=self.meters,
        )


def interleave(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    check: Callable[[str, object], None],
    quiet_wait: float,
    watch: dict[str, Callable[[], list[int]]] | None = None,
) -> Rounds:
    """Run every contender once per round, in an order rotating by round.

    Before each round, wait up to ``quiet_wait`` s for load from elsewhere to pass.
    Around each run (outside its timing), account for CPU: the processes ``watch``
    names for that contender, this benchmark's processes, other programs; and the
    same for the round as a whole. ``check`` sees every result.
    """
    names = list(contenders)
    watch = watch or {}
    out = Rounds(
        times={name: [] for name in names},
        others=[],
        run_others={name: [] for name in names},
        meters={name: CpuMeter(watch.get(name, list)) for name in names},
    )
    for round_ in range(rounds):
        if quiet_wait > 0:
            busy = wait_for_quiet(quiet_wait, QUIET_CORES).other_cores
            if busy >= QUIET_CORES:
                print(f"  (starting round {round_ + 1} on a busy machine: {busy:.2f} cores busy)")
        shift = round_ % len(names)
        whole = CpuMeter()
        round_snap = whole.start()
        for name in names[shift:] + names[:shift]:
            snap = out.meters[name].start()
            seconds, result = timed(contenders[name])
            out.run_others[name].append(out.meters[name].stop(snap, seconds))
            out.times[name].append(seconds)
            check(name, result)
        whole.stop(round_snap, sum(out.times[name][-1] for name in names))
        out.others.append(whole.cores()[2])
        print(f"  round {round_ + 1}/{rounds}: {round_line(out, names)}", flush=True)
    return out


def round_line(out: Rounds, names: list[str]) -> str:
    """The last round's times, with other programs' cores during each run long enough."""
    parts = []
    for name in names:
        seconds, others = out.times[name][-1], out.run_others[name][-1]
        during = f" (others {others:.2f})" if seconds >= MIN_METERED_RUN else ""
        parts.append(f"{name} {seconds:.3f} s{during}")
    return ", ".join(parts) + f"; other programs over the round {out.others[-1]:.2f} cores"
