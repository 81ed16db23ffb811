"""Resilience benchmark: GET / against a flaky upstream, with and without call policies.

    python bench/resilience.py --rate 200 --duration 8 --rounds 3

A flaky upstream (its own process) answers ``GET /`` after ``--latency-ms``, but a
``--hang`` fraction of its calls (20% by default) never answer. ``fanout serve``
runs three times on fresh ports, side by side in one run, with the same sources
(a file, and ``api`` on the flaky upstream with ``timeout = --timeout``):

- ``none``: no policy, today's defence: the timeout;
- ``hedge``: a breaker, a bulkhead, retries and a hedge after the call's own p95;
- ``hedge+cache``: the same plus ``[sources.api.cache] ttl = 1.0, stale_if_error = 30,
  stale_while_revalidate = 30``.

Each is driven open loop, ``--rate`` requests a second for ``--duration``
seconds (so a faster answer cannot bring more load). Reported: goodput (answers
whose every source answered: no entry in ``errors``; a stale value counts as an
answer and is counted apart), latency percentiles, and the upstream calls per
request (counted at the upstream). Self-contained: stdlib and flask-fanout only.
Writes ``bench/results/resilience.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "resilience.md"
FANOUT = [sys.executable, "-m", "flask_fanout.server.cli"]
UPSTREAM = [sys.executable, __file__, "--upstream-port"]
SAMPLE = ROOT / "src" / "flask_fanout" / "service" / "demo" / "data" / "sample.txt"

POLICIES = """
[sources.api.breaker]
failure_rate = 0.5
window = 200
min_calls = 50
[sources.api.bulkhead]
max_concurrent = 200
[sources.api.retry]
attempts = 2
budget = 0.1
backoff = 0.01
[sources.api.hedge]
after = "p95"
budget = 0.3
min_samples = 5
"""
CACHE = """
[sources.api.cache]
ttl = 1.0
stale_if_error = 30.0
stale_while_revalidate = 30.0
"""
CONFIGS = {"none": "", "hedge": POLICIES, "hedge+cache": POLICIES + CACHE}


# ------------------------------------------------------------------ the flaky upstream


def serve_upstream(port: int, hang: float, latency: float, seed: int) -> None:
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
                    body = b'{"items": [1, 2, 3], "source": "flaky"}'
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


def upstream_calls(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as answer:
        calls: int = json.load(answer)["calls"]
    return calls


# ------------------------------------------------------------------ the load generator


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    good: int = 0
    stale: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0


class _Connections:
    """Kept-alive connections to the service: reused when free, opened when none is."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.free:
            return self.free.pop()
        return await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        for _, writer in self.free:
            writer.close()


async def _request(connections: _Connections, scheduled: float, run: Run) -> None:
    """One GET /, its latency counted from when it was due (no coordinated omission)."""
    try:
        reader, writer = await connections.get()
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = json.loads(await reader.readexactly(length))
    except (OSError, asyncio.IncompleteReadError, ValueError):
        run.errors += 1
        return
    run.latencies.append(time.monotonic() - scheduled)
    connections.free.append((reader, writer))
    status = int(head.split(b" ", 2)[1])
    run.statuses[status] = run.statuses.get(status, 0) + 1
    for error in body.get("errors", {}).values():
        run.codes[error["code"]] = run.codes.get(error["code"], 0) + 1
    if status == 200 and not body.get("errors"):
        run.good += 1
        run.stale += bool(body.get("stale"))


async def _load(port: int, rate: float, duration: float) -> Run:
    """Open loop: a request every 1/rate s, whatever the answers do."""
    run, connections, tasks = Run(), _Connections(port), []
    began = time.monotonic()
    for n in range(int(rate * duration)):
        due = began + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(_request(connections, due, run)))
    await asyncio.gather(*tasks)
    run.seconds = time.monotonic() - began
    connections.close()
    return run


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def wait_serving(port: int, path: str = "/healthz", seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2),
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing serves on port {port}")


