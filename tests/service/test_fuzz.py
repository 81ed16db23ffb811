"""Fuzzing: schemathesis against ``/openapi.json``, hypothesis properties of parser and primality.

What must hold for any input: no 5xx, never an HTML page, every error is JSON
(``{"error", "message", ...}``), every response matches the spec (status code,
content type, headers, body schema), the parsers raise nothing but
:class:`PrimeInputError`, and ``is_prime`` agrees with sympy.

Everything runs in-process on the WSGI app with the inline CPU backend, over real
sources (a text file and an SQLite file) and a declared route with typed path
and query parameters, with a fixed number of examples and
derandomized generation, so a run is repeatable and takes well under a minute.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
import sympy
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_fanout.service import create_app
from flask_fanout.service.primes import (
    PrimeInputError,
    PrimeLimits,
    is_prime,
    is_prime_batch,
    parse_json_numbers,
    parse_path_numbers,
)

# --------------------------------------------------------------------------- the app under test

# schemathesis' pytest integration needs the schema when the module is collected
# (its fixture-based loader does not work with pytest 9), so the app and its data
# files are built at import time, in a directory removed with the module.
_DATA = tempfile.TemporaryDirectory(prefix="fanout-fuzz-")


def _build_app(root: Path) -> Flask:
    (root / "notes.txt").write_text("hello from a real file\n")
    db = root / "shop.sqlite3"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        connection.executemany(
            "INSERT INTO items VALUES (?, ?, ?)", [(1, "pen", 1.5), (2, "ink", 3.25)]
        )
    connection.close()
    config = root / "fanout.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [sources.file]
            type = "file"
            path = "{root / "notes.txt"}"

            [sources.db]
            type = "sql"
            url = "sqlite:///{db}"
            query = "SELECT id, name, price FROM items"

            [routes.note]
            path = "/notes/<int:n>/<float:x>/<name>"
            sources = ["file"]
            [routes.note.query.limit]
            type = "int"
            [routes.note.query.ratio]
            type = "float"
            default = 1.5
            [routes.note.query.tag]
            type = "string"
            default = ""
            """
        )
    )
    # Small limits, so that generated input reaches the 413 answers too. Admission
    # holds a slot until the WSGI response is closed, which the test clients of
    # Werkzeug and schemathesis do not do: a high bound keeps thousands of
    # requests on this one app from being answered 503 overloaded.
    app = create_app(
        {
            "FANOUT_CONFIG": str(config),
            "FANOUT_CPU_BACKEND": "inline",
            "FANOUT_ADMISSION": "static",  # a fixed limit: the fuzzer must not meet a 503
            "FANOUT_MAX_INFLIGHT": 10**9,
            "FANOUT_PRIME_MAX_NUMBERS": 50,
            "FANOUT_PRIME_MAX_DIGITS": 60,
            "FANOUT_PRIME_MAX_TOTAL_DIGITS": 400,
            "FANOUT_MAX_BODY_BYTES": 64 * 1024,
        }
    )
    app.testing = True
    return app


APP = _build_app(Path(_DATA.name))

SCHEMA = schemathesis.openapi.from_wsgi(
    "/openapi.json",
    APP,
    config=schemathesis.Config.from_dict(
        {"generation": {"max-examples": 80, "deterministic": True, "database": "none"}}
    ),
)


@pytest.fixture(scope="module", autouse=True)
def _remove_data() -> Any:
    yield
    _DATA.cleanup()


@pytest.fixture
def client() -> FlaskClient:
    return APP.test_client()


def assert_json_answer(status: int, content_type: str | None, body: bytes) -> Any:
    """No 5xx, no HTML: a JSON document, and for an error the error shape."""
    assert status < 500, body[:300]
    assert content_type is not None and content_type.split(";")[0] == "application/json", (
        content_type,
        body[:300],
    )
    document = json.loads(body)
    if status >= 400:
        assert isinstance(document.get("error"), str) and document["error"], document
        assert isinstance(document.get("message"), str) and document["message"], document
    return document


# --------------------------------------------------------------------------- schemathesis


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_spec(case: schemathesis.Case) -> None:
    """Every documented operation, positive and negative data: the answer matches the spec."""
    response = case.call_and_validate()  # no 5xx; status, type, headers, body as specified
    if response.status_code == 204 or case.method.upper() == "HEAD":
        return
    content_type = response.headers["content-type"][0]
    if case.path == "/metrics" and response.status_code == 200:
        assert content_type.startswith("text/plain")  # Prometheus text format
        return
    assert_json_answer(response.status_code, content_type, response.content)


def test_every_operation_is_fuzzed() -> None:
    operations = {
        f"{result.ok().method.upper()} {result.ok().path}" for result in SCHEMA.get_all_operations()
    }
    assert operations == {
        "GET /",
        "GET /is_prime/{numbers}",
        "POST /is_prime",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /notes/{n}/{x}/{name}",
    }


# --------------------------------------------------------------------------- the parsers

LIMITS = PrimeLimits(max_numbers=50, max_digits=60, max_total_digits=400)

