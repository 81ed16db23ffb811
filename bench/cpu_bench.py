"""CPU offload, measured side by side: big batches, tiny requests, the example's pattern.

Run from the repository root (about 2-2.5 minutes on 2 cores; ``--quick`` for a smoke run):

    python bench/cpu_bench.py [--repeat 7] [--tiny-requests 400] [--quiet-wait 3]
                              [--parts big,tiny,small] [--out FILE]

1. Big batch: ~460 distinct 1000-digit numbers (random odd ones plus 64 primes) through
   ``CpuPool("process", 2).map_batches(is_prime_batch, ...)`` (pool warmed up first), and
   through ``POST /is_prime`` on a real ``fanout serve``, against a serial ``is_prime``
   loop in this process; and the machine's ceiling, two copies of the serial loop at once
   on the pool's two processes (half that time is a perfect 2-way split here). Both
   cores: CPU seconds of the pool's worker processes during the timed runs, and one
   traced run with each chunk's process and interval.
2. Tiny request: ``GET /is_prime/7,11,13`` and ``GET /healthz`` on one keep-alive
   connection to the same server, alternating, one at a time.
3. The example's pattern, ``ProcessPoolExecutor().map(f, numbers)`` (chunksize 1), against
   ``CpuPool.map_batches`` and a serial loop on 10,000 small numbers, with ``f`` our
   ``is_prime`` and, on smaller numbers, the example's trial division.

Contenders take turns within each round, in rotating order, so load from elsewhere on
the machine hits them alike; medians and ratios come from the same run. The machine is
shared: rounds wait briefly for other programs to go quiet, the cores other programs used
are measured per round, and the big-batch table uses the quiet rounds when there are
enough of them.
Every pool is warm when timed; pool start-up is measured on its own.
Writes a markdown report (default ``bench/results/cpu.md``; ``--quick``:
``bench/results/raw/cpu-quick.md``).

    python bench/cpu_bench.py --parts small --out bench/results/cpu.md

runs part 3 alone and replaces only its section of the report. The parts live in
``bench/cpu_offload/``, the shared machinery in ``bench/harness/``.
"""

from __future__ import annotations

import sys

from cpu_offload.main import main

if __name__ == "__main__":
    sys.exit(main())
