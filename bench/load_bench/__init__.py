"""The load benchmark (``python bench/load.py``), one module per job.

- ``contenders``: the servers under test and the upstream, and how to start them;
- ``options``: the command line and the run's description;
- ``runner``: fresh servers, our generator and wrk against them, every figure kept;
- ``wrk``: the cross-check with wrk (installed with apt-get when missing), ``wrk.lua``;
- ``overload``: admission control at C=1500, its verdicts and report;
- ``points``, ``tables``, ``plot``, ``merge``: the figures, the markdown, load.png, and
  rebuilding or merging reports from their JSON.
"""
