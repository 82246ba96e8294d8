"""Exact parsing and outward / nearest rounding."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifae import InvalidNumberError
from verifae.numbers import (
    FLOAT32,
    FLOAT64,
    dyadic_down,
    dyadic_up,
    exact_array,
    nearest_float,
    nearest_floats,
    round_down,
    round_nearest,
    round_up,
    to_exact,
)


@pytest.mark.parametrize(
    "text, value",
    [
        ("0.1", Fraction(1, 10)),
        ("-2.5e-3", Fraction(-1, 400)),
        (".5", Fraction(1, 2)),
        ("7", Fraction(7)),
        ("1/3", Fraction(1, 3)),
        (" -2 / 7 ", Fraction(-2, 7)),
        ("0x1.8p-3", Fraction(3, 16)),
        ("-0x10", Fraction(-16)),
        ("0x.8", Fraction(1, 2)),
    ],
)
def test_strings_are_exact(text, value):
    assert to_exact(text) == value


def test_numbers_are_exact():
    assert to_exact(0.1) == Fraction(3602879701896397, 36028797018963968)  # the double, exactly
    assert to_exact(np.float32(0.1)) == Fraction(13421773, 134217728)
    assert to_exact(Decimal("0.1")) == Fraction(1, 10)
    assert to_exact(3) == 3 and to_exact(np.int64(-4)) == -4


@pytest.mark.parametrize(
    "value, message",
    [
        (float("nan"), "is not finite"),
        (float("inf"), "is not finite"),
        (Decimal("NaN"), "is not finite"),
        ("nan", "is not a number"),
        ("1e5000000", "exponent out of range"),
        ("1/0", "zero denominator"),
        ("abc", "'abc' is not a number"),
        ("", "is not a number"),
        (True, "is a boolean, not a number"),
        (None, "None of type NoneType is not a number"),
        ([1], "of type list is not a number"),
    ],
)
def test_rejections(value, message):
    with pytest.raises(InvalidNumberError, match=message):
        to_exact(value)


def test_exact_array_rejects_ragged():
    with pytest.raises(InvalidNumberError, match="ragged nesting"):
        exact_array([[1, 2], [3]])
    assert exact_array([[1, "0.5"]]).tolist() == [[1, Fraction(1, 2)]]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_round_nearest_float32_matches_numpy_from_a_double(x):
    """numpy's float64 -> float32 cast is one correct rounding, so it is the oracle here."""
    with np.errstate(over="ignore"):
        expected = np.float32(x)
    if math.isinf(expected):
        with pytest.raises(OverflowError):
            round_nearest(Fraction(x), FLOAT32)
    else:
        assert round_nearest(Fraction(x), FLOAT32) == Fraction(float(expected))


@given(st.fractions(max_denominator=10**30).filter(lambda q: abs(q) < 10**300))
def test_round_nearest_float64_matches_python(q):
    """CPython's int/int division is correctly rounded, so float(q) is the oracle."""
    assert round_nearest(q, FLOAT64) == Fraction(float(q))


def test_round_nearest_avoids_double_rounding():
    """q just above a float32 tie rounds up; via float64 it would tie to even (down)."""
    tie = Fraction(1) + Fraction(1, 2**24)  # halfway between 1 and 1 + 2**-23
    q = tie + Fraction(1, 2**80)
    assert float(q) == float(tie)  # the double loses the excess
    assert round_nearest(q, FLOAT32) == 1 + Fraction(1, 2**23)
    assert round_nearest(tie, FLOAT32) == 1  # a true tie goes to even


@given(st.fractions(max_denominator=10**20))
def test_directed_rounding_brackets(q):
    lo, hi = round_down(q), round_up(q)
    assert Fraction(lo) <= q <= Fraction(hi)
    assert lo == hi or math.nextafter(lo, math.inf) == hi


