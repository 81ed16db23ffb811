"""A closed-loop HTTP/1.1 load generator that is cheap in CPU (``python bench/loadgen.py``).

- ``state``: the target and the shared state of a run (bounds, records, open connections);
- ``protocol``: one keep-alive connection and its minimal response parser;
- ``result``: the figures of a run, over its steady-state window;
- ``run``: the connection slots, the timeout sweeper, the server's process tree.
"""

from generator.result import LoadResult, ServerMemory, describe
from generator.run import run_load, run_load_async

__all__ = ["LoadResult", "ServerMemory", "describe", "run_load", "run_load_async"]
