"""The resilience benchmark's parts against real processes: the flaky upstream, one row."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes import HOST, Server, free_port
from resilience_bench.report import report
from resilience_bench.run import measure, median_row
from resilience_bench.upstream import SEED, upstream_calls, upstream_command

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "resilience.md"
LATENCY_MS = 20.0


def _upstream(hang: float, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    with Server(
        upstream_command(port, hang, LATENCY_MS),
        f"http://{HOST}:{port}/count",
        log=tmp_path / "upstream.log",
    ) as server:
        server.wait_ready(timeout=20)
        yield port


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[int]:
    """The upstream process, a third of its calls hanging."""
    yield from _upstream(1 / 3, tmp_path)


async def _call(port: int, wait: float) -> float | None:
    """One GET /api on its own connection: seconds to the answer, None if none came."""
    reader, writer = await asyncio.open_connection(HOST, port)
    began = time.monotonic()
    writer.write(b"GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
    except TimeoutError:
        return None
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK")
    return time.monotonic() - began


async def _calls(port: int, count: int, wait: float) -> list[float | None]:
    return await asyncio.gather(*(_call(port, wait) for _ in range(count)))


def test_the_upstream_hangs_its_seeded_share_of_calls_and_counts_them(flaky: int) -> None:
    count = 150
    draws = random.Random(SEED)
    expected = sum(draws.random() < 1 / 3 for _ in range(count))
    assert 0.25 * count < expected < 0.42 * count  # about a third, as configured
    answers = asyncio.run(_calls(flaky, count, wait=2.0))  # ample on a busy machine
    hung = [a for a in answers if a is None]
    answered = [a for a in answers if a is not None]
    assert len(hung) == expected
    assert min(answered) >= LATENCY_MS / 1000  # the others answer after the latency
    assert upstream_calls(flaky) == count  # /count itself is not a call


def test_a_real_row_renders_in_the_committed_layout(flaky: int, tmp_path: Path) -> None:
    argv = ["--rate", "40", "--duration", "1.5", "--rounds", "1"]
    args = argparse.Namespace(
        rate=40.0, duration=1.5, warmup=0.5, rounds=1, hang=1 / 3, latency_ms=LATENCY_MS,
        timeout=0.3,
    )  # fmt: skip
    figures = measure("none", args, flaky, tmp_path)
    assert figures["answers"] == 60 and figures["client_errors"] == 0
    assert 0 < figures["good_pct"] < 100 and figures["codes"].keys() == {"timeout"}
    assert figures["p99"] >= 300  # a hung call waits out the source's timeout
    assert figures["calls_per_request"] == pytest.approx(1.0, abs=0.1)
    text = report(args, argv, [median_row("none", [figures])], ("1.0", "2.0"))
    lines = text.splitlines()
    committed = COMMITTED.read_text().splitlines()
    assert lines[0] == committed[0] and lines[6:8] == committed[6:8]  # title, table head
    assert lines[2] == "Command: `python bench/resilience.py " + " ".join(argv) + "`"
    row = lines[8].split(" | ")
    assert row[0] == "| none" and len(row) == len(committed[8].split(" | "))
    assert row[-1] == f"timeout: {figures['codes']['timeout']} |"
    assert lines[-6:] == committed[-6:]  # the notes, policies included
