"""The adaptive limit's controller, driven with made-up windows: no clock, no sleeps."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_fanout.admission import GradientLimit, GradientParams

BASE = 0.300  # the no-load latency of the made-up requests: the slowest source's 0.3 s
COLD = GradientParams().initial


def busy(limit: GradientLimit, short: float, low: float = BASE, shed: bool = True) -> int:
    """One window in which the whole limit was in use."""
    return limit.update(short, low, peak=limit.limit, shed=shed)


def test_cold_start_is_256_within_floor_and_ceiling() -> None:
    assert GradientLimit().limit == COLD == 256
    assert GradientLimit(GradientParams(ceiling=50)).limit == 50
    assert GradientLimit(GradientParams(floor=300, ceiling=512)).limit == 300
    fresh = GradientLimit()
    assert fresh.baseline == 0.0
    busy(fresh, BASE * 1.05, low=BASE)
    assert fresh.baseline == BASE, "the first window sets the no-load latency"


def test_the_limit_rises_while_latency_stays_flat_and_stops_at_the_ceiling() -> None:
    limit = GradientLimit(GradientParams(ceiling=512))
    seen = [busy(limit, BASE) for _ in range(200)]
    assert all(b >= a for a, b in itertools.pairwise(seen)), "never falls"
    assert seen[0] > COLD and seen[-1] == 512
    assert all(b <= a * 1.25 for a, b in itertools.pairwise(seen)), "it climbs, never jumps"
    assert seen.index(512) <= 10, "demand is waiting: the ceiling within a few windows"


def test_without_shedding_a_flat_latency_only_lets_the_limit_drift_up() -> None:
    """Growth is fast only while requests are turned away: demand above the limit."""
    params = GradientParams(initial=128, ceiling=512)  # room to double below the ceiling
    shedding, not_shedding = GradientLimit(params), GradientLimit(params)
    for _ in range(5):
        busy(shedding, BASE, shed=True)
        busy(not_shedding, BASE, shed=False)
    assert not_shedding.limit < 128 * 1.25 < 128 * 2 < shedding.limit


def test_the_limit_falls_when_latency_grows_and_stops_at_the_floor() -> None:
    limit = GradientLimit(GradientParams(floor=8))
    start = busy(limit, BASE)
    seen = [busy(limit, BASE * 3) for _ in range(200)]
    assert all(b <= a for a, b in itertools.pairwise(seen)), "never rises"
    assert seen[0] < start and seen[-1] == 8
    assert seen[0] >= start * 0.85, "one window takes at most a smoothed halving"


def test_it_settles_where_latency_is_tolerable() -> None:
    """Latency that grows with the limit (a saturated CPU): the limit finds the knee."""
    limit = GradientLimit(GradientParams(tolerance=1.15))
    knee = 150  # below it latency is flat; above it, in proportion (Little's law)
    for _ in range(300):
        latency = BASE * max(1.0, limit.limit / knee)
        busy(limit, latency)
    assert knee <= limit.limit <= knee * 1.4
    assert limit.short <= BASE * 1.4


def test_an_unused_limit_does_not_move() -> None:
    limit = GradientLimit()
    limit.update(BASE, BASE, peak=3, shed=False)
    for short in (BASE, BASE * 5, BASE):
        assert limit.update(short, BASE, peak=3, shed=False) == COLD


def test_the_baseline_does_not_creep_up_while_shedding() -> None:
    limit = GradientLimit()
    busy(limit, BASE, low=BASE)
    for _ in range(100):
        busy(limit, BASE * 1.3, low=BASE * 1.3, shed=True)
    assert limit.limit > 16, "(not down near the floor)"
    assert limit.baseline == BASE, "overload is not the new normal"
    for _ in range(100):
        busy(limit, BASE * 2, low=BASE * 2, shed=False)
    assert limit.baseline > BASE * 1.8, "without shedding, a slower source is learnt"
    busy(limit, BASE, low=BASE)
    assert limit.baseline < BASE * 1.5, "and a faster one quickly"


def test_at_the_floor_a_slower_source_is_learnt_even_while_shedding() -> None:
    limit = GradientLimit(GradientParams(floor=8))
    busy(limit, BASE)
    lowest = COLD
    for _ in range(300):
        busy(limit, BASE * 2, low=BASE * 2, shed=True)
        lowest = min(lowest, limit.limit)
    assert lowest < 2 * 8, "twice as slow however few are admitted: down near the floor"
    assert limit.baseline > BASE * 1.4, "learnt while near the floor"
    assert limit.limit > 4 * 8, "so the limit climbs back from the floor"


def window_of(limit: GradientLimit, latencies: dict[str, float], now: float) -> int | None:
    """One window of ``observe`` calls: 10 requests of each route at its latency."""
    answer = None
    for route, latency in latencies.items():
        for _ in range(10):
            answer = limit.observe(latency, inflight=limit.limit, now=now, route=route)
    return answer


def test_a_fast_route_beside_a_slow_one_does_not_drag_the_limit_down() -> None:
    """Each route's latency is compared with its own: a 404 beside ``GET /`` is no alarm."""
    limit = GradientLimit(GradientParams(window=0.25, min_samples=16))
    for step in range(40):
        limit.rejected()
        window_of(limit, {"/": BASE, "": 0.002, "/is_prime/<numbers>": 0.010}, now=step * 0.3)
    assert limit.limit > 400, "flat latency on every route: it grows"
    assert limit.baseline == pytest.approx((BASE + 0.002 + 0.010) / 3, rel=0.01)
    for step in range(40, 80):
        window_of(limit, {"/": BASE * 3, "": 0.002, "/is_prime/<numbers>": 0.010}, now=step * 0.3)
    assert limit.limit < 100, "the slow route got three times slower: it falls"


