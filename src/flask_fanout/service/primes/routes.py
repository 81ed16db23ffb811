"""The ``primes`` blueprint: ``GET /is_prime/<numbers>`` and ``POST /is_prime``."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from flask_fanout import CpuError, cpu_map, json_error

from ..openapi import (
    IS_PRIME_REQUEST,
    NUMBER_LIST_PATTERN,
    PRIME_MAP,
    PrimeResults,
    Responses,
    error,
    json_response,
    path_parameter,
    request_body,
    sync_view,
)
from .numbers import (
    ParsedNumbers,
    PrimeInputError,
    PrimeLimits,
    parse_json_numbers,
    parse_path_numbers,
)
from .primality import batch_cost, is_prime_batch

primes = APIBlueprint(
    "primes",
    __name__,
    tag={"name": "primes", "description": "Exact primality of base-10 integers."},
)

_LIMITS = (
    "Over the limits: FANOUT_PRIME_MAX_NUMBERS numbers (10000),"
    " FANOUT_PRIME_MAX_DIGITS digits per number (5000), FANOUT_PRIME_MAX_TOTAL_DIGITS"
    " in all (1000000); codes too_many_numbers, number_too_long, too_many_digits"
)
_CPU_ERRORS: Responses = {
    503: error(
        "cpu_unavailable: a worker process or the Dask cluster was lost;"
        " or overloaded: too many requests in flight.",
        retry_after=True,
    ),
    504: error("cpu_timeout: the work took longer than FANOUT_CPU_TIMEOUT."),
}


def _limits() -> PrimeLimits:
    limits: PrimeLimits = current_app.extensions["fanout_service"].config.service.prime_limits
    return limits


def _primality(numbers: ParsedNumbers) -> dict[str, bool]:
    """Test each distinct number once, on the CPU backend; map key -> prime."""
    distinct = {n.key: n.value for n in numbers}
    values = list(distinct.values())
    flags = cpu_map(is_prime_batch, values, batch_cost(values, numbers.digits))
    return dict(zip(distinct, flags, strict=True))


@primes.get("/is_prime/<path:numbers>")
@primes.doc(
    operation_id="isPrimeList",
    responses={
        200: json_response("Each number's canonical decimal string: prime or not.", PRIME_MAP),
        400: error("invalid_number: tokens that are not base-10 integers, listed in invalid."),
        413: error(_LIMITS + "."),
        **_CPU_ERRORS,
    },
)
@path_parameter(
    "numbers",
    description="Comma-separated base-10 integers (ASCII digits, optional sign,"
    " leading zeros allowed), e.g. 2,4,17,0011.",
    schema={"type": "string", "pattern": NUMBER_LIST_PATTERN},
    example="2,3,4",
)
@sync_view
def is_prime_list(numbers: str) -> Response:
    """Test comma-separated numbers given in the path.

    Answers an object keyed by each number's canonical decimal string (`0011` -> `11`,
    `+7` -> `7`, `-0` -> `0`); duplicates collapse into one key. Below 2^64 the
    answer is deterministic; above, BPSW plus a Miller-Rabin round. Negative
    numbers, 0 and 1 are not prime.
    """
    parsed = parse_path_numbers(numbers, _limits())
    return jsonify(_primality(parsed))


@primes.get("/is_prime/", strict_slashes=False)
@primes.doc(hide=True)
@sync_view
def is_prime_nothing() -> Response:
    """``GET /is_prime/``: an empty list, 400; ``GET /is_prime``: 405, only POST is allowed.

    Not strict about the slash, so ``GET /is_prime`` lands here instead of being
    redirected to ``/is_prime/`` with a 308 and an HTML body.
    """
    if not request.path.endswith("/"):
        raise MethodNotAllowed(valid_methods=["POST"])
    raise PrimeInputError(400, "invalid_number", "Give comma-separated integers: /is_prime/2,3,5")


@primes.post("/is_prime")
@primes.doc(
    operation_id="isPrimeBatch",
    responses={
        200: json_response("One result per number, in input order.", PrimeResults),
        400: error(
            "invalid_json (not UTF-8 JSON), invalid_body (no numbers list) or"
            " invalid_number (elements that are not integers: floats, booleans, null, ...)."
        ),
        413: error(_LIMITS + "; request_entity_too_large over FANOUT_MAX_BODY_BYTES."),
        **_CPU_ERRORS,
    },
)
@request_body(
    IS_PRIME_REQUEST,
    name="IsPrimeRequest",
    example={"numbers": [7, "7", 8, "170141183460469231731687303715884105727"]},
)
@sync_view
def is_prime_batch_body() -> Response:
    """Test a batch of numbers given in a JSON body.

    For batches too big for a URL. Numbers are JSON integers or decimal strings;
    the answer keeps input order and duplicates: `{"results": [{"n": "7", "prime": true}, ...]}`.
    """
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
