"""The ``fanout`` command: ``fanout serve`` and ``fanout upstream``."""

from __future__ import annotations

import argparse
import atexit
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

DEFAULT_APP = "flask_fanout.service:create_app()"


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _start_upstream(host: str) -> str:
    """Start the demo upstream in a child process; stop it when we exit."""
    port = _free_port(host)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask_fanout.server.cli",
            "upstream",
            "--host",
            host,
            "--port",
            str(port),
        ]
    )
    atexit.register(child.terminate)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return f"http://{host}:{port}"


def serve(args: argparse.Namespace) -> int:
    from ..service.config import load_config
    from ..service.startup import build_checked_sources
    from ..settings import ConfigError, Settings
    from .gunicorn import chain, gunicorn_options, run_gunicorn

    if args.config:
        os.environ["FANOUT_CONFIG"] = os.path.abspath(args.config)
    if os.environ.pop("FLASK_DEBUG", "").lower() not in ("", "0", "false", "no"):
        print("fanout: FLASK_DEBUG ignored: fanout serve never runs in debug mode", file=sys.stderr)
    try:
        config = load_config()
        settings = Settings.from_mapping(config.flask)
        # What create_app checks once the sources exist, before any worker forks.
        build_checked_sources(config, settings.io_threads)[1]()
    except ConfigError as exc:
        print(f"fanout: configuration error: {exc}", file=sys.stderr)
        return 2
    from .logs import configure_logging
    from .metrics_dir import MetricsDir

    metrics_dir = MetricsDir.prepare()  # exported before the workers fork
    configure_logging()
    if args.app is None and config.config_file is None and "FANOUT_UPSTREAM_URL" not in os.environ:
        os.environ["FANOUT_UPSTREAM_URL"] = _start_upstream("127.0.0.1")
    options = gunicorn_options(
        bind=f"{args.host}:{args.port}",
        cpu_backend=settings.cpu_backend,
        max_inflight=settings.max_inflight,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
    )
    for hook, run in metrics_dir.gunicorn_hooks().items():
        options[hook] = chain(options[hook], run) if hook in options else run
    try:
        run_gunicorn(args.app or DEFAULT_APP, options)
    finally:
        metrics_dir.cleanup()
    return 0


def upstream(args: argparse.Namespace) -> int:
    from ..service.demo.upstream import run

    run(args.host, args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fanout", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the service on gunicorn")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--config", help="TOML file (sets FANOUT_CONFIG)")
    serve_parser.add_argument("--app", help="serve this WSGI app (module:attr) instead")
    serve_parser.add_argument("--workers", type=int, help="gunicorn workers (default 2)")
    serve_parser.add_argument("--worker-class", help="gunicorn worker class (default gevent)")
    serve_parser.add_argument("--threads", type=int, help="threads per gthread worker")
    serve_parser.set_defaults(handler=serve)

    upstream_parser = commands.add_parser("upstream", help="run the demo upstream server")
    upstream_parser.add_argument("--host", default="127.0.0.1")
    upstream_parser.add_argument("--port", type=int, default=8001)
    upstream_parser.set_defaults(handler=upstream)

    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
