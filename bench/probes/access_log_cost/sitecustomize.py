"""A probe: the CPU each access line costs in a serving worker.

Put this directory on ``PYTHONPATH`` of ``fanout serve``; every 4,000 requests a
worker prints to stdout the mean thread CPU time of writing their access lines,
e.g. (the sleeps workload at 300 clients)::

    PYTHONPATH=bench/probes/access_log_cost:bench/contenders \\
        fanout serve --port 18670 --app fanout_app:app | grep access_log_cost &
    python bench/loadgen.py http://127.0.0.1:18670/ -c 300 -d 10

A line written in a hot loop costs a third of what it costs between requests,
with the caches cold: only the serving worker gives the figure that matters.
"""

from __future__ import annotations

import time
from typing import Any

import flask_fanout.metrics.recorder as recorder

_write = recorder.log_request
_calls = 0
_seconds = 0.0


def _timed(*args: Any) -> None:
    global _calls, _seconds
    started = time.thread_time()
    _write(*args)
    _seconds += time.thread_time() - started
    _calls += 1
    if _calls % 4000 == 0:
        print(f"access_log_cost {_seconds / _calls * 1e6:.1f} us over {_calls}", flush=True)


recorder.log_request = _timed
