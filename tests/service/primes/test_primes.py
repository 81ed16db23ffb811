"""Exactness of is_prime against independent oracles, and the parsers' grammar and limits.

Oracles: sympy.isprime (its own sieve for small n, gmpy2's strong BPSW above),
Miller-Rabin with proven deterministic base sets (a different algorithm from
the BPSW we use), Lucas-Lehmer for Mersenne numbers, and Korselt's criterion
for Carmichael numbers.
"""

from __future__ import annotations

import json
import pickle
import random
import sys
from collections.abc import Callable

import gmpy2
import pytest
import sympy
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.ntheory.primetest import mr

from flask_fanout.service.primes import (
    Parsed,
    PrimeInputError,
    PrimeLimits,
    batch_cost,
    is_prime,
    is_prime_batch,
    parse_json_numbers,
    parse_path_numbers,
    prime_cost,
)

LIMITS = PrimeLimits()
TWO_64 = 2**64
# Miller-Rabin base sets with no counterexample below the bound (proven by search).
MR_32 = [2, 7, 61]  # n < 4_759_123_141
MR_64 = [2, 325, 9375, 28178, 450775, 9780504, 1795265022]  # n < 2**64 (Sinclair)
MR_FIRST_13_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41]  # n < 3.3e24

# --------------------------------------------------------------------------- is_prime


@pytest.mark.parametrize("n", [-(2**70), -7, -2, -1, 0, 1])
def test_below_two_is_not_prime(n: int) -> None:
    assert is_prime(n) is False
    assert is_prime(mpz(n)) is False


def test_small_numbers_match_sympy() -> None:
    for n in range(-50, 30_000):
        assert is_prime(n) == sympy.isprime(n), n


def test_int_and_mpz_agree_and_return_bool() -> None:
    for n in [2, 3, 4, 97, 2**61 - 1, 2**64 + 13, 2**89 - 1, 2**89 + 1]:
        assert is_prime(n) is is_prime(mpz(n))
        assert type(is_prime(n)) is bool


def test_random_32_bit() -> None:
    rng = random.Random(32)
    for _ in range(3000):
        n = rng.getrandbits(32)
        expected = n > 1 and (n == 2 or mr(n, MR_32))
        assert is_prime(n) == expected == sympy.isprime(n), n


def test_random_64_bit_numbers_and_primes() -> None:
    rng = random.Random(64)
    numbers = [rng.getrandbits(64) | 1 for _ in range(3000)]
    numbers += [int(gmpy2.next_prime(rng.getrandbits(64))) for _ in range(300)]
    for n in numbers:
        if n >= TWO_64:  # next_prime may step over 2**64
            continue
        assert is_prime(n) == mr(n, MR_64) == sympy.isprime(n), n


def test_around_two_to_the_64() -> None:
    # Both branches of is_prime meet here; MR with the first 13 prime bases is
    # exact up to 3.3e24, an oracle independent of BPSW on both sides.
    for n in range(TWO_64 - 3000, TWO_64 + 3000):
        assert is_prime(n) == mr(n, MR_FIRST_13_PRIMES), n
    assert is_prime(TWO_64 - 59)  # largest 64-bit prime
    assert not any(is_prime(n) for n in range(TWO_64 - 58, TWO_64 + 13))
    assert is_prime(TWO_64 + 13)  # smallest prime above 2**64


def test_random_100_to_300_digits() -> None:
    rng = random.Random(300)
    numbers = [rng.randrange(10**99, 10**300) for _ in range(150)]
    primes = [int(gmpy2.next_prime(rng.randrange(10**99, 10**300))) for _ in range(30)]
    semiprimes = [
        int(gmpy2.next_prime(rng.getrandbits(200)) * gmpy2.next_prime(rng.getrandbits(300)))
        for _ in range(30)
    ]
    for n in numbers + primes + semiprimes:
        assert is_prime(n) == sympy.isprime(n), n
    assert all(is_prime(p) for p in primes)
    assert not any(is_prime(n) for n in semiprimes)


def _is_carmichael(n: int) -> bool:
    """Korselt: n composite, squarefree, and p - 1 divides n - 1 for every prime p | n."""
    factors = sympy.factorint(n)
    return (
        len(factors) > 1
        and all(e == 1 for e in factors.values())
        and all((n - 1) % (p - 1) == 0 for p in factors)
    )


