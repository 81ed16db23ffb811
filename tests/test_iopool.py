"""The gevent I/O pool: workers kept and reused, a bound, a queue, abandoned calls.

Run in a child process: gevent must patch a process before anything else runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

GEVENT_POOL = """
from gevent import monkey

monkey.patch_all()

import json, time

import gevent
from gevent import getcurrent

from flask_fanout.iopool import GreenletIOPool

pool = GreenletIOPool(2)
report = {}

def wait_all(tasks, timeout=5):
    deadline = time.monotonic() + timeout
    pending = list(tasks)
    while pending and time.monotonic() < deadline:
        done = pool.wait_any(pending, deadline - time.monotonic())
        pending = [t for t in pending if t not in done]

def runner(seconds=0.0, fail=False):
    def call():
        time.sleep(seconds)
        if fail:
            raise ValueError("boom")
        return id(getcurrent())
    return call

# One call after another: the second runs on the first one's greenlet.
first = pool.start(runner())
wait_all([first])
second = pool.start(runner())
wait_all([second])
report["reused"] = pool.result(first) == pool.result(second)

# Three slow calls on two workers: the third waits, and starts when one ends.
started = time.monotonic()
slow = [pool.start(runner(0.2)) for _ in range(3)]
gevent.sleep(0.05)
report["load_while_full"] = list(pool.load())
wait_all(slow)
report["third_after_one_ended"] = time.monotonic() - started >= 0.4
report["workers_in_total"] = len({pool.result(t) for t in slow})

# A queued call that is abandoned never runs; a failure is the task's exception.
blockers = [pool.start(runner(0.2)) for _ in range(2)]
ran = []
queued = pool.start(lambda: ran.append(1))
pool.abandon(queued)
failing = pool.start(runner(fail=True))
wait_all(blockers + [failing])
gevent.sleep(0.05)
report["abandoned_ran"] = bool(ran)
try:
    pool.result(failing)
except ValueError as exc:
    report["error"] = str(exc)
report["idle_load"] = list(pool.load())

# A wait that times out returns nothing done; a call done meanwhile is seen next time.
late = pool.start(runner(0.2))
report["timed_out_wait"] = list(pool.wait_any([late], 0.05))
wait_all([late])
report["late_done"] = list(pool.wait_any([late], 0)) == [late]

# wait_all wakes once, when the last call ends; past its timeout, with those done.
wide = GreenletIOPool(4)
order = []
def marked(name, seconds):
    def call():
        time.sleep(seconds)
        order.append(name)
        return name
    return call
calls = [wide.start(marked(n, s)) for n, s in (("a", 0.05), ("b", 0.1), ("c", 0.15))]
done = wide.wait_all(calls, 5)
report["all_waited_for"] = (sorted(wide.result(c) for c in done), list(order))
slowest = wide.start(marked("d", 0.3))
quick = wide.start(marked("e", 0.01))
partial = wide.wait_all([slowest, quick], 0.1)
report["all_timed_out_with"] = [wide.result(c) for c in partial]
report["all_late_done"] = len(wide.wait_all([slowest, quick], 5))
print(json.dumps(report))
"""


def test_workers_are_reused_bounded_and_queue_the_rest() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_POOL], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "reused": True,
        "load_while_full": [2, 1],
        "third_after_one_ended": True,
        "workers_in_total": 2,
        "abandoned_ran": False,
        "error": "boom",
        "idle_load": [0, 0],
        "timed_out_wait": [],
        "late_done": True,
        "all_waited_for": [["a", "b", "c"], ["a", "b", "c"]],
        "all_timed_out_with": ["e"],
        "all_late_done": 2,
    }


def test_the_thread_pool_waits_for_all_or_its_timeout() -> None:
    from flask_fanout.iopool import ThreadIOPool

    pool = ThreadIOPool(4)
    gate = threading.Event()
    try:
        quick = pool.start(lambda: "quick")
        held = pool.start(lambda: gate.wait(5) and "held")
        assert [pool.result(t) for t in pool.wait_all([quick, held], 0.1)] == ["quick"]
        gate.set()
        assert sorted(pool.result(t) for t in pool.wait_all([quick, held], 5)) == ["held", "quick"]
    finally:
        gate.set()
        pool.shutdown()
