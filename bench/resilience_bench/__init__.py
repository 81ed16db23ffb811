"""The resilience benchmark (``python bench/resilience.py``), one module per job.

- ``upstream``: the flaky upstream (its own process), and how many calls it counted;
- ``client``: the open-loop generator, counting goodput, stale answers and error codes;
- ``configs``: the three ways ``fanout serve`` is configured, as TOML;
- ``run``: one configuration measured on a fresh server, and the median of its rounds;
- ``report``: the markdown table of ``bench/results/resilience.md``;
- ``main``: the options and the run, round by round.
"""