CARMICHAEL = [561, 1105, 1729, 2465, 2821, 6601, 8911, 10585, 15841, 29341, 41041, 46657,
              52633, 62745, 63973, 75361, 101101, 115921, 126217, 162401, 172081, 188461,
              252601, 278545, 294409, 314821, 334153, 340561, 399001, 410041, 449065,
              488881, 512461, 3215031751]  # fmt: skip


@pytest.mark.parametrize("n", CARMICHAEL)
def test_carmichael_numbers(n: int) -> None:
    assert _is_carmichael(n)
    assert not is_prime(n)


# Chernick: (6k+1)(12k+1)(18k+1) is a Carmichael number when all three factors
# are prime; these k were found by search and are re-verified here.
@pytest.mark.parametrize(
    "k", [1_000_051, 1_000_000_001_121, 100_000_000_000_000_008_960, 10**30 + 43_391]
)
def test_large_chernick_carmichael_numbers(k: int) -> None:
    factors = [6 * k + 1, 12 * k + 1, 18 * k + 1]
    assert all(sympy.isprime(p) for p in factors)
    n = factors[0] * factors[1] * factors[2]
    assert all((n - 1) % (p - 1) == 0 for p in factors)  # Korselt
    assert pow(2, n - 1, n) == 1  # a Fermat liar, as Carmichael numbers are
    assert not is_prime(n)


# Smallest strong pseudoprimes to all of the first k prime bases (OEIS A014233).
STRONG_PSEUDOPRIMES = {
    2047: 1,
    1373653: 2,
    25326001: 3,
    3215031751: 4,
    2152302898747: 5,
    3474749660383: 6,
    341550071728321: 8,
    3825123056546413051: 11,
    318665857834031151167461: 12,
    3317044064679887385961981: 13,
}


@pytest.mark.parametrize(("n", "bases"), STRONG_PSEUDOPRIMES.items())
def test_strong_pseudoprimes_to_many_bases(n: int, bases: int) -> None:
    assert mr(n, list(sympy.primerange(2, sympy.prime(bases) + 1)))  # the data is hard
    assert not sympy.isprime(n)
    assert not is_prime(n)


@pytest.mark.parametrize("n", [5459, 5777, 10877, 16109, 18971, 22499, 24569, 25199, 40309])
def test_strong_lucas_pseudoprimes(n: int) -> None:
    assert len(sympy.factorint(n)) > 1
    assert not is_prime(n)


ARNAULT_P = int(
    "2967449566868551055015417464290533273077199179985304335099507"
    "5531276838753171770199594238596428121188033664754218345562493168782883"
)


def test_arnault_397_digit_strong_pseudoprime_to_all_bases_below_307() -> None:
    factors = [ARNAULT_P, 313 * (ARNAULT_P - 1) + 1, 353 * (ARNAULT_P - 1) + 1]
    n = factors[0] * factors[1] * factors[2]
    assert len(gmpy2.mpz(n).digits()) == 397
    assert all(sympy.isprime(p) for p in factors)
    assert mr(n, list(sympy.primerange(2, 307)))  # fools Miller-Rabin on 62 bases
    assert not is_prime(n)
    assert not is_prime(mpz(n))


def _lucas_lehmer(p: int) -> bool:
    """Exact primality of 2**p - 1 for an odd prime p."""
    m = (mpz(1) << p) - 1
    s = mpz(4)
    for _ in range(p - 2):
        s = (s * s - 2) % m
    return s == 0


def test_mersenne_numbers_match_lucas_lehmer() -> None:
    exponents = list(sympy.primerange(3, 1300))
    found = [p for p in exponents if is_prime(2**p - 1)]
    assert found == [p for p in exponents if _lucas_lehmer(p)]
    assert found == [3, 5, 7, 13, 17, 19, 31, 61, 89, 107, 127, 521, 607, 1279]
    assert not is_prime(2**67 - 1)  # Cole, 1903
    assert not is_prime(2**257 - 1)


def test_large_mersenne_prime_and_neighbours() -> None:
    m = 2**4423 - 1
    assert _lucas_lehmer(4423)
    assert is_prime(m)
    assert not is_prime(m + 2)
    assert not is_prime(2**4421 - 1)  # composite exponent