@given(st.integers(-(2**70), 2**70), st.integers(-1200, 1100))
def test_dyadic_rounding_brackets(m, e):
    q = Fraction(m) * Fraction(2) ** e
    lo, hi = dyadic_down(m, e), dyadic_up(m, e)
    assert (lo == -math.inf or Fraction(lo) <= q) and (hi == math.inf or q <= Fraction(hi))
    assert lo == hi or math.nextafter(lo, math.inf) == hi or math.isinf(lo) or math.isinf(hi)


def test_dyadic_extremes_never_expand_huge_powers():
    assert dyadic_up(3, 10**12) == math.inf and dyadic_down(3, 10**12) == np.finfo(float).max
    assert dyadic_down(-3, 10**12) == -math.inf
    assert dyadic_down(3, -(10**12)) == 0.0 and dyadic_up(3, -(10**12)) == 5e-324
    assert dyadic_down(-3, -(10**12)) == -5e-324 and str(dyadic_up(-3, -(10**12))) == "0.0"


@given(st.one_of(st.fractions(max_denominator=10**12), st.floats(allow_nan=False, allow_infinity=False).map(Fraction),
                 st.integers(-(2**140), 2**140).map(Fraction)))
def test_nearest_float_fast_paths_agree_with_integer_rounding(q):
    for fmt in (FLOAT32, FLOAT64):
        try:
            expected = round_nearest(q, fmt)
        except OverflowError:
            with pytest.raises(OverflowError):
                nearest_float(q, fmt)
            continue
        assert Fraction(nearest_float(q, fmt)) == expected


def test_nearest_floats_handles_double_rounding_ties():
    """q just above a float32 midpoint whose nearest double IS that midpoint."""
    tie = Fraction(1) + Fraction(1, 2**24)  # a double, halfway between two float32s
    above, below = tie + Fraction(1, 2**80), tie - Fraction(1, 2**80)
    values = np.array([above, below, tie, Fraction(1, 10), Fraction(10) ** 39, -Fraction(10) ** 39], dtype=object)
    rounded, overflow = nearest_floats(values, FLOAT32)
    assert rounded[0] == 1 + 2.0**-23 and rounded[1] == 1.0 and rounded[2] == 1.0
    assert rounded[3] == float(np.float32(0.1))
    assert overflow.tolist() == [False] * 4 + [True, True] and rounded[4] == np.inf and rounded[5] == -np.inf


@given(st.lists(st.one_of(st.fractions(max_denominator=10**9), st.floats(-1e39, 1e39).map(Fraction)), max_size=20))
def test_nearest_floats_matches_integer_rounding(qs):
    for fmt in (FLOAT32, FLOAT64):
        rounded, overflow = nearest_floats(np.array(qs, dtype=object), fmt)
        for q, r, o in zip(qs, rounded, overflow):
            try:
                assert Fraction(r) == round_nearest(q, fmt) and not o
            except OverflowError:
                assert o and math.isinf(r)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1" + "0" * 5000, 10**5000),
        ("1" + "0" * 5000 + "/7", Fraction(10**5000, 7)),
        ("-3/1" + "0" * 5000, Fraction(-3, 10**5000)),
    ],
    ids=["5000-digit-integer", "5000-digit-numerator", "5000-digit-denominator"],
)
def test_long_integer_strings_are_exact(text, expected):
    """Regression: Python's 4300-digit int(str) limit escaped as a bare ValueError."""
    from verifae.numbers import to_exact

    assert to_exact(text) == expected


@pytest.mark.parametrize("text", ["1e" + "9" * 5000, "0x1p" + "9" * 5000])
def test_huge_exponent_strings_are_refused(text):
    from verifae.numbers import to_exact

    with pytest.raises(InvalidNumberError, match="exponent out of range"):
        to_exact(text)


def test_exact_array_takes_what_np_asarray_takes():
    torch = pytest.importorskip("torch")
    a = exact_array(torch.tensor([[0.1, 2.0]], dtype=torch.float32))
    assert a.shape == (1, 2) and a[0, 0] == Fraction(float(np.float32(0.1))) and a[0, 1] == 2
    assert exact_array(torch.tensor(3, dtype=torch.int64))[()] == 3