def shedding_windows(limit: GradientLimit, latencies: list[float], windows: int) -> int:
    """``windows`` windows of ``latencies``, each turning requests away, at full use."""
    for step in range(windows):
        limit.rejected()
        for latency in latencies:
            limit.observe(latency, inflight=limit.limit, now=float(step))
    return limit.limit


def test_a_tail_stretched_by_a_queue_shrinks_the_limit_an_evenly_busy_loop_does_not() -> None:
    """The same mean, two causes: every request a little slower (a busy event loop
    that still has room) or some requests waiting (a queue). Only the second is
    what more admitted requests make worse, and only it stretches the p90."""
    params = GradientParams(window=0.0, min_samples=100)
    spread = (params.tolerance - 1) * 0.75  # the slowest 25 % inside the tolerance
    evenly_slower = [BASE * (1 + spread * i / 99) for i in range(100)]
    queued = [BASE] * 80 + [BASE * (1 + 2.5 * spread)] * 20
    assert sum(evenly_slower) == pytest.approx(sum(queued), rel=0.001), "one mean"
    busy_loop, queue = GradientLimit(params), GradientLimit(params)
    start = busy_loop.limit
    assert shedding_windows(busy_loop, evenly_slower, 10) > start * 1.5
    assert shedding_windows(queue, queued, 10) < start


def test_routes_beyond_the_bound_share_one_baseline() -> None:
    limit = GradientLimit(GradientParams(window=0.0, min_samples=1))
    for n in range(500):
        limit.observe(BASE, inflight=1, now=float(n), route=f"/r{n}")
    assert len(limit._baselines) <= 65  # MAX_ROUTES of their own, plus the shared one


def test_a_window_needs_enough_samples_and_enough_time() -> None:
    limit = GradientLimit(GradientParams(window=1.0, min_samples=4))
    results = [limit.observe(BASE, inflight=128, now=t * 0.1) for t in range(10)]
    assert results == [None] * 10, "four samples, but not a second yet"
    assert limit.observe(BASE, inflight=128, now=1.0) is not None
    assert limit.baseline == pytest.approx(BASE)
    assert [limit.observe(BASE, 128, now=5.0) for _ in range(3)] == [None] * 3
    assert limit.observe(BASE, 128, now=5.0) is not None, "four samples again"


@settings(max_examples=200, deadline=None)
@given(
    floor=st.integers(1, 64),
    span=st.integers(0, 600),
    windows=st.lists(
        st.tuples(
            st.floats(1e-4, 30.0), st.floats(1e-4, 30.0), st.integers(0, 2000), st.booleans()
        ),
        max_size=60,
    ),
)
def test_the_limit_stays_within_floor_and_ceiling(
    floor: int, span: int, windows: list[tuple[float, float, int, bool]]
) -> None:
    params = GradientParams(floor=floor, ceiling=floor + span)
    limit = GradientLimit(params)
    for short, low, peak, shed in windows:
        assert params.floor <= limit.update(short, low, peak, shed) <= params.ceiling
