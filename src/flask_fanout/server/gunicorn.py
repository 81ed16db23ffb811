"""gunicorn as ``fanout serve`` runs it: its settings, its hooks and the app server.

Every setting is chosen by measurement on the 2-core reference machine (see the
README and bench/); :func:`gunicorn_options` says why, one line each.
"""

from __future__ import annotations

import gc
import signal
from typing import Any

from . import workers as balancing

GC_THRESHOLDS = (10_000, 10, 10)
BALANCED_GEVENT = "flask_fanout.server.workers.BalancedGeventWorker"


def gunicorn_options(
    *,
    bind: str,
    cpu_backend: str = "process",
    max_inflight: int,
    workers: int | None = None,
    worker_class: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """gunicorn settings that ``fanout serve`` runs with, and why.

    - gevent workers: the I/O pool's threads become greenlets, so hundreds of
      requests wait on sources for the cost of a few KB each (measured against
      gthread in bench/, see the README). Dask's client hangs under gevent's
      monkey-patching, so the dask backend gets gthread workers instead.
    - two workers: one per core of the machines we measure on; the CPU backend
      has processes of its own.
    - limit_request_line at gunicorn's maximum, 8190: long ``/is_prime/...`` URLs
      reach the app and get its JSON errors instead of gunicorn's plain-text 400.
      Header count and size stay at gunicorn's limits, written out: 100 fields
      of at most 8190 bytes.
    - worker_connections well above FANOUT_MAX_INFLIGHT: connections beyond it
      would wait unanswered in the accept queue; admission control answers them
      503 instead.
    """
    if worker_class is None:
        worker_class = "gthread" if cpu_backend == "dask" else BALANCED_GEVENT
    options: dict[str, Any] = {
        "bind": [bind],
        "workers": workers or 2,
        "worker_class": worker_class,
        "worker_connections": max(4096, 2 * max_inflight),
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "keepalive": 5,
        "backlog": 4096,
        "graceful_timeout": 30,
        "timeout": 60,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "post_fork": _post_fork,
        "post_worker_init": _post_worker_init,
        "on_starting": lambda _arbiter: balancing.master_starting(),
        "pre_fork": lambda _arbiter, worker: balancing.assign_slot(worker),
        "child_exit": lambda _arbiter, worker: balancing.release_slot(worker),
    }
    if worker_class == "gthread":
        options["threads"] = threads or 64
    return options


def chain(first: Any, second: Any) -> Any:
    """One two-argument gunicorn hook (gunicorn checks the arity) running both."""

    def run(arbiter: Any, worker: Any) -> None:
        first(arbiter, worker)
        second(arbiter, worker)

    return run


def _post_fork(_arbiter: Any, worker: Any) -> None:
    """Remember a SIGTERM that arrives before the worker installs its own handlers.

    Between fork and ``init_signals`` a worker still runs the master's handler,
    which only queues the signal for the master: a stop sent then (say, right
    after start-up) was lost and cost the whole graceful timeout.
    """
    worker.fanout_stop_requested = False

    def early_stop(_signum: int, _frame: Any) -> None:
        worker.fanout_stop_requested = True

    signal.signal(signal.SIGTERM, early_stop)
    signal.signal(signal.SIGINT, early_stop)


def _post_worker_init(worker: Any) -> None:
    """Honour an early stop; keep the garbage collector's pauses short and rare.

    A gevent worker's event loop stands still while the collector runs, so every
    request in flight waits for it. Requests in flight live ~0.3 s: collecting
    every 700 allocations promoted them all, and the older generations kept
    walking them.

    - ``gc.freeze()`` once the app is loaded: its ~70,000 objects (a 53 ms full
      collection) are never walked again; the objects of requests still are.
    - ``gc.set_threshold(10_000, 10, 10)``: most request objects are gone by the
      next young collection. ``python bench/gc_pauses.py --clients 1500
      --duration 12``: 139-144 ms of pauses per worker (10-11 young collections),
      against 877-928 ms (322-349 young, 29-31 middle, 2 full) with (700, 10, 10).
    """
    if getattr(worker, "fanout_stop_requested", False):
        worker.alive = False
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_gunicorn(app_spec: str, options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.util import import_app

    class FanoutServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # Runs in each worker after fork (no preload): pools start there.
            return import_app(app_spec)

    FanoutServer().run()
