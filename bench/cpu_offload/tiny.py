"""Part 2: a tiny request end to end, against ``/healthz``, the floor."""

from __future__ import annotations

import http.client
import json
import statistics
import time
from dataclasses import dataclass

from cpu_offload.inputs import Sizes
from cpu_offload.server import fanout_server, request
from harness.processes import HOST
from harness.results import verdict
from harness.rounds import percentile

TARGET_TINY_MS = 5.0
TINY_PATH = "/is_prime/7,11,13"
TINY_ANSWER = {"7": True, "11": True, "13": True}


@dataclass
class Tiny:
    latencies_ms: dict[str, list[float]]
    warmup: int


def run_tiny(sizes: Sizes) -> Tiny:
    print(f"2. tiny requests: {sizes.tiny_requests} x GET {TINY_PATH} and GET /healthz")
    paths = [TINY_PATH, "/healthz"]
    with fanout_server() as server:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        try:
            for _ in range(sizes.tiny_warmup):
                for path in paths:
                    get_checked(conn, server.port, path)
            latencies: dict[str, list[float]] = {path: [] for path in paths}
            for i in range(sizes.tiny_requests):
                for path in paths if i % 2 == 0 else paths[::-1]:
                    start = time.perf_counter()
                    get_checked(conn, server.port, path)
                    latencies[path].append((time.perf_counter() - start) * 1000)
        finally:
            conn.close()
    return Tiny(latencies, sizes.tiny_warmup)


def get_checked(conn: http.client.HTTPConnection, port: int, path: str) -> None:
    status, data = request(port, "GET", path, conn=conn)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
    if path == TINY_PATH and json.loads(data) != TINY_ANSWER:
        raise AssertionError(f"GET {path} answered {data!r}")


def tiny_section(tiny: Tiny) -> list[str]:
    rows = [
        "## 2. Tiny request, end to end",
        "",
        f"How to read: latency of one request on a reused keep-alive connection "
        f"(`http.client`), one at a time, the two paths alternating, after "
        f"{tiny.warmup} warm-up requests each. `/healthz` is the floor of "
        "Flask + gunicorn + this client; three small numbers run inline (estimated cost "
        "below 2 ms), no process round trip.",
        "",
        "| request | n | median | p90 | p99 | max | median - healthz median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    floor = statistics.median(tiny.latencies_ms["/healthz"])
    for path, values in tiny.latencies_ms.items():
        median = statistics.median(values)
        rows.append(
            f"| `GET {path}` | {len(values)} | {median:.2f} ms | {percentile(values, 90):.2f} ms "
            f"| {percentile(values, 99):.2f} ms | {max(values):.2f} ms | {median - floor:+.2f} ms |"
        )
    median = statistics.median(tiny.latencies_ms[TINY_PATH])
    rows += [
        "",
        f"- Target (median under {TARGET_TINY_MS:g} ms): {verdict(median < TARGET_TINY_MS)} "
        f"({median:.2f} ms).",
        "",
    ]
    return rows
