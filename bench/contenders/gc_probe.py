"""The product service with a garbage-collector probe, for ``bench/gc_pauses.py``.

    fanout serve --app 'gc_probe:create()' --config bench/configs/http_sources.toml

Each worker times every collection (``gc.callbacks``) and rewrites
``$GC_PROBE_DIR/<pid>.json`` once a second: per generation, how many collections
and their total and longest pause. With ``GC_PROBE_THRESHOLDS=700,10,10`` the
worker's first request sets those thresholds, overriding ``fanout serve``'s
(it sets its own after the app is loaded, so the app cannot at import).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from flask_fanout.service import create_app

_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started = [0.0]


def _time_collections(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses[info["generation"]].append(time.perf_counter() - _started[0])


def _report_every_second(directory: Path) -> None:
    path = directory / f"{os.getpid()}.json"
    while True:
        time.sleep(1.0)
        report = {
            f"gen{gen}": {
                "collections": len(times),
                "total_ms": round(sum(times) * 1000, 1),
                "longest_ms": round(max(times, default=0.0) * 1000, 1),
            }
            for gen, times in _pauses.items()
        }
        report["threshold"] = list(gc.get_threshold())
        path.write_text(json.dumps(report))


def create() -> Flask:
    app = create_app()
    wanted = os.environ.get("GC_PROBE_THRESHOLDS")
    if wanted:
        thresholds = tuple(int(n) for n in wanted.split(","))

        @app.before_request
        def set_thresholds() -> None:
            if gc.get_threshold() != thresholds:
                gc.set_threshold(*thresholds)

    gc.callbacks.append(_time_collections)
    directory = Path(os.environ["GC_PROBE_DIR"])
    # Under gevent this "thread" is a greenlet of the worker, started after fork.
    threading.Thread(target=_report_every_second, args=(directory,), daemon=True).start()
    return app
