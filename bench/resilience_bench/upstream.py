"""The flaky upstream: answers ``GET /`` after a latency, or never, for a share of calls.

It runs as its own process (``python bench/resilience_bench/upstream.py --port N``), so its
event loop does not share a core's time slices with the generator's. Which calls hang
follows a seeded generator: the first ``n`` calls hang as often as the first ``n``
draws of ``random.Random(seed)`` fall under ``hang``. ``GET /count`` says how many calls
it has seen (``/count`` itself not included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import urllib.request
from pathlib import Path

SEED = 11
ANSWER = b'{"items": [1, 2, 3], "source": "flaky"}'


def serve_upstream(port: int, hang: float, latency: float, seed: int = SEED) -> None:
    """Answer after ``latency`` s, or never for a ``hang`` fraction of calls; ``/count``."""
    rng = random.Random(seed)
    calls = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if path == b"/count":
                    body = json.dumps({"calls": calls}).encode()
                else:
                    calls += 1
                    if rng.random() < hang:
                        await reader.read()  # no answer: wait for the client to hang up
                        return
                    await asyncio.sleep(latency)
                    body = ANSWER
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def upstream_command(port: int, hang: float, latency_ms: float) -> list[str]:
    """The command line that runs this module as the upstream on ``port``."""
    script = str(Path(__file__).resolve())
    options = ["--port", str(port), "--hang", str(hang), "--latency-ms", str(latency_ms)]
    return [sys.executable, script, *options]


def upstream_calls(port: int) -> int:
    """The calls the upstream on ``port`` has counted so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as answer:
        calls: int = json.load(answer)["calls"]
    return calls


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang", type=float, default=0.2)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    serve_upstream(args.port, args.hang, args.latency_ms / 1000, args.seed)
