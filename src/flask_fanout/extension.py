"""``Fanout(app)``: the pools, limits and settings of one Flask app in one process."""

from __future__ import annotations

import atexit
import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from flask import Flask, current_app, request

from .admission import (
    ROUTE_KEY,
    Admission,
    AdmissionMiddleware,
    GradientLimit,
    GradientParams,
    exempt_paths_of,
)
from .blocking import gevent_is_patched
from .cpu import Cost, CpuPool
from .iopool import IOPool, io_pool
from .metrics import Sample, new_recorder
from .policies import Policies, Policy
from .process_local import PerProcess
from .settings import Settings

EXTENSION_KEY = "fanout"

T = TypeVar("T")
R = TypeVar("R")

_live_states: weakref.WeakSet[FanoutState] = weakref.WeakSet()


class FanoutState:
    """What ``Fanout`` keeps per app in ``app.extensions["fanout"]``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.io = PerProcess(lambda: io_pool(settings.io_threads), close=IOPool.shutdown)
        self.cpu = CpuPool(
            settings.cpu_backend,  # type: ignore[arg-type]  # validated by Settings
            settings.cpu_workers,
            timeout=settings.cpu_timeout,
            dask_address=settings.dask_address,
        )
        self.admission = Admission(settings.max_inflight, _controller(settings))
        self.policies = Policies()
        self.exempt_endpoints: set[str] = set()
        self._exempt_paths: frozenset[str] | None = None
        self.recorder = new_recorder(
            metrics=settings.metrics, access_log=settings.access_log, sample=self.sample
        )
        if settings.metrics:
            self.cpu.chunk_observer = self.recorder.chunk

    def sample(self) -> Sample:
        """This app's gauges and totals in this process, for the metrics flusher."""
        running = waiting = 0
        pool = self.io.peek()
        if pool is not None:
            running, waiting = pool.load()
        cpu = self.cpu.stats()
        controller = self.admission.controller
        return Sample(
            requests_in_flight=self.admission.inflight,
            admission_limit=self.admission.limit,
            admission_latency=controller.short if controller else 0.0,
            admission_baseline=controller.baseline if controller else 0.0,
            io_running=running,
            io_queued=waiting,
            io_size=self.settings.io_threads,
            cpu_in_flight=cpu["in_flight_chunks"],
            cpu_queued=cpu["queued_chunks"],
            totals={"rejected": self.admission.rejected, **cpu},
            policies=self.policies.stats(),
        )

    def first_reject_pause(self) -> float:
        """How long a connection's first 503 is held: its whole Retry-After (FANOUT_REJECT_PAUSE).

        Clients that connect per request and retry at once wait in the listen
        queue, in front of the connections that would be admitted; held, they
        wait on a sleeping greenlet instead. Held only as long as the listen
        queue's wait (0.1 s when it was empty, as before), they came back so
        often that the queue refilled: at C=1500 without keep-alive 304 200s/s
        with a p99 of 965 ms, against 963 and 734 ms held for the Retry-After;
        kept-alive clients' first wave of 503s costs less too (README, Admission
        control). Static admission holds none (as before).
        """
        if self.admission.controller is None:
            return 0.0
        return self.settings.reject_pause

    def add_exempt(self, endpoints: Iterable[str]) -> None:
        self.exempt_endpoints.update(endpoints)
        self._exempt_paths = None  # resolved again on the next request

    def exempt_paths(self, app: Flask) -> frozenset[str]:
        """URL paths of the exempt endpoints, resolved once the routes exist."""
        if self._exempt_paths is None:
            self._exempt_paths = exempt_paths_of(app, self.exempt_endpoints)
        return self._exempt_paths

    def shutdown(self) -> None:
        self.io.reset()
        self.cpu.shutdown()


def _controller(settings: Settings) -> GradientLimit | None:
    """The adaptive limit's controller, or None for a static limit."""
    if settings.admission != "adaptive":
        return None
    return GradientLimit(
        GradientParams(
            floor=settings.min_inflight,
            ceiling=settings.max_inflight,
            tolerance=settings.latency_tolerance,
        )
    )


@atexit.register
def _shutdown_all() -> None:
    for state in list(_live_states):
        state.shutdown()


class Fanout:
    """Flask extension: an I/O pool, a CPU backend and admission control per app.

    Settings come from ``app.config`` (``FANOUT_*``) and are validated here, so a
    bad value stops start-up with a :class:`~flask_fanout.ConfigError` naming it.
    Pools are created lazily in the process that uses them, so an app created
    before gunicorn forks is safe.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.app = app
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        self.app = self.app or app
        state = FanoutState(Settings.from_mapping(app.config))
        app.extensions[EXTENSION_KEY] = state
        _live_states.add(state)
        state.recorder.install(app)
        if state.admission.controller is not None:
            app.before_request(_name_route)
        app.wsgi_app = AdmissionMiddleware(  # type: ignore[method-assign]
            app.wsgi_app,
            state.admission,
            lambda: state.exempt_paths(app),
            pause=lambda: state.settings.reject_pause if gevent_is_patched() else 0.0,
            retry_after=max(1, math.ceil(state.settings.reject_pause)),
            first_pause=state.first_reject_pause,
        )

    def policy(self, name: str, policy: Policy, *, app: Flask | None = None) -> None:
        """Let every ``gather`` call named ``name`` (of ``app``, default this
        extension's first app) go through ``policy``: name it once per dependency."""
        fanout_state(app or self.app).policies.name(name, policy)

    @staticmethod
    def exempt(app: Flask, endpoints: Iterable[str]) -> None:
        """Let ``endpoints`` (health checks, metrics) through admission control."""
        fanout_state(app).add_exempt(endpoints)


def _name_route() -> None:
    """Tell the adaptive limit which route this request is: alike requests share a baseline."""
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else ""


def fanout_state(app: Flask | None = None) -> FanoutState:
    """The :class:`FanoutState` of ``app`` (default: the current app)."""
    app = app or current_app
    try:
        state: FanoutState = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("Fanout(app) was not set up for this app") from None
    return state


def breaker_states(app: Flask | None = None) -> dict[str, str]:
    """Each named call's circuit breaker in this process: ``closed``, ``half_open``, ``open``."""
    return fanout_state(app).policies.breaker_states()


def cpu_map(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    cost: Cost[T],
    *,
    timeout: float | None = None,
) -> list[R]:
    """Apply the batch function ``fn`` to ``items`` on the current app's CPU backend.

    Cheap work runs inline; costly work is split into chunks of balanced ``cost``
    (a function of an item, or one number for items that are alike).
    Raises :class:`~flask_fanout.cpu.CpuTimeout` past ``timeout`` (default
    ``FANOUT_CPU_TIMEOUT``) and :class:`~flask_fanout.cpu.CpuUnavailable` when a
    worker or the cluster is lost.
    """
    return fanout_state().cpu.map_batches(fn, items, cost, timeout=timeout)
