"""GET /is_prime/<numbers> and POST /is_prime: contracts, bad input, limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sympy
from flask import Flask
from flask.testing import FlaskClient


@pytest.fixture
def client(make_app: Callable[..., Flask], text_file: Path) -> FlaskClient:
    return make_app(f'[sources.a]\ntype = "file"\npath = "{text_file}"\n').test_client()


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    assert body["error"] == code and body["message"]
    return body


def test_get_answers_the_examples_shape(client: FlaskClient) -> None:
    response = client.get("/is_prime/2,4,17,1,0,-7,0011,+13")
    assert response.status_code == 200
    assert response.get_json() == {
        "2": True, "4": False, "17": True, "1": False, "0": False, "-7": False,
        "11": True, "13": True,
    }  # fmt: skip


def test_get_exact_on_hard_cases(client: FlaskClient) -> None:
    hard = {
        3825123056546413051: False,  # strong pseudoprime to bases 2..23
        318665857834031151167461: False,
        2**61 - 1: True,
        2**64 - 59: True,  # the largest 64-bit prime
        2**89 - 1: True,
        561 * 1105: False,
    }
    response = client.get("/is_prime/" + ",".join(map(str, hard)))
    assert response.get_json() == {str(n): p for n, p in hard.items()}


def test_post_keeps_order_and_duplicates(client: FlaskClient) -> None:
    numbers = [7, "7", 8, "0013", 2**127 - 1, -3]
    response = client.post("/is_prime", json={"numbers": numbers})
    assert response.status_code == 200
    assert response.get_json() == {
        "results": [
            {"n": "7", "prime": True},
            {"n": "7", "prime": True},
            {"n": "8", "prime": False},
            {"n": "13", "prime": True},
            {"n": str(2**127 - 1), "prime": True},
            {"n": "-3", "prime": False},
        ]
    }


def test_post_agrees_with_sympy_on_a_random_batch(client: FlaskClient) -> None:
    import random

    rng = random.Random(20261129)
    numbers = [rng.getrandbits(64) for _ in range(300)] + [
        rng.getrandbits(200) | 1 for _ in range(50)
    ]
    response = client.post("/is_prime", json={"numbers": [str(n) for n in numbers]})
    got = [r["prime"] for r in response.get_json()["results"]]
    assert got == [bool(sympy.isprime(n)) for n in numbers]


@pytest.mark.parametrize("path", ["abc", "1,,2", "1.5", "0x11", "1e3", "2,3,", "%20"])
def test_get_bad_tokens_are_400_naming_them(client: FlaskClient, path: str) -> None:
    body = assert_json_error(client.get(f"/is_prime/{path}"), 400, "invalid_number")
    assert body["invalid"]


def test_get_with_nothing_is_400(client: FlaskClient) -> None:
    assert_json_error(client.get("/is_prime/"), 400, "invalid_number")


def test_slash_in_the_list_is_a_bad_token_not_an_html_404(client: FlaskClient) -> None:
    assert_json_error(client.get("/is_prime/1/2"), 400, "invalid_number")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b'{"numbers": 5}', "invalid_body"),
        (b'{"numbers": [true]}', "invalid_number"),
        (b'{"numbers": [1.5]}', "invalid_number"),
        (b'{"numbers": [2.0]}', "invalid_number"),
        (b'{"numbers": [null]}', "invalid_number"),
        (b'{"numbers": [[1]]}', "invalid_number"),
        (b'{"numbers": ["abc"]}', "invalid_number"),
        (b'{"numbers": [NaN]}', "invalid_number"),
    ],
)
def test_post_bad_bodies_are_400(client: FlaskClient, body: bytes, code: str) -> None:
    response = client.post("/is_prime", data=body, content_type="application/json")
    assert_json_error(response, 400, code)


def test_huge_numbers_never_hit_the_int_str_limit(client: FlaskClient) -> None:
    big = "9" * 4400
    response = client.post("/is_prime", data=f'{{"numbers": [{big}, "{big}"]}}')
    assert response.status_code == 200
    assert response.get_json()["results"][0] == {"n": big, "prime": False}
    assert_json_error(client.get("/is_prime/" + "1" * 5001), 413, "number_too_long")


def test_limits_are_clear_4xx(make_app: Callable[..., Flask], text_file: Path) -> None:
    app = make_app(
        f'[sources.a]\ntype = "file"\npath = "{text_file}"\n',
        FANOUT_PRIME_MAX_NUMBERS=3,
        FANOUT_PRIME_MAX_DIGITS=10,
        FANOUT_PRIME_MAX_TOTAL_DIGITS=15,
        FANOUT_MAX_BODY_BYTES=1000,
    )
    client = app.test_client()
    assert_json_error(client.get("/is_prime/1,2,3,4"), 413, "too_many_numbers")
    assert_json_error(client.get("/is_prime/12345678901"), 413, "number_too_long")
    assert_json_error(client.get("/is_prime/1234567890,123456"), 413, "too_many_digits")
    big_body = json.dumps({"numbers": ["1" * 10] * 200})
    response = client.post("/is_prime", data=big_body)
    assert_json_error(response, 413, "request_entity_too_large")


def test_default_limits_take_the_promised_batches(client: FlaskClient) -> None:
    small = {"numbers": [str(10**19 + i) for i in range(10_000)]}
    response = client.post("/is_prime", json=small)
    assert response.status_code == 200 and len(response.get_json()["results"]) == 10_000
    large = {"numbers": [str(10**1999 + i) for i in range(500)]}
    response = client.post("/is_prime", json=large)
    assert response.status_code == 200 and len(response.get_json()["results"]) == 500


def test_wrong_method_and_unknown_path_are_json(client: FlaskClient) -> None:
    assert_json_error(client.put("/is_prime"), 405, "method_not_allowed")
    assert_json_error(client.get("/nowhere"), 404, "not_found")
