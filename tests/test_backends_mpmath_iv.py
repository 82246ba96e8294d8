"""The mpmath backend: its own rigorous exp, and instance-local precision."""

from __future__ import annotations

from fractions import Fraction

import flint
import mpmath
import numpy as np
import pytest
from flint import arb, fmpq
from hypothesis import given
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, enclose
from verifae.backends.mpmath_iv import MpmathBackend


def _contains_exp(B: MpmathBackend, q: Fraction) -> bool:
    x = B.from_fraction(q)
    lo, hi = B.endpoints(B.exp(x))
    x_lo, x_hi = B.endpoints(x)
    with flint.ctx.workprec(400):
        true_lo = arb(fmpq(x_lo.numerator, x_lo.denominator)).exp()
        true_hi = arb(fmpq(x_hi.numerator, x_hi.denominator)).exp()
        return bool(arb(fmpq(lo.numerator, lo.denominator)) <= true_lo) and bool(
            true_hi <= arb(fmpq(hi.numerator, hi.denominator))
        )


@pytest.mark.parametrize(
    "num, den, prec",
    [(3893924827815215, 1125899906842624, 53), (1381846513289487, 70368744177664, 113)],
)
def test_exp_encloses_where_iv_exp_does_not(num, den, prec):
    """The inputs of mpmath issue #1181, where iv.exp's upper endpoint is below exp(x)."""
    assert _contains_exp(MpmathBackend(prec), Fraction(num, den))


@given(
    q=st.one_of(
        st.fractions(-50, 50, max_denominator=2**40),
        st.integers(-3000, 3000).map(Fraction),
        st.fractions(Fraction(-1, 10**6), Fraction(1, 10**6), max_denominator=2**60),
    ),
    prec=st.sampled_from([24, 53, 113]),
)
def test_exp_is_rigorous(q, prec):
    assert _contains_exp(MpmathBackend(prec), q)


def test_exp_is_tight():
    B = MpmathBackend(53)
    lo, hi = B.endpoints(B.exp(B.from_fraction(Fraction(1))))
    assert hi - lo < Fraction(1, 2**60)


def test_precision_is_instance_state():
    before = mpmath.iv.prec, mpmath.mp.prec
    spec = AutoencoderSpec([[1]], [0], [[1]], [0], "tanh")
    low = enclose(spec, Box(["0.1"], ["0.2"]), backend="mpmath", precision=20, method="interval")
    high = enclose(spec, Box(["0.1"], ["0.2"]), backend="mpmath", precision=200, method="interval")
    assert (mpmath.iv.prec, mpmath.mp.prec) == before
    assert np.all(low.output[..., 0] <= high.output[..., 0]) and np.all(high.output[..., 1] <= low.output[..., 1])
    assert low.output[0, 1] - low.output[0, 0] > high.output[0, 1] - high.output[0, 0]


def test_softplus_with_a_huge_beta_returns_quickly():
    """Regression (adversarial review): softplus with β = 2^32 on mpmath evaluated log1p
    of exp(−2^32·z) through Fractions with astronomical exponents and never returned;
    the kit now evaluates log1p and erfc with Arb at the exact endpoints."""
    from verifae import LayeredSpec, enclose_layered

    spec = LayeredSpec([([[1]], [0], {"name": "softplus", "beta": "4294967296", "threshold": "1"})],
                       [([[1]], [0], None)])
    box = Box(["-4294967295/4294967296"], ["1/4294967296"])
    e = enclose_layered(spec, box, semantics="real", backend="mpmath", method="interval")
    assert 0 <= e.output[0, 0] <= e.output[0, 1] < 1e-9