def breaker_openings(port: int) -> int:
    """Times the ``api`` breaker opened, summed over the workers (from ``/metrics``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    prefix = 'fanout_breaker_transitions_total{source="api",to="open"}'
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return sum(int(float(line.split()[-1])) for line in lines)


def config_text(upstream_port: int, timeout: float, policies: str) -> str:
    return (
        f'[sources.file]\ntype = "file"\npath = "{SAMPLE}"\n\n'
        f'[sources.api]\ntype = "http"\nurl = "http://127.0.0.1:{upstream_port}/api"\n'
        f"timeout = {timeout}\n{policies}"
    )


def measure(name: str, args: argparse.Namespace, upstream_port: int, folder: Path) -> dict:
    config = folder / f"{name.replace('+', '_')}.toml"
    config.write_text(config_text(upstream_port, args.timeout, CONFIGS[name]))
    port = free_port()
    server = start(
        [*FANOUT, "serve", "--port", str(port), "--config", str(config)],
        env={"FANOUT_ACCESS_LOG": "0", "FANOUT_CPU_BACKEND": "inline"},
    )
    try:
        wait_serving(port)
        asyncio.run(_load(port, args.rate, args.warmup))  # connections, p95 samples
        before = upstream_calls(upstream_port)
        run = asyncio.run(_load(port, args.rate, args.duration))
        calls = upstream_calls(upstream_port) - before
        opened = breaker_openings(port)
    finally:
        stop(server)
    ordered = sorted(run.latencies)
    answered = len(ordered)

    def pct(q: float) -> float:
        return 1000 * ordered[min(answered - 1, int(q * answered))] if answered else float("nan")

    return {
        "config": name,
        "answers": answered,
        "rps": answered / run.seconds,
        "goodput": run.good / run.seconds,
        "good_pct": 100 * run.good / max(1, answered),
        "stale_pct": 100 * run.stale / max(1, answered),
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "calls_per_request": calls / max(1, answered),
        "client_errors": run.errors,
        "statuses": run.statuses,
        "codes": run.codes,
        "breaker_opened": opened,
    }


def _median_row(name: str, runs: list[dict]) -> dict:
    """The median of each figure over the rounds, and what the rounds add up to."""
    row: dict = {"config": name, "rounds": runs}
    for key in ("rps", "goodput", "good_pct", "stale_pct", "p50", "p90", "p99"):
        row[key] = statistics.median(r[key] for r in runs)
    row["calls_per_request"] = statistics.median(r["calls_per_request"] for r in runs)
    row["breaker_opened"] = sum(r["breaker_opened"] for r in runs)
    codes: dict[str, int] = {}
    for r in runs:
        for code, count in r["codes"].items():
            codes[code] = codes.get(code, 0) + count
    row["codes"] = codes
    return row


def report(args: argparse.Namespace, rows: list[dict], load: tuple[str, str]) -> str:
    command = "python bench/resilience.py " + " ".join(sys.argv[1:])
    lines = [
        "# Resilience: GET / against a flaky upstream, with and without call policies",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Upstream: answers after {args.latency_ms:g} ms, {100 * args.hang:g}% of calls hang;"
        f" source `api` timeout {args.timeout:g} s, plus a file source. `fanout serve` with"
        f" its defaults (2 gevent workers), on a fresh port per row. Open loop: {args.rate:g}"
        f" requests/s for {args.duration:g} s per row after a {args.warmup:g} s warm-up, on"
        " kept-alive connections (a new one when none is free); latency counted from when"
        f" each request was due. {args.rounds} rounds, the configurations interleaved in each;"
        " figures are medians over the rounds (p99 and goodput of each round in brackets)."
        f" Load average before / after: {load[0]} / {load[1]} (2 cores).",
        "",
        "| policies | answers/s | goodput/s | good % | stale % | p50 ms | p90 ms | p99 ms"
        " | upstream calls / request | breaker opened | source errors (all rounds) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(r["codes"].items())) or "none"
        p99s = " / ".join(f"{x['p99']:.0f}" for x in r["rounds"])
        goods = " / ".join(f"{x['goodput']:.0f}" for x in r["rounds"])
        lines.append(
            f"| {r['config']} | {r['rps']:.1f} | {r['goodput']:.1f} ({goods})"
            f" | {r['good_pct']:.1f} | {r['stale_pct']:.1f} | {r['p50']:.1f} | {r['p90']:.1f}"
            f" | {r['p99']:.1f} ({p99s}) | {r['calls_per_request']:.3f}"
            f" | {r['breaker_opened']} | {codes} |"
        )
    lines += [
        "",
        "- goodput: answers per second whose every source answered (no entry in `errors`);",
        "  a stale `api` value (`stale_if_error`) counts as an answer; `stale %` says how many.",
        "- upstream calls / request: calls counted at the flaky upstream during the row,",
        "  hedges and retries included, over the answers of the row.",
        "- policies `hedge`: " + CONFIGS["hedge"].strip().replace("\n", "; "),
        "- policies `hedge+cache`: the same and " + CACHE.strip().replace("\n", "; "),
    ]
    return "\n".join(lines) + "\n"


def _load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hang", type=float, default=0.2)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream_port:  # the child process: the flaky upstream itself
        serve_upstream(args.upstream_port, args.hang, args.latency_ms / 1000, seed=11)
        return
    upstream_port = free_port()
    upstream = start(
        [
            *UPSTREAM,
            str(upstream_port),
            "--hang",
            str(args.hang),
            "--latency-ms",
            str(args.latency_ms),
        ]
    )
    names = args.configs.split(",")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    load_before = _load_average()
    try:
        wait_serving(upstream_port, "/count")
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(args.rounds):
                for name in names:
                    runs[name].append(measure(name, args, upstream_port, Path(folder)))
                    print(json.dumps(runs[name][-1]), flush=True)
    finally:
        stop(upstream)
    rows = [_median_row(name, runs[name]) for name in names]
    text = report(args, rows, (load_before, _load_average()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
