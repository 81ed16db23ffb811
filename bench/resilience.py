"""Resilience benchmark: GET / against a flaky upstream, with and without call policies.

    python bench/resilience.py --rate 200 --duration 8 --rounds 3

A flaky upstream (its own process) answers ``GET /`` after ``--latency-ms``, but a
``--hang`` fraction of its calls (20% by default) never answer. ``fanout serve``
runs three times on fresh ports, side by side in one run, with the same sources
(a file, and ``api`` on the flaky upstream with ``timeout = --timeout``):

- ``none``: no policy, today's defence: the timeout;
- ``hedge``: a breaker, a bulkhead, retries and a hedge after the call's own p95;
- ``hedge+cache``: the same plus ``[sources.api.cache] ttl = 1.0, stale_if_error = 30,
  stale_while_revalidate = 30``.

Each is driven open loop, ``--rate`` requests a second for ``--duration``
seconds (so a faster answer cannot bring more load), the configurations taking
turns within each of ``--rounds`` rounds. Reported: goodput (answers whose every
source answered: no entry in ``errors``; a stale value counts as an answer and is
counted apart), latency percentiles, and the upstream calls per request (counted at
the upstream). Stdlib and flask-fanout only. Writes ``bench/results/resilience.md``
(``--output`` elsewhere, e.g. under ``bench/results/raw/`` for a quick run).

The parts live in ``bench/resilience_bench/``, the shared machinery in ``bench/harness/``.
"""

from __future__ import annotations

import sys

from resilience_bench.main import main

if __name__ == "__main__":
    sys.exit(main())
