"""The servers of the load benchmark: the upstream and the contenders, and how to start them.

Each runs as a :class:`harness.processes.Server` on its own port, ready when ``GET /``
answers 200, stopped by PID afterwards.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.processes import Server
from harness.results import BENCH

CONTENDERS_DIR = BENCH / "contenders"
HTTP_SOURCES_TOML = BENCH / "configs" / "http_sources.toml"
DEFAULT_UPSTREAM_PORT = 18001
_BIN = Path(sys.executable).parent


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


def _fastapi(setup: Setup, workers: int | None = None) -> list[str]:
    """FastAPI under uvicorn: ``workers`` processes (default ``--async-workers``)."""
    http = "httptools" if setup.async_loop == "uvloop" else "h11"
    return [
        str(_BIN / "uvicorn"),
        "fastapi_app:app",
        *("--host", setup.host, "--port", str(setup.port)),
        *("--workers", str(workers or setup.async_workers), "--loop", setup.async_loop),
        *("--http", http, "--no-access-log", "--log-level", "warning"),
    ]


def _aiohttp(setup: Setup, workers: int | None = None) -> list[str]:
    """The aiohttp server: ``workers`` processes (default ``--async-workers``)."""
    return [
        *_python("aiohttp_app.py")(setup),
        *("--port", str(setup.port), "--workers", str(workers or setup.async_workers)),
        *("--loop", setup.async_loop),
    ]


def _workers(command: Callable[[Setup, int], list[str]], n: int) -> Callable[[Setup], list[str]]:
    """An asyncio contender with a fixed number of worker processes."""
    return lambda setup: command(setup, n)


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

# The asyncio peers at 1 and 2 worker processes: on 2 cores, 2 is the fair peer of
# flask-fanout's 2 gunicorn workers, 1 what a single event loop does.
CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender("serial", "serial Flask (Werkzeug threaded)", _serial),
        Contender("global_pool", "global ThreadPoolExecutor (Werkzeug)", _global_pool),
        Contender("flask_async", "Flask async view (gunicorn gthread 2x32)", _flask_async),
        Contender("fastapi_1w", "FastAPI + uvicorn, 1 worker", _workers(_fastapi, 1)),
        Contender("fastapi_2w", "FastAPI + uvicorn, 2 workers", _workers(_fastapi, 2)),
        Contender("aiohttp_1w", "aiohttp server, 1 worker", _workers(_aiohttp, 1)),
        Contender("aiohttp_2w", "aiohttp server, 2 workers", _workers(_aiohttp, 2)),
        Contender("fanout", "flask-fanout (fanout serve)", _fanout),
    )
}

# The names of earlier runs (their worker count is --async-workers), for --merge.
EARLIER: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender("fastapi", "FastAPI + uvicorn", _fastapi),
        Contender("aiohttp", "aiohttp server", _aiohttp),
    )
}

ALL_CONTENDERS: dict[str, Contender] = {**CONTENDERS, **EARLIER, **TUNING}


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
