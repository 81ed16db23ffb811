"""What every benchmark here shares: processes, a quiet machine, rounds, results files.

- ``proctree``: memory and CPU of a process tree, read from /proc;
- ``processes``: servers as subprocesses, ready when they answer, stopped by PID;
- ``quiet``: wait for other programs to leave the machine, and say how busy it was;
- ``meter``: CPU of our processes, the rest of our tree and other programs during runs;
- ``rounds``: contenders taking turns round by round, and the statistics of their times;
- ``results``: headings, number formats and the writing of markdown results.

The benchmark scripts put ``bench/`` on ``sys.path`` (they run as ``python bench/X.py``),
so these are imported as ``harness.X``.
"""
