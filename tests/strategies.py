"""Hypothesis strategies: random small specs, boxes and points inside them."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from verifae import ACTIVATIONS, AutoencoderSpec, Box


def rationals(bound: int = 2, denominator: int = 64) -> st.SearchStrategy[Fraction]:
    """Small rationals, with dyadic and decimal ones (0.1 is not a double) among them."""
    return st.one_of(
        st.fractions(min_value=-bound, max_value=bound, max_denominator=denominator),
        st.integers(-bound * 1000, bound * 1000).map(lambda n: Fraction(n, 1000)),
        st.sampled_from([Fraction(0), Fraction(1, 10), Fraction(-1, 3)]),
    )


@st.composite
def specs(draw, activations=ACTIVATIONS, max_d: int = 6, max_h: int = 4) -> AutoencoderSpec:
    d = draw(st.integers(1, max_d))
    h = draw(st.integers(1, max_h))  # h = 0 is refused (AutoencoderSpec)
    act = draw(st.sampled_from(activations))
    v = rationals()
    W_enc = draw(st.lists(st.lists(v, min_size=d, max_size=d), min_size=h, max_size=h))
    b_enc = draw(st.lists(v, min_size=h, max_size=h))
    W_dec = draw(st.lists(st.lists(v, min_size=h, max_size=h), min_size=d, max_size=d))
    b_dec = draw(st.lists(v, min_size=d, max_size=d))
    if h == 0:
        W_enc = np.empty((0, d), dtype=object)
    return AutoencoderSpec(W_enc, b_enc, W_dec, b_dec, act)


@st.composite
def boxes(draw, d: int) -> Box:
    """Point boxes, narrow boxes and wide boxes."""
    center = draw(st.lists(rationals(), min_size=d, max_size=d))
    kind = draw(st.sampled_from(["point", "narrow", "wide", "mixed"]))
    if kind == "point":
        return Box.point(center)
    if kind == "narrow":
        return Box.around(center, draw(st.sampled_from([Fraction(1, 1000), Fraction(1, 100)])))
    if kind == "wide":
        return Box.around(center, draw(st.fractions(1, 3, max_denominator=8)))
    radius = draw(st.lists(st.fractions(0, 2, max_denominator=16), min_size=d, max_size=d))
    return Box.around(center, radius)


@st.composite
def points_in(draw, box: Box, count: int = 6) -> list[list[Fraction]]:
    """Corners (some of them), the centre and random interior points of `box`."""
    points = [list(box.center)]
    corners = list(box.corners(limit=64))
    points += [list(c) for c in draw(st.lists(st.sampled_from(corners), min_size=1, max_size=4))]
    for _ in range(count):
        t = draw(st.lists(st.fractions(0, 1, max_denominator=97), min_size=box.dim, max_size=box.dim))
        points.append([lo + ti * (hi - lo) for lo, hi, ti in zip(box.lower, box.upper, t)])
    return points
