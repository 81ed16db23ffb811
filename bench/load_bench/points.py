"""One measured point of the load benchmark, and how it goes to and from the JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

IDEAL_LATENCY_S = 0.3  # the slowest of the three reads


def _figure(figures: dict[str, Any], name: str, fallback: str) -> float:
    """A figure, or the older one it replaced (JSON of runs before goodput existed)."""
    value = figures.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = figures.get(fallback, math.nan)
    return float(value) if value is not None else math.nan


@dataclass
class Point:
    """One run of a generator (ours or wrk) against one server at one concurrency."""

    workload: str  # "sleeps", "http" or "floor"
    contender: str
    label: str
    concurrency: int
    figures: dict[str, Any]  # LoadResult.to_dict(), or wrk's figures
    floor_rps: float | None = None
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ideal_rps(self) -> float:
        return self.concurrency / IDEAL_LATENCY_S

    @property
    def rps(self) -> float:
        """Goodput: 200s per second over the steady-state window."""
        return _figure(self.figures, "goodput_rps", "rps_2xx")

    @property
    def p99_ok_ms(self) -> float:
        """The p99 of the 200s' latencies."""
        return _figure(self.figures, "p99_200_ms", "p99_2xx_ms")

    @property
    def p50_ok_ms(self) -> float:
        return _figure(self.figures, "p50_200_ms", "p50_2xx_ms")

    @property
    def server_cpu_ms(self) -> float:
        server = self.figures.get("server") or {}
        answers = self.figures.get("answers") or 0
        if not server or not answers:
            return math.nan
        return 1000 * float(server["cpu_seconds"]) / answers

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "contender": self.contender,
            "label": self.label,
            "concurrency": self.concurrency,
            "ideal_rps": round(self.ideal_rps, 1),
            "floor_rps": self.floor_rps,
            "fraction_of_ideal": ratio(self.rps, self.ideal_rps),
            "fraction_of_floor": ratio(self.rps, self.floor_rps),
            "server_cpu_ms_per_answer": _round(self.server_cpu_ms, 3),
            "failure": self.failure,
            **self.extra,
            "figures": self.figures,
        }


_DERIVED = frozenset(
    {"ideal_rps", "fraction_of_ideal", "fraction_of_floor", "server_cpu_ms_per_answer"}
)
_FIELDS = frozenset({"workload", "contender", "label", "concurrency", "figures"})


def point_from_dict(data: dict[str, Any]) -> Point:
    """The inverse of :meth:`Point.to_dict` (derived figures are recomputed)."""
    known = _DERIVED | _FIELDS | {"floor_rps", "failure"}
    return Point(
        data["workload"],
        data["contender"],
        data["label"],
        data["concurrency"],
        data["figures"],
        floor_rps=data.get("floor_rps"),
        failure=data.get("failure"),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _round(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def ratio(value: float, reference: float | None) -> float | None:
    if not reference or math.isnan(value):
        return None
    return round(value / reference, 3)
