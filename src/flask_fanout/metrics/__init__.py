"""Prometheus metrics of the extension, and the ``/metrics`` answer.

Cheap on the request path, whatever the registry: a request appends one tuple
to a queue (:mod:`.recorder`); once a second a flusher per process turns the
queue into Prometheus values and reads each app's gauges (:mod:`.flusher`).

Multiprocess mode (several gunicorn workers): prometheus_client chooses its value
class when it is first imported, so ``PROMETHEUS_MULTIPROC_DIR`` must be set
before that, in the master, before the workers fork (``fanout serve`` does it;
see :mod:`flask_fanout.server.metrics_dir`). prometheus_client is imported lazily,
at the first flush or scrape. Without the variable (``flask run``, tests) metrics
live in the default registry.
"""

from __future__ import annotations

from collections.abc import Callable

from .exposition import CONTENT_TYPE, metrics_response, multiprocess_mode
from .flusher import FLUSH_INTERVAL, flush, flusher
from .instruments import CHUNK_BUCKETS, LATENCY_BUCKETS
from .recorder import Recorder
from .sample import Sample

__all__ = [
    "CHUNK_BUCKETS",
    "CONTENT_TYPE",
    "FLUSH_INTERVAL",
    "LATENCY_BUCKETS",
    "Recorder",
    "Sample",
    "flush",
    "metrics_response",
    "multiprocess_mode",
    "new_recorder",
]


def new_recorder(*, metrics: bool, access_log: bool, sample: Callable[[], Sample]) -> Recorder:
    """A recorder for one app; ``recorder.install(app)`` then times its requests.

    With ``metrics``, the flusher calls ``sample`` at each flush for the app's
    gauges and totals.
    """
    recorder = Recorder(metrics=metrics, access_log=access_log, sample=sample, wake=flusher.wake)
    if metrics:
        flusher.watch(recorder)
    return recorder
