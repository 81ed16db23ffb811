"""The cross-check: wrk, an independent C load generator, against the same servers.

wrk (Debian's package, installed with apt-get when missing) keeps ``C`` keep-alive
connections on 2 threads, like our generator a closed loop; ``wrk.lua`` counts the
answers of each status. wrk has no warm-up window and gives latency percentiles over
all answers only (its Lua cannot tell which request an answer belongs to), so its p99
includes the fast 503s; goodput is its 200s over the whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.proctree import sample

LUA = Path(__file__).with_name("wrk.lua")
THREADS = 2
_MARK = "WRK_JSON "


class WrkError(RuntimeError):
    """wrk is missing and could not be installed, or its run gave no figures."""


def ensure_wrk() -> str:
    """The path of ``wrk``, installing Debian's package first if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)
    found = shutil.which("wrk")
    if not found:
        raise WrkError("wrk is not installed and `apt-get install wrk` did not install it")
    return found


def run_wrk(
    url: str, concurrency: int, duration: float, timeout: float, server_pid: int | None = None
) -> dict[str, Any]:
    """One wrk run: its figures, with goodput and 503s per second, and the server's CPU."""
    command = [
        ensure_wrk(),
        *("-t", str(min(THREADS, concurrency)), "-c", str(concurrency)),
        *("-d", f"{max(1, round(duration))}s", "--timeout", f"{max(1, round(timeout))}s"),
        *("-s", str(LUA), url),
    ]
    before = sample(server_pid).cpu_seconds if server_pid else None
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + timeout + 30, check=False
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise WrkError(f"wrk gave no figures (exit {done.returncode}): {done.stderr[-500:]}")
    figures = summarize(json.loads(line[len(_MARK) :]))
    if before is not None and server_pid:
        figures["server_cpu_s"] = round(sample(server_pid).cpu_seconds - before, 3)
    return figures


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """wrk's raw figures as the load report's: per second, milliseconds, statuses."""
    seconds = max(raw["duration_us"] / 1e6, 1e-9)
    statuses = {str(k): v for k, v in sorted(raw["statuses"].items(), key=lambda kv: kv[0])}
    latency = raw["latency_us"]
    return {
        "generator": "wrk",
        "duration_s": round(seconds, 3),
        "answers": sum(statuses.values()),
        "statuses": statuses,
        "goodput_rps": round(statuses.get("200", 0) / seconds, 1),
        "shed_rps": round(statuses.get("503", 0) / seconds, 1),
        "errors": {kind: n for kind, n in raw["errors"].items() if n},
        "p50_ms": round(latency["p50"] / 1000, 1),
        "p90_ms": round(latency["p90"] / 1000, 1),
        "p99_ms": round(latency["p99"] / 1000, 1),
        "max_ms": round(latency["max"] / 1000, 1),
    }
