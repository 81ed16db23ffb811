"""Typed, validated ``FANOUT_*`` settings.

Settings arrive as strings (environment, TOML) or as Python values (``app.config``).
Each one is declared once with its parser, so a bad value stops start-up with a
message that names the key, instead of failing later inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")

STATIC_MAX_INFLIGHT = 128  # FANOUT_MAX_INFLIGHT's default when FANOUT_ADMISSION is static


class ConfigError(ValueError):
    """A setting is missing or has a value that cannot work."""


def parse_int(minimum: int = 0) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a boolean")
        number = int(str(value).strip()) if not isinstance(value, int) else value
        if number < minimum:
            raise ValueError(f"must be >= {minimum}")
        return number

    return parse


def parse_float(minimum: float = 0.0, *, inclusive: bool = False) -> Callable[[object], float]:
    def parse(value: object) -> float:
        if isinstance(value, bool):
            raise ValueError("expected a number, got a boolean")
        number = float(str(value).strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        if inclusive and not number >= minimum:
            raise ValueError(f"must be >= {minimum}")
        if not inclusive and not number > minimum:
            raise ValueError(f"must be > {minimum}")
        return number

    return parse


def parse_choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return parse


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def parse_optional_str(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def read_setting(
    source: Mapping[str, Any], key: str, parse: Callable[[object], T], default: T
) -> T:
    """Parse ``source[key]`` (or return ``default``), naming ``key`` on failure."""
    if key not in source or source[key] is None or source[key] == "":
        return default
    try:
        return parse(source[key])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: invalid value {source[key]!r}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    """The extension's settings, one ``FANOUT_*`` key each."""

    io_threads: int = 1536
    """FANOUT_IO_THREADS: I/O pool size per process; sized for waiting, not for CPUs.

    Each in-flight request holds one slot per source for as long as that source
    takes, so this must cover the calls waiting at once: 128 capped a worker at
    ~210 requests/s on three sources of 0.1/0.2/0.3 s. With those sources a
    request holds two slots on average (0.6 slot-seconds per 0.3 s), so 1536
    covers the adaptive ceiling of 768 (twice the ceiling, as 2048 against
    1024 gave fewer 200s in 4 of 4 interleaved runs at 1,000-1,500 clients at
    the ceiling of 512: no gain, a call past the pool waits its turn). Under
    gevent a slot is a greenlet (a few KB); threads are started only when needed.
    """
    timeout: float = 5.0
    """FANOUT_TIMEOUT: default per-call timeout in seconds."""
    deadline: float = 10.0
    """FANOUT_DEADLINE: longest a whole fan-out may take, in seconds."""
    admission: str = "adaptive"
    """FANOUT_ADMISSION: adaptive or static, how a worker's in-flight limit is set.

    adaptive: a gradient controller (:mod:`flask_fanout.admission.limit`) moves
    the limit between FANOUT_MIN_INFLIGHT and FANOUT_MAX_INFLIGHT, from the
    latency of admitted requests against their no-load latency; it starts at
    256 (or the ceiling, if lower). static: the limit is FANOUT_MAX_INFLIGHT,
    always (128 unless set, the fixed limit of earlier versions)."""
    max_inflight: int = 768
    """FANOUT_MAX_INFLIGHT: the most requests a worker serves at once before answering 503.

    adaptive: the controller's ceiling, 768: the sleeps workload at 1,500
    clients gave 4,125-4,403 200s/s under it against 3,028-3,062 under 512
    (where it bound) and 3,936-3,938 under 1024, and the http workload settles
    below it, so the controller decides (README, Admission control); static: the limit, 128
    unless set. Measured with 2 balanced gevent workers: 200 clients put ~100 on
    each (so 128 never turns one away), and more admitted requests than the CPU
    can finish in about 0.3 s only make every admitted answer slower."""
    min_inflight: int = 8
    """FANOUT_MIN_INFLIGHT: the adaptive limit's floor, however slow requests get.

    A worker keeps serving a few requests even when every one is slow (a slow
    source rather than a busy CPU), and learns their new no-load latency."""
    latency_tolerance: float = 1.12
    """FANOUT_LATENCY_TOLERANCE: how much slower than at no load (>= 1.0) the p90
    of admitted requests may get before the adaptive limit shrinks.

    1.12: on the p90 it held the p99 of the http workload's 200s at 393-426 ms
    (1.2: 445-480) at 1,000-1,500 clients for as many 200s, and the sleeps
    workload's goodput; 1.1 cost sleeps 200s (README, Admission control)."""
    reject_pause: float = 2.0
    """FANOUT_REJECT_PAUSE: the Retry-After of a 503, rounded up to whole seconds;
    under gevent, a connection turned away again before then gets that next 503
    only 0.5-1 x this many seconds (jittered) after its last one. Keeps clients
    that ignore Retry-After from starving the worker. With adaptive admission a
    connection's first 503 is held too, 0.5-1 x this (clients that connect
    per request then wait held rather than in the listen queue, in front of
    admitted ones). 2 s rather than 1 halves the 503s of clients that retry at
    once, and the CPU they cost: 2-12 % more 200s at 1,000-1,500 clients on
    both workloads (README, Admission control).
    0 turns holding off."""
    cpu_backend: str = "process"
    """FANOUT_CPU_BACKEND: process, dask or inline."""
    cpu_workers: int = max(1, os.cpu_count() or 1)
    """FANOUT_CPU_WORKERS: processes of the process backend."""
    cpu_timeout: float = 30.0
    """FANOUT_CPU_TIMEOUT: CPU deadline per request, in seconds."""
    dask_address: str | None = None
    """FANOUT_DASK_ADDRESS: scheduler address such as tcp://10.0.0.5:8786."""
    metrics: bool = True
    """FANOUT_METRICS: record Prometheus metrics (requests, gather calls, pools)."""
    access_log: bool = True
    """FANOUT_ACCESS_LOG: one line per request on the ``flask_fanout.access`` logger."""

    @classmethod
    def from_mapping(cls, source: Mapping[str, Any]) -> Settings:
        """Read every ``FANOUT_*`` key this class declares from ``source``."""
        defaults = cls()
        parsers: dict[str, Callable[[object], Any]] = {
            "io_threads": parse_int(1),
            "timeout": parse_float(),
            "deadline": parse_float(),
            "admission": parse_choice("adaptive", "static"),
            "max_inflight": parse_int(1),
            "min_inflight": parse_int(1),
            "latency_tolerance": parse_float(1.0, inclusive=True),
            "reject_pause": parse_float(0.0, inclusive=True),
            "cpu_backend": parse_choice("process", "dask", "inline"),
            "cpu_workers": parse_int(1),
            "cpu_timeout": parse_float(),
            "dask_address": parse_optional_str,
            "metrics": parse_bool,
            "access_log": parse_bool,
        }
        values = {
            field.name: read_setting(
                source,
                f"FANOUT_{field.name.upper()}",
                parsers[field.name],
                getattr(defaults, field.name),
            )
            for field in fields(cls)
        }
        if (
            values["admission"] == "static"
            and read_setting(source, "FANOUT_MAX_INFLIGHT", parsers["max_inflight"], None) is None
        ):
            values["max_inflight"] = STATIC_MAX_INFLIGHT
        if read_setting(source, "FANOUT_MIN_INFLIGHT", parsers["min_inflight"], None) is None:
            values["min_inflight"] = min(values["min_inflight"], values["max_inflight"])
        settings = cls(**values)
        if settings.admission == "adaptive" and settings.min_inflight > settings.max_inflight:
            raise ConfigError(
                f"FANOUT_MIN_INFLIGHT: {settings.min_inflight} is above "
                f"FANOUT_MAX_INFLIGHT ({settings.max_inflight})"
            )
        if settings.cpu_backend == "dask" and not settings.dask_address:
            raise ConfigError("FANOUT_DASK_ADDRESS: required when FANOUT_CPU_BACKEND is dask")
        return settings