# Text that looks like numbers often enough to get past the first token.
NUMBERISH = st.text(
    alphabet=st.sampled_from("0123456789,+- \t\n.eExX_٣０¹\x00/%") | st.characters(codec="utf-8"),
    max_size=200,
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**70), 10**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.from_regex(r"[+-]?[0-9]{1,70}", fullmatch=True)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
# Elements of "numbers": mostly numbers, some of everything else.
ELEMENTS = st.integers(-(10**70), 10**70) | st.from_regex(r"[+-]?[0-9]{1,70}", fullmatch=True)
ELEMENTS = ELEMENTS | ELEMENTS | SCALARS | st.lists(SCALARS, max_size=2)
SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, database=None)


def _check_parsed(parsed: list[Any], tokens: list[str]) -> None:
    assert len(parsed) == len(tokens)
    for item, token in zip(parsed, tokens, strict=True):
        assert item.key == str(int(token))  # small numbers: int() is an independent oracle
        assert int(item.value) == int(token)


@SETTINGS
@given(NUMBERISH)
def test_path_parser_raises_only_input_errors(text: str) -> None:
    try:
        parsed = parse_path_numbers(text, LIMITS)
    except PrimeInputError as exc:
        assert exc.status in (400, 413) and exc.code and exc.message
        json.dumps(exc.to_dict())  # the error body is serializable
    else:
        _check_parsed(parsed, text.split(","))


@SETTINGS
@given(st.binary(max_size=300) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_json_parser_raises_only_input_errors(body: bytes) -> None:
    try:
        parse_json_numbers(body, LIMITS)
    except PrimeInputError as exc:
        assert exc.status in (400, 413) and exc.code and exc.message
        json.dumps(exc.to_dict())


@SETTINGS
@given(st.lists(ELEMENTS, max_size=60))
def test_json_numbers_lists(items: list[Any]) -> None:
    body = json.dumps({"numbers": items})
    try:
        parsed = parse_json_numbers(body, LIMITS)
    except PrimeInputError as exc:
        assert exc.status in (400, 413) and exc.code and exc.message
        json.dumps(exc.to_dict())
    else:
        assert all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in items)
        _check_parsed(parsed, [str(i) for i in items])


# --------------------------------------------------------------------------- primality


@settings(max_examples=500, derandomize=True, deadline=None, database=None)
@given(
    st.integers(-(10**6), 2**130)
    | st.integers(0, 2**64).map(lambda n: n | 1)
    | st.tuples(st.integers(2, 2**40), st.integers(2, 2**40)).map(lambda ab: ab[0] * ab[1])
)
def test_is_prime_agrees_with_sympy(n: int) -> None:
    assert is_prime(n) is sympy.isprime(n)


@settings(max_examples=100, derandomize=True, deadline=None, database=None)
@given(st.lists(st.integers(-1000, 2**100), max_size=40))
def test_batch_agrees_with_single(numbers: list[int]) -> None:
    assert is_prime_batch(numbers) == [is_prime(n) for n in numbers]


# --------------------------------------------------------------------------- the HTTP answers


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(NUMBERISH.filter(bool))
def test_any_path_segment_gets_json(text: str) -> None:
    response = APP.test_client().get("/is_prime/" + quote(text, safe=",+-"))
    document = assert_json_answer(response.status_code, response.content_type, response.data)
    if response.status_code == 200:
        assert all(isinstance(flag, bool) for flag in document.values())


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    st.binary(max_size=300)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.lists(ELEMENTS, max_size=60).map(lambda v: json.dumps({"numbers": v}).encode())
)
def test_any_post_body_gets_json(body: bytes) -> None:
    response = APP.test_client().post(
        "/is_prime", data=body, headers={"Content-Type": "application/json"}
    )
    document = assert_json_answer(response.status_code, response.content_type, response.data)
    if response.status_code == 200:
        numbers = json.loads(body)["numbers"]
        assert [r["n"] for r in document["results"]] == [str(int(n)) for n in numbers]
        assert all(r["prime"] is sympy.isprime(int(r["n"])) for r in document["results"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/is_prime", 405),
        ("PUT", "/is_prime", 405),
        ("DELETE", "/is_prime/7", 405),
        ("GET", "/is_prime/", 400),
        ("GET", "/is_prime//7", 404),  # not redirected to /is_prime/7 (a 308 HTML page)
        ("GET", "/nowhere", 404),
        ("GET", "/is_prime/7,11,", 400),  # a trailing comma is an empty token
        ("GET", "/is_prime/" + "7," * 50 + "7", 413),
        ("GET", "/is_prime/" + "9" * 61, 413),
    ],
)
def test_routing_errors_are_json(client: FlaskClient, method: str, path: str, status: int) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert_json_answer(response.status_code, response.content_type, response.data)


def test_body_over_the_limit_is_a_json_413(client: FlaskClient) -> None:
    response = client.post("/is_prime", data=b"[" * (64 * 1024 + 1))
    assert response.status_code == 413
    assert_json_answer(response.status_code, response.content_type, response.data)
