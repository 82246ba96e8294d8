"""Exact rational interval arithmetic (python-flint `fmpq` endpoints).

Every operation on intervals with rational endpoints is computed exactly: the sum
and the product of [a, b] and [c, d] are [a+c, b+d] and [min, max] of the four
endpoint products, with no rounding at all. relu and identity models are therefore
computed exactly, and a point box gives the exact rational value of each quantity.
exp has no exact rational value, so sigmoid and tanh are refused, never approximated.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from flint import fmpq

from ..activations import Activation
from ..errors import UnsupportedError
from ..numbers import round_down, round_up
from .base import ObjectIntervalBackend, refuse_transcendental

__all__ = ["ExactBackend", "RationalInterval"]


def _fraction(q: fmpq) -> Fraction:
    return Fraction(int(q.p), int(q.q))


class RationalInterval:
    """The closed interval [lo, hi] with exact `fmpq` endpoints."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: fmpq, hi: fmpq) -> None:
        self.lo = lo
        self.hi = hi

    def __add__(self, other: RationalInterval) -> RationalInterval:
        return RationalInterval(self.lo + other.lo, self.hi + other.hi)

    def __sub__(self, other: RationalInterval) -> RationalInterval:
        return RationalInterval(self.lo - other.hi, self.hi - other.lo)

    def __neg__(self) -> RationalInterval:
        return RationalInterval(-self.hi, -self.lo)

    def __mul__(self, other: RationalInterval) -> RationalInterval:
        if self.lo == self.hi and other.lo == other.hi:
            p = self.lo * other.lo
            return RationalInterval(p, p)
        products = (self.lo * other.lo, self.lo * other.hi, self.hi * other.lo, self.hi * other.hi)
        return RationalInterval(min(products), max(products))

    def square(self) -> RationalInterval:
        a, b = self.lo * self.lo, self.hi * self.hi
        if self.lo <= 0 <= self.hi:
            return RationalInterval(fmpq(0), max(a, b))
        return RationalInterval(min(a, b), max(a, b))

    def __repr__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


class ExactBackend(ObjectIntervalBackend):
    """Exact rational intervals; relu and identity only."""

    name = "exact"

    def __init__(self, precision: int | None = None) -> None:
        if precision is not None:
            raise UnsupportedError("backend 'exact' computes exactly and takes no precision")

    def check_supports(self, activation: str | Activation) -> None:
        super().check_supports(activation)
        refuse_transcendental(self, activation)

    # IntervalKit
    def endpoints(self, x: RationalInterval) -> tuple[fmpq, fmpq]:
        return x.lo, x.hi

    def point(self, e: Any) -> RationalInterval:
        q = e if isinstance(e, fmpq) else fmpq(e)
        return RationalInterval(q, q)

    def join(self, a: RationalInterval, b: RationalInterval) -> RationalInterval:
        return RationalInterval(a.lo, b.hi)

    def union(self, a: RationalInterval, b: RationalInterval) -> RationalInterval:
        return RationalInterval(min(a.lo, b.lo), max(a.hi, b.hi))

    def exp(self, x: RationalInterval) -> RationalInterval:
        raise UnsupportedError("backend 'exact' cannot evaluate exp exactly")

    def log1p(self, x: RationalInterval) -> RationalInterval:
        raise UnsupportedError("backend 'exact' cannot evaluate log1p exactly")

    def erfc(self, x: RationalInterval) -> RationalInterval:
        raise UnsupportedError("backend 'exact' cannot evaluate erfc exactly")

    # scalar kit
    def from_fraction(self, q: Fraction) -> RationalInterval:
        v = fmpq(q.numerator, q.denominator)
        return RationalInterval(v, v)

    def hull(self, lo: Fraction, hi: Fraction) -> RationalInterval:
        return RationalInterval(fmpq(lo.numerator, lo.denominator), fmpq(hi.numerator, hi.denominator))

    def scalar_mul(self, a: RationalInterval, b: RationalInterval) -> RationalInterval:
        return a * b

    def scalar_square(self, a: RationalInterval) -> RationalInterval:
        return a.square()

    def scalar_bounds(self, a: RationalInterval) -> tuple[float, float]:
        return round_down(_fraction(a.lo)), round_up(_fraction(a.hi))

    def scalar_magnitude(self, a: RationalInterval) -> RationalInterval:
        m = max(-a.lo, a.hi)
        return RationalInterval(m, m)

    def scalar_widen(self, a: RationalInterval, r: RationalInterval) -> RationalInterval:
        return RationalInterval(a.lo - r.hi, a.hi + r.hi)

    def scalar_exceeds(self, a: RationalInterval, bound: Fraction) -> bool:
        return max(-a.lo, a.hi) >= fmpq(bound.numerator, bound.denominator)

    def values(self, t: Any) -> np.ndarray:
        """Exact Fractions; every interval must be a point (a point box was evaluated)."""
        t = np.asarray(t, dtype=object)
        out = np.empty(t.shape, dtype=object)
        for index, v in np.ndenumerate(t):
            if v.lo != v.hi:
                raise UnsupportedError("values() of a non-degenerate interval")
            out[index] = _fraction(v.lo)
        return out