def test_batch_matches_single_and_pickles() -> None:
    numbers = [mpz(n) for n in range(-5, 500)] + [2**61 - 1, 2**89 - 1, 2**89 + 1]
    assert is_prime_batch(numbers) == [is_prime(n) for n in numbers]
    assert is_prime_batch([]) == []
    assert pickle.loads(pickle.dumps(is_prime_batch)) is is_prime_batch
    parsed = parse_path_numbers("7,-0012", LIMITS)
    assert pickle.loads(pickle.dumps(parsed)) == parsed


def test_prime_cost_grows_with_size() -> None:
    sizes = [mpz(7), mpz(2**61 - 1), 10**100, 10**1000, 10**2000, 10**5000]
    costs = [prime_cost(n) for n in sizes]
    assert all(isinstance(c, float) and c > 0 for c in costs)
    assert costs[0] == costs[1]  # below 2**64 one fixed-size test
    assert costs == sorted(costs) and costs[-1] > 20 * costs[3]
    assert prime_cost(-(10**1000)) == prime_cost(10**1000)
    assert prime_cost(0) == prime_cost(1) == costs[0]


def test_a_batch_below_2_64_costs_one_number_for_all() -> None:
    small = [0, 1, 7, -(10**1000), 2**64 - 1, mpz(2**61 - 1)]
    assert batch_cost(small) == prime_cost(2**64 - 1), "one estimate: all alike"
    for big in (2**64, mpz(2**64), 10**100):
        assert batch_cost([*small, big]) is prime_cost, "a bigger one: estimated one by one"
    assert batch_cost([]) is prime_cost


def test_the_parsers_digit_count_spares_the_pass_over_the_numbers() -> None:
    top = "9" * 19  # 10**19 - 1, the largest number of 19 digits, is below 2**64
    parsed = parse_path_numbers(f"7,-0012,{top},+0", LIMITS)
    assert parsed.digits == 19
    assert parse_json_numbers('{"numbers": [3, "-00042"]}', LIMITS).digits == 2
    values = [n.value for n in parsed]
    assert batch_cost(values, parsed.digits) == batch_cost(values) == prime_cost(2**64 - 1)
    # No pass: a number the count leaves out is not looked at (the count is the caller's word).
    assert batch_cost([10**100], 19) == prime_cost(2**64 - 1)
    # 20 digits may be above 2**64: the numbers decide.
    twenty = parse_path_numbers(f"{2**64},5", LIMITS)
    assert twenty.digits == 20
    assert batch_cost([n.value for n in twenty], twenty.digits) is prime_cost
    below = parse_path_numbers(f"{2**64 - 1}", LIMITS)
    assert batch_cost([n.value for n in below], below.digits) == prime_cost(2**64 - 1)


# --------------------------------------------------------------------------- parsing


def _error(call: Callable[..., object], *args: object) -> PrimeInputError:
    with pytest.raises(PrimeInputError) as info:
        call(*args)
    return info.value


@pytest.mark.parametrize(
    ("token", "key"),
    [("7", "7"), ("007", "7"), ("-0", "0"), ("+0", "0"), ("000", "0"), ("+5", "5"),
     ("-007", "-7"), ("-12", "-12"), ("18446744073709551557", "18446744073709551557")],
)  # fmt: skip
def test_canonical_keys(token: str, key: str) -> None:
    [parsed] = parse_path_numbers(token, LIMITS)
    assert parsed == Parsed(key, mpz(key))
    assert str(parsed.value) == key


def test_path_keeps_order_and_duplicates() -> None:
    parsed = parse_path_numbers("5,3,05,-1", LIMITS)
    assert [p.key for p in parsed] == ["5", "3", "5", "-1"]


BAD_TOKENS = ["abc", "", "1.5", "0x11", "1e3", " 7", "7 ", "7\n", "1_000", "\u0661\u0662",
              "\uff17", "+", "-", "--1", "+-1", "1-", "0b1", "1/2", "\u0667"]  # fmt: skip


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_bad_path_token(token: str) -> None:
    error = _error(parse_path_numbers, f"2,{token},3", LIMITS)
    assert (error.status, error.code) == (400, "invalid_number")
    assert error.details["invalid"] == [token]
    body = error.to_dict()
    assert body["error"] == "invalid_number" and body["message"] == error.message
    json.dumps(body)  # serialisable as is


