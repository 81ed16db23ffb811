"""Exact primality and its cost model.

Pure functions at module level, so that :func:`is_prime_batch` can cross a
process boundary to a pool or Dask worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

import gmpy2
from gmpy2 import mpz

from flask_fanout.cpu import Cost

Integer: TypeAlias = int | mpz
"""What the primality functions accept: a Python ``int`` or a ``gmpy2.mpz``."""

_TWO_64 = 1 << 64
_DIGITS_BELOW_2_64 = 19  # 10**19 - 1 < 2**64 (about 1.8 * 10**19)
# One gcd rejects most composites below 2**64 a quarter faster than going
# straight to BPSW (random 64-bit odd numbers: 0.85 vs 1.15 us).
_SMALL_ODD_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53)
_SMALL_ODD_PRODUCT = mpz(math.prod(_SMALL_ODD_PRIMES))

# GMP 6.2+ ``mpz_probab_prime_p(n, reps)`` runs trial division and BPSW, then
# ``reps - 24`` Miller-Rabin rounds with pseudo-random bases. One round adds a
# second, different test in case a BPSW pseudoprime ever turns up. Each round
# costs about a third of the BPSW time on a 1000-digit prime (composites stop
# earlier); more rounds would buy a margin nobody can measure, as no BPSW
# pseudoprime of any size is known.
_EXTRA_MR_ROUNDS = 1
_GMP_REPS = 24 + _EXTRA_MR_ROUNDS


def is_prime(n: Integer) -> bool:
    """Return whether ``n`` is prime; negative numbers, 0 and 1 are not.

    Below 2**64 the answer is exact: the strong Baillie-PSW test has no
    counterexample there (checked against the complete list of base-2
    pseudoprimes below 2**64, Feitsma and Galway). At or above 2**64, GMP's
    BPSW test plus a Miller-Rabin round: no counterexample to BPSW is known.
    """
    if n < _TWO_64:
        if n < 2:
            return False
        if not n & 1:
            return n == 2  # gmpy2's PRP tests are meant for odd n > 0
        if n > _SMALL_ODD_PRIMES[-1] and gmpy2.gcd(n, _SMALL_ODD_PRODUCT) != 1:
            return False
        return bool(gmpy2.is_strong_bpsw_prp(n))
    return bool(gmpy2.is_prime(n, _GMP_REPS))


def is_prime_batch(numbers: Sequence[Integer]) -> list[bool]:
    """Test a chunk of numbers: the unit of work sent to pools and Dask."""
    return [is_prime(n) for n in numbers]


# Worst-case (prime input) seconds per number on the reference 2-core machine,
# fitted as _COST_A + _COST_B * bits**_COST_K (within 20% from 64 to 16,600 bits).
# Composites are usually far cheaper (trial division or the first Miller-Rabin
# round rejects them), so this is an upper bound, good for balancing chunks
# and for deciding inline vs. pool. Measured with: python bench/primality.py
# (see bench/results/primality.md).
_COST_A = 8.3e-6
_COST_B = 2.04e-11
_COST_K = 2.632


def batch_cost(numbers: Sequence[Integer], digits: int | None = None) -> Cost[Integer]:
    """The cost of a batch, for ``cpu_map``: one number when all are below 2**64.

    They then all cost at most the same estimate (a negative number of any size
    is answered by one comparison), and a call of :func:`prime_cost` per number
    took a sixth of the time of testing 10,000 of them (0.9 of 5.4 ms).
    ``digits``, the most decimal digits of any of the numbers when the caller
    has counted them (the parser does), tells it without a pass over them: a
    ``max`` over 10,000 numbers cost 2 % of testing them. Otherwise, per number.
    """
    if digits is not None and digits <= _DIGITS_BELOW_2_64:
        return _COST_A
    if numbers and max(numbers) < _TWO_64:
        return _COST_A
    return prime_cost


def prime_cost(n: Integer) -> float:
    """Estimate the seconds :func:`is_prime` may spend on ``n`` (from its bit length)."""
    bits = int(n.bit_length())
    if bits <= 64:
        return _COST_A
    return _COST_A + _COST_B * math.pow(bits, _COST_K)
