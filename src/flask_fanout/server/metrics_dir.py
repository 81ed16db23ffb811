"""The Prometheus multiprocess directory of ``fanout serve``.

With several gunicorn workers each worker writes its metrics to files of its own
in ``PROMETHEUS_MULTIPROC_DIR``, and whichever worker answers ``GET /metrics``
adds them all up. The directory's life follows the master's:

- before the workers fork, :meth:`MetricsDir.prepare` creates a fresh temporary
  directory, or empties the operator's if ``PROMETHEUS_MULTIPROC_DIR`` is set,
  and exports the variable, so the workers inherit it before anything imports
  prometheus_client (which picks its multiprocess mode once, at import);
- when a worker exits, gunicorn's ``child_exit`` hook drops its live gauges
  (``mark_process_dead``); its counters and histograms stay, so totals never
  go down when a worker is replaced;
- when the master exits (``on_exit``, and after gunicorn returns), the files
  are removed, and the directory too if this process created it.

Only ``*.db`` files are removed from an operator's directory.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import sys
import tempfile
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsDir:
    """One ``fanout serve``'s multiprocess directory; cleaned only by the master."""

    def __init__(self, path: str, created: bool) -> None:
        self.path = path
        self.created = created
        self.master_pid = os.getpid()
        self.cleaned = False

    @classmethod
    def prepare(cls) -> MetricsDir:
        """Create or empty the directory and export ``PROMETHEUS_MULTIPROC_DIR``."""
        path = os.environ.get(ENV, "").strip()
        if path:
            os.makedirs(path, exist_ok=True)
            directory = cls(os.path.abspath(path), created=False)
            directory._remove_files()
        else:
            directory = cls(tempfile.mkdtemp(prefix="fanout-metrics-"), created=True)
        os.environ[ENV] = directory.path
        values = sys.modules.get("prometheus_client.values")
        if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
            logging.getLogger("flask_fanout").warning(
                "prometheus_client was imported before %s was set: each worker "
                "will report only its own metrics",
                ENV,
            )
        return directory

    def gunicorn_hooks(self) -> dict[str, Any]:
        """The gunicorn settings that keep the directory right: ``child_exit``, ``on_exit``."""
        return {"child_exit": self.child_exit, "on_exit": self.on_exit}

    def child_exit(self, _arbiter: Any, worker: Any) -> None:
        """A worker is gone: its live gauges must not count anymore."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, self.path)  # type: ignore[no-untyped-call]

    def on_exit(self, _arbiter: Any) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the files (and the directory if created here); in the master only.

        gunicorn's workers leave the master's code path by raising ``SystemExit``
        through it, so this checks the PID: a worker must never clean up.
        """
        if self.cleaned or os.getpid() != self.master_pid:
            return
        self.cleaned = True
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self._remove_files()

    def _remove_files(self) -> None:
        for name in glob.glob(os.path.join(glob.escape(self.path), "*.db")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