@pytest.mark.parametrize("text", ["", ",", "1,,2", "1,2,", ",1"])
def test_empty_elements_are_bad_tokens(text: str) -> None:
    error = _error(parse_path_numbers, text, LIMITS)
    assert error.code == "invalid_number"
    assert "" in error.details["invalid"]


def test_every_bad_token_is_named_but_the_list_is_capped() -> None:
    error = _error(parse_path_numbers, "abc,1,,x", LIMITS)
    assert error.details == {"invalid": ["abc", "", "x"], "invalid_count": 3}
    error = _error(parse_path_numbers, ",".join(["y" * 1000] * 100), LIMITS)
    assert error.details["invalid_count"] == 100
    assert len(error.details["invalid"]) == 20
    assert all(len(t) <= 40 for t in error.details["invalid"])
    assert len(json.dumps(error.to_dict())) < 2000


def test_count_limit_is_checked_before_tokens() -> None:
    limits = PrimeLimits(max_numbers=3)
    assert len(parse_path_numbers("1,2,3", limits)) == 3
    error = _error(parse_path_numbers, "a,b,c,d", limits)
    assert (error.status, error.code) == (413, "too_many_numbers")
    assert error.details == {"limit": 3, "count": 4}
    error = _error(parse_json_numbers, '{"numbers": [1, 2, 3, "x"]}', limits)
    assert (error.status, error.code) == (413, "too_many_numbers")


def test_digit_limit_per_number() -> None:
    assert parse_path_numbers("9" * 5000, LIMITS)[0].value == mpz(10) ** 5000 - 1
    error = _error(parse_path_numbers, "1," + "9" * 5001, LIMITS)
    assert (error.status, error.code) == (413, "number_too_long")
    assert error.details == {"limit": 5000, "numbers": [{"index": 1, "digits": 5001}]}
    # Leading zeros and the sign are not digits of the number.
    assert parse_path_numbers("-" + "0" * 9000 + "7", LIMITS)[0].key == "-7"


def test_total_digit_limit() -> None:
    limits = PrimeLimits(max_total_digits=10)
    assert len(parse_path_numbers("12345,-0012345", limits)) == 2
    error = _error(parse_path_numbers, "12345,123456", limits)
    assert (error.status, error.code) == (413, "too_many_digits")
    assert error.details == {"limit": 10, "digits": 11}


def test_int_str_digit_limit_never_surfaces() -> None:
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)
    try:
        for digits in (4400, 5000):
            text = "7" * digits
            [parsed] = parse_path_numbers(text, LIMITS)
            assert parsed.key == text and parsed.value.digits() == text
            [parsed] = parse_json_numbers(f'{{"numbers": [{text}]}}', LIMITS)
            assert parsed.key == text and parsed.value.digits() == text
            [parsed] = parse_json_numbers(f'{{"numbers": ["-{text}"]}}', LIMITS)
            assert parsed.key == "-" + text
        for body in ("5" * 5001, f'{{"numbers": [{"5" * 5001}]}}'):
            parse = parse_path_numbers if body[0] == "5" else parse_json_numbers
            assert _error(parse, body, LIMITS).code == "number_too_long"
    finally:
        sys.set_int_max_str_digits(old)


def test_defaults_accept_the_documented_batches() -> None:
    rng = random.Random(20)
    small = [str(rng.randrange(10**19, 10**20)) for _ in range(10_000)]
    assert len(parse_path_numbers(",".join(small), LIMITS)) == 10_000
    assert len(parse_json_numbers(json.dumps({"numbers": small}), LIMITS)) == 10_000
    big = [str(rng.randrange(10**1999, 10**2000)) for _ in range(500)]
    body = '{"numbers": [' + ",".join(big) + "]}"
    assert len(parse_json_numbers(body.encode(), LIMITS)) == 500
    assert PrimeLimits().max_digits >= 2000


def test_limits_are_validated_and_frozen() -> None:
    with pytest.raises(ValueError, match="max_numbers"):
        PrimeLimits(max_numbers=0)
    with pytest.raises(ValueError, match="max_digits"):
        PrimeLimits(max_digits=True)
    with pytest.raises(AttributeError):
        LIMITS.max_numbers = 5  # type: ignore[misc]


# --------------------------------------------------------------------------- JSON


