"""Contender: an aiohttp server, the three reads with ``asyncio.gather``.

One shared aiohttp ``ClientSession`` per process for the http workload. With
``--workers N`` > 1 the parent binds the socket and forks N serving processes.

    BENCH_WORKLOAD=sleeps python bench/contenders/aiohttp_app.py --port 18105 --workers 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
from collections.abc import AsyncIterator

from aio_common import new_session, read_all
from aiohttp import web
from workload import WORKLOAD

SESSION = web.AppKey("session", object)


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    session = new_session() if WORKLOAD == "http" else None
    app[SESSION] = session
    yield
    if session is not None:
        await session.close()


async def index(request: web.Request) -> web.Response:
    return web.json_response(await read_all(request.app[SESSION]))  # type: ignore[arg-type]


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(_client_session)
    app.router.add_get("/", index)
    return app


def _serve(sock: socket.socket, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.install()
    web.run_app(make_app(), sock=sock, access_log=None, print=None, handle_signals=True)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18105)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    sock = _listen(args.host, args.port)
    if args.workers == 1:
        _serve(sock, args.loop)
        return
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_serve, args=(sock, args.loop), daemon=True)
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(_signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
