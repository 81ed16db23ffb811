"""Contender: a Flask async view (``async def`` + ``asyncio.gather``).

Flask runs each async view in a fresh event loop on the worker thread (asgiref), so the
http workload opens an aiohttp ``ClientSession`` per request: a session cannot outlive
its loop. Served by gunicorn, gthread, 2 workers x 32 threads:

    BENCH_WORKLOAD=sleeps PYTHONPATH=bench/contenders \\
        gunicorn -k gthread -w 2 --threads 32 -b 127.0.0.1:18103 flask_async:app
"""

from __future__ import annotations

from aio_common import new_session, read_all
from flask import Flask
from workload import WORKLOAD

app = Flask(__name__)


@app.get("/")
async def index() -> dict[str, object]:
    if WORKLOAD == "sleeps":
        return await read_all(None)
    async with new_session() as session:
        return await read_all(session)