def test_json_ints_and_strings_keep_order_and_duplicates() -> None:
    body = b'{"numbers": [7, "7", "+007", -3, "-0", 0, 18446744073709551629, 7]}'
    parsed = parse_json_numbers(body, LIMITS)
    assert [p.key for p in parsed] == ["7", "7", "7", "-3", "0", "0", "18446744073709551629", "7"]
    assert [p.value for p in parsed] == [mpz(p.key) for p in parsed]
    assert parse_json_numbers(body.decode(), LIMITS) == parsed


def test_json_empty_list_and_extra_keys() -> None:
    assert parse_json_numbers('{"numbers": []}', LIMITS) == []
    assert len(parse_json_numbers('{"numbers": [2], "comment": 1.5}', LIMITS)) == 1


@pytest.mark.parametrize(
    ("element", "shown"),
    [("true", "true"), ("false", "false"), ("null", "null"), ("1.5", "1.5"), ("1e3", "1e3"),
     ("2.0", "2.0"), ("-0.0", "-0.0"), ("1E3", "1E3"), ("NaN", "NaN"), ("Infinity", "Infinity"),
     ("[1]", "[...]"), ('{"a": 1}', "{...}"), ('"abc"', '"abc"'), ('""', '""'),
     ('"1.5"', '"1.5"'), ('" 7"', '" 7"'), ('"0x11"', '"0x11"'), ('"\\u0661"', '"\\u0661"')],
)  # fmt: skip
def test_json_bad_elements_are_named_by_index(element: str, shown: str) -> None:
    error = _error(parse_json_numbers, f'{{"numbers": [2, {element}, 3]}}', LIMITS)
    assert (error.status, error.code) == (400, "invalid_number")
    assert error.details == {"invalid": [{"index": 1, "value": shown}], "invalid_count": 1}


def test_json_bad_elements_are_all_counted_and_clipped() -> None:
    items = [True] * 30 + ["x" * 1000]
    error = _error(parse_json_numbers, json.dumps({"numbers": items}), LIMITS)
    assert error.details["invalid_count"] == 31
    assert len(error.details["invalid"]) == 20
    error = _error(parse_json_numbers, json.dumps({"numbers": ["x" * 1000]}), LIMITS)
    assert len(error.details["invalid"][0]["value"]) <= 40


@pytest.mark.parametrize(
    "body", [b"\xff\xfe{}", b'{"numbers": ["\xe9"]}', "{}".encode("utf-16"), b"\xed\xa0\x80"]
)
def test_json_body_that_is_not_utf8(body: bytes) -> None:
    error = _error(parse_json_numbers, body, LIMITS)
    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize("body", ["", "{", '{"numbers": [1,]}', "{'numbers': [1]}", "[" * 100_000])
def test_json_malformed(body: str) -> None:
    error = _error(parse_json_numbers, body, LIMITS)
    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize(
    "body", ["[1, 2]", '"1,2"', "12", "null", "{}", '{"number": [1]}', '{"numbers": 1}',
             '{"numbers": "1,2"}', '{"numbers": null}', '{"numbers": {"0": 1}}'],
)  # fmt: skip
def test_json_wrong_shape(body: str) -> None:
    error = _error(parse_json_numbers, body, LIMITS)
    assert (error.status, error.code) == (400, "invalid_body")
    assert "numbers" in error.message


# --------------------------------------------------------------------------- property


@st.composite
def _spelled(draw: st.DrawFn, n: int) -> str:
    """Any accepted spelling of n: optional + sign (or -0), leading zeros."""
    sign = "-" if n < 0 else draw(st.sampled_from(["", "+"] + (["-"] if n == 0 else [])))
    return sign + "0" * draw(st.integers(0, 5)) + str(abs(n))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(10**60), 10**60), max_size=30).flatmap(
    lambda ns: st.tuples(st.just(ns), st.tuples(*(_spelled(n) for n in ns)))
))  # fmt: skip
def test_any_spelling_parses_to_canonical_keys(case: tuple[list[int], tuple[str, ...]]) -> None:
    numbers, spellings = case
    expected = [Parsed(str(n), mpz(n)) for n in numbers]
    assert parse_json_numbers(json.dumps({"numbers": list(spellings)}), LIMITS) == expected
    if numbers:
        assert parse_path_numbers(",".join(spellings), LIMITS) == expected
