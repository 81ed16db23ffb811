"""The servers of the load benchmark: the upstream and the contenders, as subprocesses.

Each server is started on its own port, waited for until ``GET /`` answers 200, and
stopped by PID afterwards: SIGTERM to the process we started, then SIGKILL to it and to
any of its descendants (recorded before the stop) that outlive a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.proctree import descendants

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CONTENDERS_DIR = BENCH / "contenders"
HTTP_SOURCES_TOML = BENCH / "configs" / "http_sources.toml"
DEFAULT_UPSTREAM_PORT = 18001
_BIN = Path(sys.executable).parent


class ServerError(RuntimeError):
    """A server did not start or answer."""


@dataclass(frozen=True)
class Setup:
    """What a contender's command line needs to know."""

    host: str
    port: int
    workload: str  # "sleeps" or "http"
    upstream: str  # base URL of the upstream
    async_workers: int
    async_loop: str  # "asyncio" or "uvloop"
    http_config: Path  # flask-fanout's TOML with the three http sources


@dataclass(frozen=True)
class Contender:
    """A server under test: a label for the tables and how to start it."""

    name: str
    label: str
    command: Callable[[Setup], list[str]]


def _python(script: str) -> Callable[[Setup], list[str]]:
    def command(setup: Setup) -> list[str]:
        return [sys.executable, str(CONTENDERS_DIR / script), "--host", setup.host]

    return command


def _serial(setup: Setup) -> list[str]:
    return [*_python("serial_flask.py")(setup), "--port", str(setup.port)]


def _global_pool(setup: Setup) -> list[str]:
    return [*_python("global_pool.py")(setup), "--port", str(setup.port)]


def _flask_async(setup: Setup) -> list[str]:
    return [
        str(_BIN / "gunicorn"),
        *("-k", "gthread", "-w", "2", "--threads", "32"),
        *("-b", f"{setup.host}:{setup.port}", "--log-level", "warning"),
        "flask_async:app",
    ]


def _fastapi(setup: Setup) -> list[str]:
    http = "httptools" if setup.async_loop == "uvloop" else "h11"
    return [
        str(_BIN / "uvicorn"),
        "fastapi_app:app",
        *("--host", setup.host, "--port", str(setup.port)),
        *("--workers", str(setup.async_workers), "--loop", setup.async_loop, "--http", http),
        *("--no-access-log", "--log-level", "warning"),
    ]


def _aiohttp(setup: Setup) -> list[str]:
    return [
        *_python("aiohttp_app.py")(setup),
        *("--port", str(setup.port), "--workers", str(setup.async_workers)),
        *("--loop", setup.async_loop),
    ]


def _fanout(setup: Setup) -> list[str]:
    serve = [str(_BIN / "fanout"), "serve", "--host", setup.host, "--port", str(setup.port)]
    if setup.workload == "http":
        return [*serve, "--config", str(setup.http_config)]
    return [*serve, "--app", "fanout_app:app"]


def _fanout_with(*flags: str) -> Callable[[Setup], list[str]]:
    """flask-fanout with explicit ``fanout serve`` flags: how its defaults were chosen."""

    def command(setup: Setup) -> list[str]:
        return [*_fanout(setup), *flags]

    return command


# Variants for choosing `fanout serve`'s defaults; not in the default contender list.
TUNING: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "fanout_gevent", "fanout serve -k gevent -w 2", _fanout_with("--worker-class", "gevent")
        ),
        Contender(
            "fanout_pywsgi",
            "fanout serve -k gevent_pywsgi -w 2",
            _fanout_with("--worker-class", "gevent_pywsgi"),
        ),
        Contender(
            "fanout_pywsgi3",
            "fanout serve -k gevent_pywsgi -w 3",
            _fanout_with("--worker-class", "gevent_pywsgi", "--workers", "3"),
        ),
        Contender(
            "fanout_gthread",
            "fanout serve -k gthread -w 2 --threads 256",
            _fanout_with("--worker-class", "gthread", "--threads", "256"),
        ),
    )
}

CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender("serial", "serial Flask (Werkzeug threaded)", _serial),
        Contender("global_pool", "global ThreadPoolExecutor (Werkzeug)", _global_pool),
        Contender("flask_async", "Flask async view (gunicorn gthread 2x32)", _flask_async),
        Contender("fastapi", "FastAPI + uvicorn", _fastapi),
        Contender("aiohttp", "aiohttp server", _aiohttp),
        Contender("fanout", "flask-fanout (fanout serve)", _fanout),
    )
}

ALL_CONTENDERS: dict[str, Contender] = {**CONTENDERS, **TUNING}


class Server:
    """A server subprocess; use as a context manager to stop it by PID at the end."""

    def __init__(
        self,
        command: Sequence[str],
        url: str,
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.url = url
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.command[:3]} exited with {self.process.returncode}")
            if _answers_200(self.url):
                return
            time.sleep(0.2)
        raise ServerError(f"{self.url} did not answer 200 within {timeout:g} s")

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            tree = descendants(self.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            _kill_leftovers(tree[1:])
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _kill_leftovers(pids: Sequence[int], grace: float = 5.0) -> None:
    """SIGKILL those of ``pids`` (descendants of a stopped server) still alive after grace."""
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return b") Z " not in stat.read()  # a zombie is gone for our purposes
    except OSError:
        return False


def contender_env(workload: str, upstream: str) -> dict[str, str]:
    """Environment of a contender: which workload, where the upstream is, its modules."""
    path = os.pathsep.join(p for p in (str(CONTENDERS_DIR), os.environ.get("PYTHONPATH")) if p)
    return {"BENCH_WORKLOAD": workload, "BENCH_UPSTREAM": upstream, "PYTHONPATH": path}


def start_upstream(host: str, port: int, log: Path | None = None) -> Server:
    """The bundled demo upstream (``/delay/<ms>``, ``/api/data``) on ``host:port``.

    Its module (standard library only) is run from its file, so the upstream process
    imports neither Flask nor the rest of the package: a lean, stable floor.
    """
    code = (
        "import importlib.util, runpy; "
        "package = importlib.util.find_spec('flask_fanout').submodule_search_locations[0]; "
        f"runpy.run_path(package + '/service/demo/upstream.py')['run']({host!r}, {port})"
    )
    server = Server([sys.executable, "-c", code], f"http://{host}:{port}/api/data", log=log)
    server.wait_ready()
    return server


def http_sources_config(upstream_port: int, scratch: Path) -> Path:
    """flask-fanout's http-sources TOML, rewritten for the upstream's port if needed."""
    if upstream_port == DEFAULT_UPSTREAM_PORT:
        return HTTP_SOURCES_TOML
    text = HTTP_SOURCES_TOML.read_text().replace(
        f"127.0.0.1:{DEFAULT_UPSTREAM_PORT}/", f"127.0.0.1:{upstream_port}/"
    )
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "http_sources.toml"
    path.write_text(text)
    return path
