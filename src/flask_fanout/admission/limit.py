"""The adaptive in-flight limit of one worker: a gradient controller on latency.

In the spirit of Netflix's concurrency-limits ``Gradient2Limit``. Past the
point where the CPU is saturated, admitting more requests only makes each one
slower (Little's law: latency = in flight / throughput), so the controller
compares the latency it sees now with the latency of the same work without
load, and shrinks the limit in proportion when the first outgrows the second:

    gradient  = clamp(tolerance * baseline / short, 0.5, 1.0)    # short: a p90
    new_limit = limit * gradient + sqrt(limit)        # the queue allowance
    new_limit += limit * growth * room    # when requests were shed, room in [0, 1]:
                                          # (tolerance * baseline / short - 1) / (tolerance - 1)
    limit     = limit * (1 - smoothing) + new_limit * smoothing

- ``short``: a high quantile (p90) of the latency of the admitted requests
  that finished in the last window (at least ``window`` seconds and
  ``min_samples`` requests), route by route and weighted like the baseline,
  plus the mean time requests waited in the listen queue when the server
  reports it (:func:`set_queue_delay_probe`): a client's latency starts when it
  connects. A tail, not a mean: what a client is promised is a tail
  (a p99), and a worker whose event loop is busy but not full makes every
  request a little slower, which moves a mean as much as a queue does (with
  the sleeps workload the mean sat 7 % above the baseline at 250 and at 500
  in flight alike, and a tolerance on it shed what the CPU could serve), while
  a queue stretches the tail first.
- ``baseline``: the no-load latency of the window's requests, route by route
  (``route``: the URL rule, which the extension hands over): each route's
  follows a low quantile (p10) of its requests in each window, falling fast and
  rising slowly, and the window's is their mean weighted by how many requests
  of each it had. A single p10 of all requests would be the fastest route's (a
  404 or ``/is_prime/7`` beside ``GET /``): every window would look several
  times too slow and the limit would sit at its floor. A route's baseline does
  not rise while requests are being turned away (unless the limit is down near
  its floor, below twice it: then requests are slow for another reason, a
  slower source): under overload every request is slower, and a baseline that
  followed would let the latency creep up without end, the known weakness of a
  plain long average. A p10, not a mean: under load some requests still do not
  wait, so the p10 stays near the no-load latency while the mean grows.
- Growth: a window that turned requests away while latency left room climbs by
  up to ``growth`` (doubling the target: ~20 % a window after smoothing, from
  128 to 512 in ~2 s), in proportion to the room left, so the climb slows
  before the knee instead of overshooting it: demand is waiting, and latency
  says when the CPU is full. The ``sqrt`` queue allowance alone climbed ~10 a
  second, and a 15 s run at 1,000 clients ended near 220 per worker with the
  CPU half idle. Otherwise the allowance lets it drift up while latency is
  flat and, with the smoothing, sets where it settles, at
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
MAX_ROUTES = 64  # routes with a baseline of their own; the rest share one
BASELINE_QUANTILE = 0.1  # a route's no-load latency follows its windows' p10


@dataclass(frozen=True)
class GradientParams:
    """How one controller behaves; the defaults and their reasons are in the README."""

    floor: int = 8
    ceiling: int = 768
    initial: int = 256
    """A cold worker's limit: what 2 workers' share of 1,000 clients needs (the
    climb from 128 took ~4 s of a 15 s run there), below the http workload's knee
    (300-400 per worker here)."""
    tolerance: float = 1.12
    quantile: float = 0.9
    """Which quantile of a window's latencies is ``short``: the p90 (a p99 of a
    window of a few hundred requests is its two or three slowest)."""
    smoothing: float = 0.2
    window: float = 0.25
    """Seconds per update: about one request's latency, so a change of the limit
    shows in the next window or the one after, not five windows later."""
    min_samples: int = 16
    growth: float = 1.0
    """How much above the limit a flat window that shed aims: 1.0 doubles it."""
    baseline_fall: float = 0.5
    baseline_rise: float = 0.025
    """Per window: the baseline takes ~40 windows (~10 s) to follow a slower source."""
    queue_weight: float = 1.0
    """How much of the listen queue's wait (as the probe reports it) counts as
    latency: all of it, since a client's latency starts when it connects. 0
    left the 200s' p99 2-3x higher with clients that connect per request
    (README, Admission control)."""


_queue_delay_probe: Callable[[], float] | None = None


def set_queue_delay_probe(probe: Callable[[], float] | None) -> None:
    """Let every controller of this process add ``probe()`` seconds to its latency.

    The server calls this with an estimate of how long a request waited, on
    average, in the listen queue before it was read: time the app cannot see,
    but its clients do (``fanout serve`` reads the queue's depth from the kernel
    and weights it by the share of requests that came on new connections).
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
        """Seconds: the latency the last update saw (its p90 + queue delay)."""
        self.baseline = 0.0
        """Seconds: the no-load latency of the last window's mix of routes; 0 before
        the first window."""
        self.queue_delay = 0.0
        self._baselines: dict[str, float] = {}
        self._window: dict[str, list[float]] = {}
        self._count = 0
        self._peak = 0
        self._shed = False
        self._window_start: float | None = None

    def observe(self, latency: float, inflight: int, now: float, route: str = "") -> int | None:
        """Record one admitted request of ``route`` that finished at ``now`` (seconds).

        ``route`` names requests that are alike (the URL rule); ``inflight``
        counts the requests in flight, this one included. Returns the new limit
        when this request closes a window, else None.
        """
        if self._window_start is None:
            self._window_start = now
        samples = self._window.get(route)
        if samples is None:
            known = self._baselines.keys() | self._window.keys()
            if route not in known and len(known) >= MAX_ROUTES:
                route = ""  # bounded: the rest share one baseline
            samples = self._window.setdefault(route, [])
        samples.append(latency)
        self._count += 1
        if inflight > self._peak:
            self._peak = inflight
        if self._count < self.params.min_samples or now - self._window_start < self.params.window:
            return None
        self._close_window(now)
        return self.limit

    def _close_window(self, now: float) -> None:
        window, count = self._window, self._count
        for samples in window.values():
            samples.sort()
        lows = {route: _quantile(samples, BASELINE_QUANTILE) for route, samples in window.items()}
        self._learn(lows, self._shed)
        q = self.params.quantile
        high = math.fsum(len(s) * _quantile(s, q) for s in window.values()) / count
        expected = math.fsum(len(s) * self._baselines[r] for r, s in window.items()) / count
        probe = _queue_delay_probe
        self.queue_delay = probe() if probe is not None else 0.0
        short = high + self.params.queue_weight * self.queue_delay
        self._step(short, expected, self._peak, self._shed)
        self._window = {}
        self._count = self._peak = 0
        self._shed = False
        self._window_start = now

    def rejected(self) -> None:
        """A request was turned away in this window: the worker is shedding."""
        self._shed = True

    def update(self, short: float, low: float, peak: int, shed: bool) -> int:
        """One step from one window of one route: its p90, its p10, most in flight, any 503."""
        self._learn({"": low}, shed)
        return self._step(short, self._baselines[""], peak, shed)

    def _step(self, short: float, expected: float, peak: int, shed: bool) -> int:
        p = self.params
        self.short, self.baseline = short, expected
        if peak < self._estimate / 2:
            return self.limit  # the limit binds nothing: latency says nothing about it
        ratio = p.tolerance * expected / max(short, 1e-9)
        target = self._estimate * max(GRADIENT_FLOOR, min(1.0, ratio))
        target += math.sqrt(self._estimate)
        if ratio > 1.0 and shed:
            # Demand is waiting: climb, the faster the more room latency leaves,
            # so that the climb slows down before the knee instead of overshooting it.
            headroom = min(1.0, (ratio - 1.0) / max(p.tolerance - 1.0, 1e-9))
            target += self._estimate * p.growth * headroom
        estimate = self._estimate * (1 - p.smoothing) + target * p.smoothing
        self._estimate = min(max(estimate, float(p.floor)), float(p.ceiling))
        self.limit = int(self._estimate)
        return self.limit

    def _learn(self, lows: dict[str, float], shed: bool) -> None:
        """Move each route's no-load latency toward this window's p10 of it."""
        p = self.params
        may_rise = not shed or self.limit < 2 * p.floor
        for route, low in lows.items():
            baseline = self._baselines.get(route)
            if baseline is None:
                self._baselines[route] = low
            elif low < baseline:
                self._baselines[route] = baseline + p.baseline_fall * (low - baseline)
            elif may_rise:
                self._baselines[route] = baseline + p.baseline_rise * (low - baseline)


def _quantile(ordered: list[float], quantile: float) -> float:
    """The ``quantile`` of sorted samples."""
    return ordered[min(int(len(ordered) * quantile), len(ordered) - 1)]
