"""Running the load benchmark: fresh servers, the generators, every figure kept."""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from generator import LoadResult, run_load
from harness.meter import CpuMeter
from harness.processes import HOST, Server, ServerError
from harness.proctree import sample
from harness.quiet import wait_for_quiet
from harness.results import RAW
from load_bench.contenders import (
    ALL_CONTENDERS,
    Contender,
    Setup,
    contender_env,
    http_sources_config,
    start_upstream,
)
from load_bench.points import Point
from load_bench.wrk import WrkError, run_wrk


class Bench:
    """Runs the generators against servers it starts, and keeps every figure."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._upstream: Server | None = None
        self.upstream_url = f"http://{HOST}:{args.upstream_port}"
        self.http_config = http_sources_config(args.upstream_port, RAW)
        self.floor: list[Point] = []
        self.points: list[Point] = []
        self.wrk: list[Point] = []

    def setup(self, workload: str, port: int) -> Setup:
        return Setup(
            host=HOST,
            port=port,
            workload=workload,
            upstream=self.upstream_url,
            async_workers=self.args.async_workers,
            async_loop=self.args.async_loop,
            http_config=self.http_config,
        )

    @property
    def upstream(self) -> Server:
        """The upstream of the run under way."""
        if self._upstream is None:
            raise RuntimeError("no upstream: runs start one with fresh_upstream()")
        return self._upstream

    @contextmanager
    def fresh_upstream(self) -> Iterator[Server]:
        """A new upstream for one run, stopped after it: no run inherits what an
        earlier one left there (connections, memory, a run's timeouts)."""
        log = RAW / "logs" / "upstream.log"
        with start_upstream(HOST, self.args.upstream_port, log=log) as upstream:
            self._upstream = upstream
            try:
                yield upstream
            finally:
                self._upstream = None

    def quiet(self) -> dict[str, float]:
        """Wait, at most ``--quiet-wait`` seconds, for the machine to be quiet."""
        if self.args.quiet_wait <= 0:
            return {}
        found = wait_for_quiet(self.args.quiet_wait, self.args.quiet_cores, window=1.0)
        return {
            "quiet_wait_s": round(found.waited_s, 1),
            "other_cpu_cores_before": round(found.other_cores, 2),
        }

    def drive(
        self, url: str, concurrency: int, server_pid: int | None, *, close: bool = False
    ) -> tuple[LoadResult, dict[str, float]]:
        """One run of the generator, and the CPU the upstream and everybody else used in it.

        ``other_cpu_cores``: CPU used on the machine during the run by processes outside
        this benchmark's tree (the server, the upstream, the generator), in cores; above
        ~0.1 the row was measured on a machine that was not quiet.
        """
        gc.collect()
        quiet = self.quiet()
        upstream_before = sample(self.upstream.pid).cpu_seconds
        meter = CpuMeter()
        snap = meter.start()
        started = time.monotonic()
        result = run_load(
            url,
            concurrency,
            self.args.duration,
            max_requests=self.args.max_requests,
            timeout=self.args.timeout,
            server_pid=server_pid,
            close=close,
        )
        others = meter.stop(snap, time.monotonic() - started)
        upstream = sample(self.upstream.pid).cpu_seconds - upstream_before
        return result, {
            **quiet,
            "upstream_cpu_s": round(upstream, 3),
            "other_cpu_cores": round(others, 2),
        }

    def measure_floor(self) -> None:
        for concurrency in self.args.concurrency:
            url = f"{self.upstream_url}/api/data"
            with self.fresh_upstream() as upstream:
                result, cpu = self.drive(url, concurrency, upstream.pid)
            point = Point("floor", "floor", "generator floor", concurrency, result.to_dict())
            point.extra.update(cpu)
            self.floor.append(point)
            progress(point)

    def floor_rps(self, concurrency: int) -> float | None:
        return next((p.rps for p in self.floor if p.concurrency == concurrency), None)

    @contextmanager
    def serving(
        self, contender: Contender, workload: str, port: int, env: Mapping[str, str] = {}
    ) -> Iterator[Server]:
        """A fresh upstream, then a fresh server of ``contender`` on ``port`` (with
        ``env`` on top of its environment)."""
        with self.fresh_upstream():
            server = Server(
                contender.command(self.setup(workload, port)),
                f"http://{HOST}:{port}/",
                env={**contender_env(workload, self.upstream_url), **env},
                log=RAW / "logs" / f"{workload}-{contender.name}.log",
            )
            with server:
                server.wait_ready()
                yield server

    def measure(
        self,
        contender: Contender,
        workload: str,
        port: int,
        concurrency: int,
        *,
        env: Mapping[str, str] = {},
        close: bool = False,
    ) -> Point:
        """A fresh server, one run of our generator at ``concurrency``, the server stopped.

        ``env``: more environment for the server; ``close``: a connection per request.
        """
        point = Point(workload, contender.name, contender.label, concurrency, {})
        try:
            with self.serving(contender, workload, port, env) as server:
                result, cpu = self.drive(server.url, concurrency, server.pid, close=close)
        except ServerError as exc:
            point.failure = str(exc).splitlines()[0]
            return point
        point.figures = result.to_dict()
        point.floor_rps = self.floor_rps(concurrency)
        point.extra.update(cpu)
        return point

    def measure_wrk(
        self, contender: Contender, workload: str, port: int, concurrency: int
    ) -> Point:
        """A fresh server, one run of wrk at ``concurrency``, the server stopped."""
        point = Point(workload, contender.name, contender.label, concurrency, {})
        point.extra["generator"] = "wrk"
        try:
            with self.serving(contender, workload, port) as server:
                point.extra.update(self.quiet())
                point.figures = run_wrk(
                    server.url, concurrency, self.args.duration, self.args.timeout, server.pid
                )
        except (ServerError, WrkError) as exc:
            point.failure = str(exc).splitlines()[0]
        return point

    def run_load(self) -> None:
        if not self.args.no_floor:
            self.measure_floor()
        for workload in self.args.workloads:
            for index, name in enumerate(self.args.contenders):
                port = self.args.base_port + index
                for concurrency in self.args.concurrency:
                    point = self.measure(ALL_CONTENDERS[name], workload, port, concurrency)
                    self.points.append(point)
                    progress(point)
                    self.save_json()
                for concurrency in self.args.wrk_concurrency:
                    point = self.measure_wrk(ALL_CONTENDERS[name], workload, port, concurrency)
                    self.wrk.append(point)
                    progress(point)
                    self.save_json()

    def save_json(self, meta: dict[str, Any] | None = None) -> None:
        """The figures so far: in raw/ during the run, next to the report at the end."""
        output = self.args.output
        path = output.with_suffix(".json") if meta else RAW / f"{output.name}.partial.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "meta": meta or {},
            "floor": [p.to_dict() for p in self.floor],
            "points": [p.to_dict() for p in self.points],
            "wrk": [p.to_dict() for p in self.wrk],
        }
        path.write_text(json.dumps(payload, indent=1) + "\n")


def progress(point: Point) -> None:
    """One line per measured point, as the run goes."""
    tool = point.extra.get("generator", "loadgen")
    head = f"{point.workload:6} {point.contender:12} {tool:7} C={point.concurrency:<5}"
    if point.failure:
        print(f"{head} FAILED: {point.failure}", flush=True)
        return
    f = point.figures
    p99 = point.p99_ok_ms if tool == "loadgen" else f["p99_ms"]
    print(
        f"{head} {point.rps:9,.1f} 200s/s  503s/s {f.get('shed_rps', 0):8,.1f}"
        f"  p99 {p99:8,.1f} ms  errors {f['errors'] or 0}  statuses {f['statuses']}",
        flush=True,
    )
