"""The arb backend: precision per instance, tight products."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
from flint import arb, fmpq
from hypothesis import given
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, enclose, get_backend
from verifae.backends.arb import _float_down, _float_up
from verifae.numbers import round_down, round_up


def test_precision_does_not_leak_into_flint_context():
    before = flint.ctx.prec
    spec = AutoencoderSpec([[1, 2]], [0], [[1], [1]], [0, 0], "sigmoid")
    narrow = enclose(spec, Box(["0.1", "0.2"], ["0.1", "0.2"]), backend="arb", precision=300, method="interval")
    assert flint.ctx.prec == before
    coarse = enclose(spec, Box(["0.1", "0.2"], ["0.1", "0.2"]), backend="arb", precision=20, method="interval")
    assert flint.ctx.prec == before
    width = lambda e: e.output[..., 1] - e.output[..., 0]  # noqa: E731
    assert np.all(width(narrow) < width(coarse))
    assert get_backend("arb", 300).precision == 300 and get_backend("arb").precision == 53


def test_wide_times_wide_is_an_interval_product():
    """[0, 2]·[0, 2] is [0, 4]; a plain ball product would give [-2, 4]."""
    B = get_backend("arb")
    u = B.interval(np.array([0], dtype=object), np.array([2], dtype=object))
    (lo, hi), = B.bounds(B.mul(u, u))
    assert -(2.0**-25) <= lo <= 0 and 4 <= hi <= 4 + 2.0**-24
    (lo, hi), = B.bounds(B.outer(u, u))[0]
    assert -(2.0**-25) <= lo <= 0


@given(
    st.integers(-(10**40), 10**40),
    st.integers(1, 10**40),
    st.integers(-1150, 1150),
)
def test_outward_conversion_to_double(num, den, shift):
    """The float bounds of an exact arb are its directed roundings, across the whole range."""
    q = Fraction(num, den) * Fraction(2) ** shift
    with flint.ctx.workprec(300):
        e = arb(fmpq(q.numerator, q.denominator)).mid()
        man, exp = e.man_exp()
        exact = Fraction(int(man)) * Fraction(2) ** int(exp)
        assert _float_down(e) == round_down(exact)
        assert _float_up(e) == round_up(exact)
    assert str(_float_up(arb(0))) == "0.0"


@given(st.lists(st.tuples(st.integers(-(10**30), 10**30), st.integers(1, 10**30), st.integers(-1100, 1100),
                          st.integers(0, 10**6)), min_size=1, max_size=20))
def test_vectorised_bounds_enclose_every_ball(entries):
    B = get_backend("arb", 200)
    with flint.ctx.workprec(200):
        balls = np.array([arb(fmpq(n, d) * fmpq(2) ** e, fmpq(r, 10**6) * fmpq(2) ** e) for n, d, e, r in entries],
                         dtype=object)
        out = B.bounds(balls)
        for ball, (lo, hi) in zip(balls, out):
            assert arb(lo) <= ball.lower() and ball.upper() <= arb(hi)


def test_exact_balls_keep_exact_bounds():
    """An exact 0 must stay [0, 0]: a one-ulp step would make a reference that is exactly
    0 look like it straddles an enclosure's endpoint."""
    B = get_backend("arb")
    out = B.bounds(np.array([arb(0), arb(3), arb(-2) / 8], dtype=object))
    assert out.tolist() == [[0.0, 0.0], [3.0, 3.0], [-0.25, -0.25]]
