"""DenseProduct and magnitude_times (verifae.methods.dense) against exact rationals."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae.backends.fast import FastBackend
from verifae.methods.dense import DenseProduct, magnitude_times

B = FastBackend()

# doubles of every kind a relaxation meets: zeros, subnormals, ordinary, huge
_values = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.0, -1.0, 1e300, -1e300]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-300, max_value=1e-300, allow_nan=False, allow_infinity=False),
)


@st.composite
def _interval_matrices(draw, rows: int, cols: int):
    """An interval matrix (lower, upper) of doubles, some entries points."""
    a = np.array(draw(st.lists(_values, min_size=rows * cols, max_size=rows * cols)), dtype=np.float64)
    b = np.array(draw(st.lists(_values, min_size=rows * cols, max_size=rows * cols)), dtype=np.float64)
    point = np.array(draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols)))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    hi = np.where(point, lo, hi)
    return lo.reshape(rows, cols), hi.reshape(rows, cols)


def _inside(lo: np.ndarray, hi: np.ndarray, pick: list[int]) -> list[list[Fraction]]:
    """A point matrix in [lo, hi] (exact): each entry its lower end, upper end or midpoint."""
    out = []
    for i in range(lo.shape[0]):
        row = []
        for j in range(lo.shape[1]):
            ends = (Fraction(lo[i, j]), Fraction(hi[i, j]), (Fraction(lo[i, j]) + Fraction(hi[i, j])) / 2)
            row.append(ends[pick[(i * lo.shape[1] + j) % len(pick)]])
        out.append(row)
    return out


def _exact_product(A: list[list[Fraction]], Bm: list[list[Fraction]]) -> list[list[Fraction]]:
    return [[sum((A[i][k] * Bm[k][j] for k in range(len(Bm))), Fraction(0)) for j in range(len(Bm[0]))]
            for i in range(len(A))]


def _below(exact: Fraction, bound: float) -> bool:
    return bound == np.inf or exact <= Fraction(bound)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_dense_product_encloses_every_product_of_its_factors(data):
    """For point matrices inside A and B: |X − sI| v <= abs_times(v, s), and at every
    corner x of the box, (X − sI) x lies within concretize's centre ± spread (exactly,
    in rationals), for s = 0 and 1; a bound is never NaN."""
    m = data.draw(st.integers(1, 3), label="m")
    n = data.draw(st.integers(0, 3), label="n")
    A_lo, A_hi = data.draw(_interval_matrices(m, n), label="A")
    B_lo, B_hi = data.draw(_interval_matrices(n, m), label="B")
    centre = np.array(data.draw(st.lists(_values, min_size=m, max_size=m), label="c"))
    rho = np.abs(np.array(data.draw(st.lists(_values, min_size=m, max_size=m), label="rho")))
    pick = data.draw(st.lists(st.integers(0, 2), min_size=1, max_size=6), label="pick")
    X = _exact_product(_inside(A_lo, A_hi, pick), _inside(B_lo, B_hi, pick[::-1])) if n else \
        [[Fraction(0)] * m for _ in range(m)]
    product = DenseProduct(B.from_ends(A_lo, A_hi), B.from_ends(B_lo, B_hi), centre=centre)
    for shift in (0, 1):
        XS = [[X[i][k] - (shift if i == k else 0) for k in range(m)] for i in range(m)]
        bound = product.abs_times(rho, shift)
        y, spread = product.concretize(rho, shift)
        assert not np.isnan(bound).any() and not np.isnan(spread).any()
        for i in range(m):
            assert _below(sum(abs(XS[i][k]) * Fraction(rho[k]) for k in range(m)), bound[i])
        if not (np.isfinite(y).all() and np.isfinite(spread).all()):
            continue  # an infinite centre or spread bounds nothing to compare
        for signs in itertools.product((-1, 1), repeat=m):
            x = [Fraction(centre[k]) + s * Fraction(rho[k]) for k, s in enumerate(signs)]
            for i in range(m):
                value = sum(XS[i][k] * x[k] for k in range(m))
                assert Fraction(y[i]) - Fraction(spread[i]) <= value <= Fraction(y[i]) + Fraction(spread[i])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_magnitude_times_bounds_the_exact_product(data):
    rows, cols = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    lo, hi = data.draw(_interval_matrices(rows, cols))
    t = B.from_ends(lo, hi)
    v = np.abs(np.array(data.draw(st.lists(_values, min_size=cols, max_size=cols))))
    w = np.abs(np.array(data.draw(st.lists(_values, min_size=rows, max_size=rows))))
    mag = [[max(abs(Fraction(lo[i, j])), abs(Fraction(hi[i, j]))) for j in range(cols)] for i in range(rows)]
    found, found_T = magnitude_times(t, v), magnitude_times(t, w, transpose=True)
    for i in range(rows):
        assert _below(sum(mag[i][j] * Fraction(v[j]) for j in range(cols)), found[i])
    for j in range(cols):
        assert _below(sum(mag[i][j] * Fraction(w[i]) for i in range(rows)), found_T[j])


def test_an_infinite_radius_gives_an_unbounded_bound_not_nan():
    """inf · 0 is NaN inside the products; the bound must read +inf."""
    A = B.from_ends(np.array([[-np.inf, 0.0]]), np.array([[np.inf, 0.0]]))
    Bm = B.from_ends(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))
    product = DenseProduct(A, Bm, centre=np.array([0.0]))
    assert product.abs_times(np.array([0.0]))[0] == np.inf
    y, spread = product.concretize(np.array([1.0]), shift=1)
    assert spread[0] == np.inf
