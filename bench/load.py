"""The load benchmark: every contender, side by side, in one run.

    python bench/load.py --workloads sleeps,http --duration 10

starts the local upstream, measures the load generator's floor against it, then for
each workload, contender and concurrency starts a fresh server, drives it with the
closed-loop generator (bench/loadgen.py) and stops it by PID; at C=200, 1000 and 1500
it does the same with wrk as a cross-check. Writes bench/results/load.md (tables),
load.json (raw figures) and load.png (plot). Default concurrency: 1, 10, 50, 200, 1000,
1500, 3000.

``--quick`` is a smoke run (C=10,200 for 5 s; results under bench/results/raw/).
``--overload`` drives the selected contenders (default: flask-fanout) at C=1500 for a
few rounds on one server and checks admission control: every answer 200 or 503 with
Retry-After; it writes bench/results/overload.md and overload.json.

The parts live in ``bench/load_bench/``, the shared machinery in ``bench/harness/``.
"""

from __future__ import annotations

import sys

from load_bench.main import main

if __name__ == "__main__":
    sys.exit(main())
