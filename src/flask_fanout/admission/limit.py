"""The adaptive in-flight limit of one worker: a gradient controller on latency.

In the spirit of Netflix's concurrency-limits ``Gradient2Limit``. Past the
point where the CPU is saturated, admitting more requests only makes each one
slower (Little's law: latency = in flight / throughput), so the controller
compares the latency it sees now with the latency of the same work without
load, and shrinks the limit in proportion when the first outgrows the second:

    gradient  = clamp(tolerance * baseline / short, 0.5, 1.0)
    new_limit = limit * gradient + sqrt(limit)        # the queue allowance
    limit     = limit * (1 - smoothing) + new_limit * smoothing

- ``short``: the mean latency of the admitted requests that finished in the
  last window (at least ``window`` seconds and ``min_samples`` requests), plus
  the time new connections wait in the listen queue when the server reports it
  (:func:`set_queue_delay_probe`): a client's latency starts when it connects.
- ``baseline``: the no-load latency. It follows a low quantile (p10) of each
  window, falling fast and rising slowly, and it does not rise while requests
  are being turned away (unless the limit is down near its floor, below twice
  it: then the requests are slow for another reason, a slower source): under overload
  every request is slower, and a baseline that followed would let the latency
  creep up without end, which is the known weakness of a plain long average.
- The queue allowance lets the limit grow while latency is flat, faster from a
  larger limit; with the smoothing it also sets where the limit settles, at
  short / baseline = tolerance / (1 - 1 / sqrt(limit)).
- A limit that is not used (fewer than half of it in flight in a window) does
  not move: an idle worker must not arrive at a load spike with its ceiling,
  nor with a floor that noise in a few light requests' latencies talked it down to.

Everything here is arithmetic on the samples it is handed: tests drive it
without a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

GRADIENT_FLOOR = 0.5  # a window may at most halve the target (Gradient2's bound)


@dataclass(frozen=True)
class GradientParams:
    """How one controller behaves; the defaults and their reasons are in the README."""

    floor: int = 8
    ceiling: int = 512
    initial: int = 128
    tolerance: float = 1.15
    smoothing: float = 0.2
    window: float = 0.25
    """Seconds per update: about one request's latency, so a change of the limit
    shows in the next window or the one after, not five windows later."""
    min_samples: int = 16
    baseline_fall: float = 0.5
    baseline_rise: float = 0.025
    """Per window: the baseline takes ~40 windows (~10 s) to follow a slower source."""
    queue_weight: float = 0.0
    """How much of the listen queue's wait counts as latency (see the README)."""


_queue_delay_probe: Callable[[], float] | None = None


def set_queue_delay_probe(probe: Callable[[], float] | None) -> None:
    """Let every controller of this process add ``probe()`` seconds to its latency.

    The server calls this with an estimate of how long a new connection waits in
    the listen queue before it is accepted: time the app cannot see, but its
    clients do (``fanout serve`` reads the queue's depth from the kernel).
    """
    global _queue_delay_probe
    _queue_delay_probe = probe


class GradientLimit:
    """The limit of one worker, updated once per window of finished requests."""

    def __init__(self, params: GradientParams | None = None) -> None:
        self.params = p = params or GradientParams()
        self._estimate = float(min(max(p.initial, p.floor), p.ceiling))
        self.limit = int(self._estimate)
        self.short = 0.0
        """Seconds: the latency the last update saw (mean + queue delay)."""
        self.baseline = 0.0
        """Seconds: the no-load latency it compared with; 0 before the first window."""
        self.queue_delay = 0.0
        self._latencies: list[float] = []
        self._peak = 0
        self._shed = False
        self._window_start: float | None = None

    def observe(self, latency: float, inflight: int, now: float) -> int | None:
        """Record one admitted request that finished at ``now`` (seconds, any clock).

        ``inflight`` counts the requests in flight, this one included. Returns the
        new limit when this request closes a window, else None.
        """
        if self._window_start is None:
            self._window_start = now
        self._latencies.append(latency)
        if inflight > self._peak:
            self._peak = inflight
        if len(self._latencies) < self.params.min_samples:
            return None
        if now - self._window_start < self.params.window:
            return None
        p = self.params
        samples = sorted(self._latencies)
        mean = math.fsum(samples) / len(samples)
        low = samples[len(samples) // 10]
        probe = _queue_delay_probe
        self.queue_delay = probe() if probe is not None else 0.0
        self.update(mean + p.queue_weight * self.queue_delay, low, self._peak, self._shed)
        self._latencies = []
        self._peak = 0
        self._shed = False
        self._window_start = now
        return self.limit

    def rejected(self) -> None:
        """A request was turned away in this window: the worker is shedding."""
        self._shed = True

    def update(self, short: float, low: float, peak: int, shed: bool) -> int:
        """One step from one window: mean latency, its p10, most in flight, any 503."""
        p = self.params
        self._follow_baseline(low, shed)
        self.short = short
        if peak < self._estimate / 2:
            return self.limit  # the limit binds nothing: latency says nothing about it
        gradient = min(1.0, max(GRADIENT_FLOOR, p.tolerance * self.baseline / max(short, 1e-9)))
        target = self._estimate * gradient + math.sqrt(self._estimate)
        estimate = self._estimate * (1 - p.smoothing) + target * p.smoothing
        self._estimate = min(max(estimate, float(p.floor)), float(p.ceiling))
        self.limit = int(self._estimate)
        return self.limit

    def _follow_baseline(self, low: float, shed: bool) -> None:
        p = self.params
        if self.baseline <= 0.0:
            self.baseline = low
        elif low < self.baseline:
            self.baseline += p.baseline_fall * (low - self.baseline)
        elif not shed or self.limit < 2 * p.floor:
            self.baseline += p.baseline_rise * (low - self.baseline)
