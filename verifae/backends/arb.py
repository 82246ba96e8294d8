"""Ball arithmetic with python-flint's `arb` (FLINT/Arb).

Every arb operation returns a ball that contains the exact result of the operation
applied to every point of its input balls; this is Arb's documented contract
("Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
F. Johansson, IEEE Trans. Computers 66(8), 2017, §2). exp and tanh are Arb's own
rigorous implementations. The working precision is this instance's `precision`,
applied with `flint.ctx.workprec` around every operation and restored afterwards,
so no global state leaks between backends.
"""

from __future__ import annotations

import functools
import math
from contextlib import AbstractContextManager
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb, fmpq

from ..directed import float_down, float_up
from .base import ObjectIntervalBackend

__all__ = ["ArbBackend"]

# Arb returns radius |m1|r2 + |m2|r1 + r1r2 for [m1 ± r1]·[m2 ± r2]. If one factor
# is narrow, r1 <= 2**-20 |m1|, it has a fixed sign and the exact range of the
# product has half-width |m1|r2 + |m2|r1 (second factor of fixed sign) or
# (|m1| + r1)r2 (second factor straddling 0, so |m2| <= r2). Either way the ball's
# excess is at most r1·r2 <= 2**-20 of the half-width, so the ball product is tight.
# Otherwise the product is formed from the four endpoint products.
_NARROW_BITS = 20


def _with_precision(method):
    @functools.wraps(method)
    def wrapper(self: ArbBackend, *args: Any, **kwargs: Any) -> Any:
        with self.working_precision():
            return method(self, *args, **kwargs)

    return wrapper


class ArbBackend(ObjectIntervalBackend):
    """Arb balls at `precision` bits (default 53)."""

    name = "arb"
    precision: int  # always set: 53 bits unless more or fewer are asked for

    def __init__(self, precision: int | None = None) -> None:
        self.precision = 53 if precision is None else int(precision)

    def working_precision(self) -> AbstractContextManager:
        return flint.ctx.workprec(self.precision)

    # IntervalKit
    def endpoints(self, x: arb) -> tuple[arb, arb]:
        return x.lower(), x.upper()

    def point(self, e: Any) -> arb:
        return arb(e)

    def join(self, a: arb, b: arb) -> arb:
        return a.lower().union(b.upper())

    def exp(self, x: arb) -> arb:
        return x.exp()

    def tanh(self, x: arb) -> arb:
        return x.tanh()

    def log1p(self, x: arb) -> arb:
        return x.log1p()

    def erfc(self, x: arb) -> arb:
        return x.erfc()

    # scalar kit
    def from_fraction(self, q: Fraction) -> arb:
        if q.denominator == 1:
            return arb(q.numerator)
        return arb(fmpq(q.numerator, q.denominator))

    def from_float(self, f: float) -> arb:
        return arb(f)  # a double is exact in Arb at any precision

    def hull(self, lo: Fraction, hi: Fraction) -> arb:
        return self.from_fraction(lo).union(self.from_fraction(hi))

    def scalar_mul(self, a: arb, b: arb) -> arb:
        if a.rel_accuracy_bits() >= _NARROW_BITS or b.rel_accuracy_bits() >= _NARROW_BITS:
            return a * b
        al, ah, bl, bh = a.lower(), a.upper(), b.lower(), b.upper()
        products = (al * bl, al * bh, ah * bl, ah * bh)
        lowest = min(products, key=lambda p: p.lower())
        highest = max(products, key=lambda p: p.upper())
        return self.join(lowest, highest)

    def scalar_square(self, a: arb) -> arb:
        # x² over a ball is [|x|min², |x|max²]; the ball product a·a would give a
        # negative lower bound whenever a straddles 0.
        small, large = a.abs_lower(), a.abs_upper()
        return self.join(small * small, large * large)

    def scalar_bounds(self, a: arb) -> tuple[float, float]:
        if not a.is_finite():
            return (-math.inf, math.inf)
        return _float_down(a.lower()), _float_up(a.upper())

    def scalar_magnitude(self, a: arb) -> arb:
        return a.abs_upper()

    def scalar_widen(self, a: arb, r: arb) -> arb:
        m = r.upper()
        return a + m.union(-m)

    def scalar_exceeds(self, a: arb, bound: Fraction) -> bool:
        return not (a.is_finite() and a.abs_upper() < self.from_fraction(bound).lower())

    @_with_precision
    def bounds(self, t: Any) -> np.ndarray:
        """Outward float64 bounds, vectorised: float() of an exact arb is within one ulp of
        it, so one nextafter step on each of midpoint and radius, and one on their sum,
        bounds [mid − rad, mid + rad]. Exact balls and entries out of the double range
        take the exact, per-entry path of `scalar_bounds`."""
        t = np.asarray(t, dtype=object)
        flat = t.ravel()
        mid = np.array([float(v.mid()) for v in flat], dtype=np.float64)
        rad = np.array([float(v.rad()) for v in flat], dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            r = np.nextafter(rad, np.inf)
            lo = np.nextafter(np.nextafter(mid, -np.inf) - r, -np.inf)
            hi = np.nextafter(np.nextafter(mid, np.inf) + r, np.inf)
        out = np.stack([lo, hi], axis=-1)
        # Exact balls (radius 0: exact zeros, small integers) keep their exact double
        # bounds; out-of-range entries need the exact path too.
        exact_or_huge = (rad == 0) | ~(np.isfinite(mid) & np.isfinite(rad) & np.isfinite(lo) & np.isfinite(hi))
        for i in np.flatnonzero(exact_or_huge):
            out[i] = self.scalar_bounds(flat[i])
        return out.reshape(t.shape + (2,))


# Exact directed roundings of Arb values to doubles (kept under these names here).
_float_down, _float_up = float_down, float_up


# Every tensor operation runs at this instance's precision (`bounds` is wrapped where defined).
for _name in (
    "constant", "interval", "matvec", "rmatvec", "outer", "add", "sub", "mul",
    "scale", "square", "mean", "activation", "activation_derivative",
    "affine", "magnitude", "widen", "exceeds", "constant_floats",
):
    setattr(ArbBackend, _name, _with_precision(getattr(ObjectIntervalBackend, _name)))
del _name
