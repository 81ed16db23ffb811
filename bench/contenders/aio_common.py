"""The three reads as coroutines, for the asyncio contenders (FastAPI, aiohttp)."""

from __future__ import annotations

import asyncio

import aiohttp
from workload import DELAYS_MS, SLEEPS, WORKLOAD, as_answer, upstream_urls


def new_session() -> aiohttp.ClientSession:
    """One shared session per process; no limit on connections (the default is 100)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def _sleep(name: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"{name} read complete"


async def _fetch(session: aiohttp.ClientSession, url: str) -> object:
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def read_all(session: aiohttp.ClientSession | None) -> dict[str, object]:
    """The example's answer, its three reads run concurrently with ``asyncio.gather``."""
    values: list[object]
    if WORKLOAD == "sleeps":
        values = await asyncio.gather(*(_sleep(n, s) for n, s in SLEEPS.items()))
    else:
        assert session is not None
        values = await asyncio.gather(*(_fetch(session, u) for u in upstream_urls().values()))
    return as_answer(dict(zip(DELAYS_MS, values, strict=True)))
