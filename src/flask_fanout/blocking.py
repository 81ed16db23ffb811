"""Blocking calls that must not stall a gevent worker.

Under gevent's monkey-patching the I/O pool's threads are greenlets: perfect for
sockets, but a C call that blocks (SQLite's busy wait, a slow disk read) would
freeze every request of the worker. ``run_blocking`` sends such calls to gevent's
pool of real OS threads and waits cooperatively; elsewhere it just calls.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def gevent_is_patched() -> bool:
    """True in a process where gevent has monkey-patched ``threading``."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


def run_blocking(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn`` on a real OS thread when greenlets share this one; else directly."""
    if not gevent_is_patched():
        return fn(*args, **kwargs)
    import gevent

    result: R = gevent.get_hub().threadpool.apply(fn, args, kwargs)
    return result
