"""Interval extensions of the activations: sound and tight, on every rigorous backend."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
import pytest
from flint import arb, fmpq
from hypothesis import given
from hypothesis import strategies as st

from verifae import ACTIVATIONS, SpecError, get_backend
from verifae.activations import TRANSCENDENTAL, validate_activation

# tanh(400) = 1 - 2exp(-800) needs about 1160 bits to be told apart from 1.
BITS = 1500


def _true(name: str, q: Fraction, derivative: bool) -> arb:
    """act(q) or act'(q) as a 256-bit ball (Arb), with relu'(0) = 0."""
    z = arb(fmpq(q.numerator, q.denominator))
    if name == "identity":
        return arb(1) if derivative else z
    if name == "relu":
        if derivative:
            return arb(1 if q > 0 else 0)
        return z if q > 0 else arb(0)
    if name == "sigmoid":
        s = 1 / (1 + (-z).exp())
        return s * (1 - s) if derivative else s
    t = z.tanh()
    return 1 - t * t if derivative else t


def _interval(backend_name, lo, hi, name, derivative, with_input=False):
    """act or act' over [lo, hi]; with_input also returns the input interval as represented."""
    B = get_backend(backend_name)
    z = B.interval(np.array([lo], dtype=object), np.array([hi], dtype=object))
    out = B.activation_derivative(name, z) if derivative else B.activation(name, z)
    if with_input:
        return B.bounds(out)[0], B.bounds(z)[0]
    return B.bounds(out)[0]


def _backends(name):
    return ["arb", "mpmath"] + ([] if name in TRANSCENDENTAL else ["exact"])


endpoint = st.one_of(
    st.fractions(-6, 6, max_denominator=1000),
    st.sampled_from([Fraction(0), Fraction(-40), Fraction(40), Fraction(400), Fraction(-400)]),
)


@given(
    name=st.sampled_from(ACTIVATIONS),
    derivative=st.booleans(),
    a=endpoint,
    b=endpoint,
    ts=st.lists(st.fractions(0, 1, max_denominator=50), min_size=1, max_size=5),
)
def test_sound_and_tight(name, derivative, a, b, ts):
    lo, hi = min(a, b), max(a, b)
    points = [lo, hi, *(lo + t * (hi - lo) for t in ts)] + ([Fraction(0)] if lo <= 0 <= hi else [])
    with flint.ctx.workprec(BITS):
        values = [_true(name, p, derivative) for p in points]
        for backend in _backends(name):
            (e_lo, e_hi), (z_lo, z_hi) = _interval(backend, lo, hi, name, derivative, with_input=True)
            for p, v in zip(points, values):
                assert arb(e_lo) <= v and v <= arb(e_hi), (backend, p)
            # Tight: the enclosure exceeds the range over the input interval as the
            # backend represents it (an Arb ball is slightly wider than [lo, hi]) by
            # rounding only. The extrema are at the endpoints, or at 0 for the even
            # derivatives.
            extremes = [Fraction(z_lo), Fraction(z_hi)] + ([Fraction(0)] if z_lo <= 0 <= z_hi else [])
            hull = [_true(name, p, derivative) for p in extremes]
            v_lo = min(hull, key=lambda v: v.lower()).lower()
            v_hi = max(hull, key=lambda v: v.upper()).upper()
            # Arb keeps radii to 30 bits; mpmath and exact round only to the 53-bit result.
            rel = 2.0**-27 if backend == "arb" else 2.0**-50
            slack = arb(rel) * (1 + abs(v_lo) + abs(v_hi))
            assert arb(e_lo) >= v_lo - slack and arb(e_hi) <= v_hi + slack, backend


@pytest.mark.parametrize("backend", ["arb", "mpmath", "exact"])
def test_relu_derivative_conventions(backend):
    """relu' is [0, 1] on a straddling interval, 0 at 0, and 0 or 1 elsewhere."""
    cases = {(-1, 2): (0, 1), (0, 0): (0, 0), (0, 1): (0, 1), (Fraction(1, 10**9), 1): (1, 1), (-3, 0): (0, 0)}
    for (lo, hi), expected in cases.items():
        got = _interval(backend, Fraction(lo), Fraction(hi), "relu", True)
        assert got[0] <= expected[0] and got[1] >= expected[1]
        assert tuple(got) == expected or backend == "arb"


@pytest.mark.parametrize("backend", ["arb", "mpmath", "exact"])
def test_square_is_not_a_product(backend):
    """[-1, 2]² = [0, 4], while [-1, 2]·[-1, 2] = [-2, 4]."""
    B = get_backend(backend)
    x = B.interval(np.array([-1], dtype=object), np.array([2], dtype=object))
    (lo, hi), = B.bounds(B.square(x))
    assert -(2.0**-25) <= lo <= 0 and 4 <= hi <= 4 + 2.0**-22
    (plo, _), = B.bounds(B.mul(x, x))
    assert plo <= -2


def test_validate_activation():
    assert validate_activation("tanh") == "tanh"
    with pytest.raises(SpecError, match="valid activations are: relu, sigmoid, tanh, identity"):
        validate_activation("softmax")
