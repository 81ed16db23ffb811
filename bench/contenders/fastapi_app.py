"""Contender: FastAPI on uvicorn, the three reads with ``asyncio.gather``.

The http workload uses one aiohttp ``ClientSession`` per worker process (httpx's
``AsyncClient`` collapses to ~16 req/s at 200 concurrent requests on this machine):

    BENCH_WORKLOAD=sleeps PYTHONPATH=bench/contenders \\
        uvicorn fastapi_app:app --port 18104 --workers 1 --no-access-log
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aio_common import new_session, read_all
from fastapi import FastAPI
from workload import WORKLOAD

_session: aiohttp.ClientSession | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global _session
    if WORKLOAD == "http":
        _session = new_session()
    yield
    if _session is not None:
        await _session.close()


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def index() -> dict[str, object]:
    return await read_all(_session)
