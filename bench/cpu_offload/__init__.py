"""The CPU offload benchmark (``python bench/cpu_bench.py``), one module per part.

- ``inputs``: the numbers, how much work each part does, the functions pools run;
- ``server``: ``fanout serve`` as a child process, and the requests sent to it;
- ``big_batch`` and ``big_report``: part 1, 1000-digit numbers, pool against serial;
- ``tiny``: part 2, a tiny request end to end;
- ``small``: part 3, the example's pattern on 10,000 small numbers;
- ``main``: options, the run, the report.
"""
