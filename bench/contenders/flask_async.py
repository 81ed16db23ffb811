"""Contender: a Flask async view (``async def`` + ``asyncio.gather``).

Flask runs each async view in a fresh event loop on the worker thread (asgiref), so the
http workload opens an aiohttp ``ClientSession`` per request: a session cannot outlive
its loop. Served by gunicorn, gthread, 2 workers x 32 threads:

    BENCH_WORKLOAD=sleeps PYTHONPATH=bench/contenders \\
        gunicorn -k gthread -w 2 --threads 32 -b 127.0.0.1:18103 flask_async:app
"""

from __future__ import annotations

import asyncio

import aiohttp
from flask import Flask
from workload import SLEEPS, WORKLOAD, as_answer, upstream_urls

app = Flask(__name__)


async def _sleep(name: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"{name} read complete"


async def _fetch(session: aiohttp.ClientSession, url: str) -> object:
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def _read_all() -> list[object]:
    if WORKLOAD == "sleeps":
        return await asyncio.gather(*(_sleep(n, s) for n, s in SLEEPS.items()))
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(_fetch(session, u) for u in upstream_urls().values()))


@app.get("/")
async def index() -> dict[str, object]:
    return as_answer(dict(zip(SLEEPS, await _read_all(), strict=True)))
