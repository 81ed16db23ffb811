"""``Fanout(app)``: the pools, limits and settings of one Flask app in one process."""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from flask import Flask, current_app, g, request
from flask.typing import ResponseReturnValue

from .admission import Admission
from .cpu import CpuPool
from .errors import json_error
from .iopool import IOPool, io_pool
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
            settings.cpu_backend,  # type: ignore[arg-type]
            settings.cpu_workers,
            timeout=settings.cpu_timeout,
            dask_address=settings.dask_address,
        )
        self.admission = Admission(settings.max_inflight)
        self.exempt_endpoints: set[str] = set()

    def shutdown(self) -> None:
        self.io.reset()
        self.cpu.shutdown()


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
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        state = FanoutState(Settings.from_mapping(app.config))
        app.extensions[EXTENSION_KEY] = state
        _live_states.add(state)
        app.before_request(_admit)
        app.teardown_request(_release)

    @staticmethod
    def exempt(app: Flask, endpoints: Iterable[str]) -> None:
        """Let ``endpoints`` (health checks, metrics) through admission control."""
        fanout_state(app).exempt_endpoints.update(endpoints)


def fanout_state(app: Flask | None = None) -> FanoutState:
    """The :class:`FanoutState` of ``app`` (default: the current app)."""
    app = app or current_app
    try:
        state: FanoutState = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("Fanout(app) was not set up for this app") from None
    return state


def _admit() -> ResponseReturnValue | None:
    state = fanout_state()
    if request.endpoint in state.exempt_endpoints:
        return None
    if not state.admission.try_enter():
        return json_error(
            503,
            "overloaded",
            "The server is at its limit of requests in flight; retry shortly.",
            headers={"Retry-After": "1"},
            limit=state.admission.limit,
        )
    g._fanout_admitted = True
    return None


def _release(_exc: BaseException | None) -> None:
    if g.pop("_fanout_admitted", False):
        fanout_state().admission.leave()


def cpu_map(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    cost: Callable[[T], float],
    *,
    timeout: float | None = None,
) -> list[R]:
    """Apply the batch function ``fn`` to ``items`` on the current app's CPU backend.

    Cheap work runs inline; costly work is split into chunks of balanced ``cost``.
    Raises :class:`~flask_fanout.cpu.CpuTimeout` past ``timeout`` (default
    ``FANOUT_CPU_TIMEOUT``) and :class:`~flask_fanout.cpu.CpuUnavailable` when a
    worker or the cluster is lost.
    """
    return fanout_state().cpu.map_batches(fn, items, cost, timeout=timeout)
