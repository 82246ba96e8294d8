"""Directed roundings of exact Arb values to doubles (used by the Arb backend and by the
proven offsets of the linear relaxations)."""

from __future__ import annotations

import math

from flint import arb

from .numbers import dyadic_down

__all__ = ["float_down", "float_up"]

_DOUBLE_MAX = 1.7976931348623157e308


def float_down(e: arb) -> float:
    """The largest double <= the exact arb e (float() rounds to nearest; the exact
    comparison with arb(f) corrects the direction); -inf for a non-finite e."""
    if not e.is_finite():  # NaN or infinite: nothing finite bounds it
        return -math.inf
    f = float(e)
    if math.isnan(f) or abs(f) > _DOUBLE_MAX:  # out of the double range: the slow exact path
        man, exp = e.man_exp()
        return dyadic_down(int(man), int(exp))
    return f if arb(f) <= e else math.nextafter(f, -math.inf)


def float_up(e: arb) -> float:
    """The smallest double >= the exact arb e; inf for a non-finite e."""
    if not e.is_finite():
        return math.inf
    return 0.0 - float_down(-e)  # never -0.0
