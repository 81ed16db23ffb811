"""The ``primes`` blueprint: ``GET /is_prime/<numbers>`` and ``POST /is_prime``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from flask_fanout import CpuError, cpu_map, json_error

from .primes import (
    Parsed,
    PrimeInputError,
    PrimeLimits,
    is_prime_batch,
    parse_json_numbers,
    parse_path_numbers,
    prime_cost,
)

primes = Blueprint("primes", __name__)


def _limits() -> PrimeLimits:
    limits: PrimeLimits = current_app.extensions["fanout_service"].config.service.prime_limits
    return limits


def _primality(numbers: list[Parsed]) -> dict[str, bool]:
    """Test each distinct number once, on the CPU backend; map key -> prime."""
    distinct = {n.key: n.value for n in numbers}
    flags = cpu_map(is_prime_batch, list(distinct.values()), prime_cost)
    return dict(zip(distinct, flags, strict=True))


@primes.get("/is_prime/<path:numbers>")
def is_prime_list(numbers: str) -> Response:
    """Comma-separated numbers in the path; answer ``{"<n>": true|false, ...}``."""
    parsed = parse_path_numbers(numbers, _limits())
    return jsonify(_primality(parsed))


@primes.get("/is_prime/")
def is_prime_nothing() -> Response:
    raise PrimeInputError(400, "invalid_number", "Give comma-separated integers: /is_prime/2,3,5")


@primes.post("/is_prime")
def is_prime_batch_body() -> Response:
    """``{"numbers": [...]}``; answer ``{"results": [{"n", "prime"}, ...]}`` in input order."""
    parsed = parse_json_numbers(request.get_data(cache=False), _limits())
    flags = _primality(parsed)
    return jsonify(results=[{"n": n.key, "prime": flags[n.key]} for n in parsed])


@primes.errorhandler(PrimeInputError)
def bad_numbers(exc: PrimeInputError) -> Response:
    return json_error(exc.status, exc.code, exc.message, **exc.details)


@primes.errorhandler(CpuError)
def cpu_failed(exc: CpuError) -> Response:
    status = 504 if exc.code == "cpu_timeout" else 503
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_error(status, exc.code, str(exc), headers=headers)
