"""What softplus, silu and gelu share: interior extrema proven with Arb, ranges of
piecewise-monotone functions from them, and relaxation offsets proven by bisection.

- `root_ball`: the one root of g in a bracket [a, b] where g changes sign, enclosed
  by bisection at exact dyadic points; every step keeps a sign change at exact
  endpoints, so (g continuous) a root stays inside. Uniqueness in the starting
  bracket is a fact of the calculus, stated where each entry calls it.
- `Extremum`: a critical point c of f, bracketed by doubles, and the value f(c)
  bracketed by exact dyadic rationals (an Arb ball of f over the root's ball).
- `kit_range` / `fast_range`: a continuous f that is monotone between its critical
  points attains its minimum and maximum over [lo, hi] at lo, hi or at a critical
  point inside; each critical point whose bracket meets [lo, hi] contributes f(c)
  (including one whose bracket only overlaps the edge is sound, and costs at most
  f's variation over the bracket, 2^-200 here).
- `offsets`: every value of g over [lo, hi] lies in the hull of a list of Arb balls:
  on a piece where g' (an enclosure of its range over the piece, from the entry's
  own tight `interval_derivative` with `ARB_KIT`: Arb's ball evaluation of a formula
  over a wide ball is far too wide, e^[−30, 30] contains negative numbers) has one
  sign, g is monotone and its values at the exact ends bound it; elsewhere the
  mean-value form g(J) ⊆ g(c) + g'(J)(J − c) encloses g over the piece once that is
  tight enough (near a root of g', where |g'| is small) or the piece budget is spent.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb, fmpq

from ..directed import float_down, float_up
from ..numbers import round_down, round_up
from .base import RELAXATION_BITS, IntervalKit, proven_offsets

__all__ = ["ARB_KIT", "ArbKit", "Extremum", "PiecewiseMonotone", "ROOT_BITS", "arb_q", "exact_fraction", "root_ball",
           "extremum", "kit_range", "fast_range", "offsets"]

#: precision (bits) of the proofs of the critical points and values
ROOT_BITS = 320


def arb_q(q: Fraction | float | int) -> arb:
    """The exact rational q as an Arb ball (exact when q is dyadic and fits the precision)."""
    q = Fraction(q)
    return arb(fmpq(q.numerator, q.denominator))


def exact_fraction(e: Any) -> Fraction:
    """An exact kit endpoint (an exact arb, a Fraction, an fmpq) as a Fraction."""
    if isinstance(e, arb):
        man, exp = (int(v) for v in e.man_exp())
        return Fraction(man) * Fraction(2) ** exp
    if isinstance(e, Fraction):
        return e
    if hasattr(e, "p") and hasattr(e, "q"):  # fmpq
        return Fraction(int(e.p), int(e.q))
    return Fraction(e)


def root_ball(g: Callable[[arb], arb], a: Fraction, b: Fraction, steps: int = 260) -> arb:
    """A ball containing a root of g in [a, b], where g(a) and g(b) have proven opposite
    signs (an AssertionError otherwise: the bracket is a fact of the entry's maths)."""
    with flint.ctx.workprec(ROOT_BITS):
        left = g(arb_q(a))
        right = g(arb_q(b))
        assert (left < 0 and right > 0) or (left > 0 and right < 0), (a, b)
        rising = left < 0
        for _ in range(steps):
            mid = (a + b) / 2
            v = g(arb_q(mid))
            if (v < 0) == rising and (v < 0 or v > 0):
                a = mid
            elif v < 0 or v > 0:
                b = mid
            else:
                break  # the sign is not decided at this precision: the bracket is tight enough
        return arb_q(a).union(arb_q(b))


@dataclass(frozen=True)
class Extremum:
    """A critical point c in [lo, hi] (doubles) and f(c) in [value_lo, value_hi] (exact)."""

    lo: float
    hi: float
    value_lo: Fraction
    value_hi: Fraction

    @property
    def value_down(self) -> float:
        return round_down(self.value_lo)

    @property
    def value_up(self) -> float:
        return round_up(self.value_hi)


def extremum(f: Callable[[arb], arb], ball: arb) -> Extremum:
    """The critical point in `ball` and f's value there, enclosed by f over the ball."""
    with flint.ctx.workprec(ROOT_BITS):
        v = f(ball)
        return Extremum(float_down(ball.lower()), float_up(ball.upper()),
                        exact_fraction(v.lower()), exact_fraction(v.upper()))


def kit_range(kit: IntervalKit, lo: Any, hi: Any, at: Callable[[IntervalKit, Any], Any],
              extrema: tuple[Extremum, ...]) -> Any:
    """The range over [lo, hi] (exact endpoints) of a continuous f monotone between the
    critical points `extrema`; `at(kit, e)` is f at an exact endpoint."""
    candidates = [at(kit, lo), at(kit, hi)]
    for c in extrema:
        if c.hi >= lo and c.lo <= hi:
            candidates.append(kit.join(kit.from_fraction(c.value_lo), kit.from_fraction(c.value_hi)))
    lowest = candidates[0]
    highest = candidates[0]
    for v in candidates[1:]:
        if kit.endpoints(v)[0] < kit.endpoints(lowest)[0]:
            lowest = v
        if kit.endpoints(v)[1] > kit.endpoints(highest)[1]:
            highest = v
    return kit.join(lowest, highest)


def fast_range(lo: np.ndarray, hi: np.ndarray, at_lo: tuple[np.ndarray, np.ndarray],
               at_hi: tuple[np.ndarray, np.ndarray], extrema: tuple[Extremum, ...]) -> tuple[np.ndarray, np.ndarray]:
    """`kit_range` vectorised: at_lo and at_hi are float64 bounds of f at lo and hi."""
    low = np.minimum(at_lo[0], at_hi[0])
    high = np.maximum(at_lo[1], at_hi[1])
    for c in extrema:
        inside = (hi >= c.lo) & (lo <= c.hi)
        low = np.where(inside, np.minimum(low, c.value_down), low)
        high = np.where(inside, np.maximum(high, c.value_up), high)
    return low, high


class ArbKit:
    """The `IntervalKit` of Arb balls at the current working precision: the arb backend
    lends these operations (`verifae.backends.arb.ArbBackend` inherits them), and
    `ARB_KIT` gives them to the relaxations' derivative ranges."""

    def endpoints(self, x: arb) -> tuple[arb, arb]:
        return x.lower(), x.upper()

    def point(self, e: Any) -> arb:
        return arb(e)

    def join(self, a: arb, b: arb) -> arb:
        return a.lower().union(b.upper())

    def exp(self, x: arb) -> arb:
        return x.exp()

    def log1p(self, x: arb) -> arb:
        return x.log1p()

    def erfc(self, x: arb) -> arb:
        return x.erfc()

    def from_fraction(self, q: Fraction) -> arb:
        return arb_q(q)


ARB_KIT = ArbKit()


def offsets(g: Callable[[arb], arb], dg: Callable[[Fraction, Fraction], arb], lo: Fraction, hi: Fraction,
            budget: int = 240) -> list[arb]:
    """Arb balls whose hull contains g(z) for every z in [lo, hi] (see the module
    docstring); dg(a, b) encloses the range of g' over [a, b]. Run inside the caller's
    working precision."""
    values: list[arb] = []
    pieces = [(lo, hi)]
    while pieces:
        a, b = pieces.pop()
        A, B = arb_q(a), arb_q(b)
        J = A.union(B)
        D = dg(a, b)
        if D > 0 or D < 0:  # g is monotone on [a, b]
            values += [g(A), g(B)]
            continue
        c = (a + b) / 2
        C = arb_q(c)
        spread = D * (J - C)
        tight = spread.rad() < arb(2) ** -45 * (1 + abs(g(C)).upper())
        if tight or budget <= 0:  # (a wide Arb ball may give a NaN D: split it further)
            values.append(g(C) + spread)  # the mean-value form
            continue
        budget -= 2
        pieces += [(a, c), (c, b)]
    return values


class PiecewiseMonotone(ABC):
    """The range methods of an activation whose value and derivative are each monotone
    between proven interior extrema (silu, gelu): the range over an interval is the
    values at its ends and at every extremum whose bracket meets it (`kit_range`,
    `fast_range`), never the ends alone. Mixed in before `Activation`; the entry gives
    `extrema()` (the value's and the derivative's, proven once) and the point
    evaluations `_value_at`, `_prime_at` (IntervalKit) and `_fast_value`, `_fast_prime`
    (FastKit, float64 bounds at points)."""

    @abstractmethod
    def point(self, z: Any, dtype: Any) -> Any:
        """act(z) as a numpy run computes it (`Activation.point`)."""

    @abstractmethod
    def point_derivative(self, z: Any, dtype: Any) -> Any:
        """act'(z) as PyTorch's autograd computes it (`Activation.point_derivative`)."""

    @abstractmethod
    def reference(self, z: arb) -> arb:
        """act over the Arb ball z (`Activation.reference`)."""

    @abstractmethod
    def extrema(self) -> tuple[tuple[Extremum, ...], tuple[Extremum, ...]]:
        """The proven extrema of the value and of the derivative, in increasing order."""

    @abstractmethod
    def _value_at(self, kit: IntervalKit, e: Any) -> Any:
        """act at the exact endpoint e, as a kit interval."""

    @abstractmethod
    def _prime_at(self, kit: IntervalKit, e: Any) -> Any:
        """act' at the exact endpoint e, as a kit interval."""

    @abstractmethod
    def _fast_value(self, kit: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float64 bounds of act at the float points x."""

    @abstractmethod
    def _fast_prime(self, kit: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float64 bounds of act' at the float points x."""

    def interval(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        return kit_range(kit, lo, hi, self._value_at, self.extrema()[0])

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        return kit_range(kit, lo, hi, self._prime_at, self.extrema()[1])

    def fast(self, kit: Any, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fast_range(lo, hi, self._fast_value(kit, lo), self._fast_value(kit, hi), self.extrema()[0])

    def fast_derivative(self, kit: Any, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fast_range(lo, hi, self._fast_prime(kit, lo), self._fast_prime(kit, hi), self.extrema()[1])

    def value_range(self, semantics: str) -> tuple[float, float]:
        # at least the value's minimum for real numbers; a library within K ulps is not
        # promised to respect it
        return (self.extrema()[0][0].value_down, np.inf) if semantics == "real" else (-np.inf, np.inf)

    def _derivative_range(self, p: Fraction, q: Fraction) -> arb:
        """The range of act' over [p, q] as an Arb ball (the tight extension)."""
        return self.interval_derivative(ARB_KIT, arb_q(p).union(arb_q(q)))

    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        """The secant's slope a; g = act − a z is enclosed over [lo, hi] by `offsets`
        (monotone pieces at their ends, the mean-value form near the roots of act' − a):
        act is neither convex nor concave, so never from the endpoints alone."""
        with np.errstate(all="ignore"):
            x = np.array([lo, hi])
            f = self.point(x, np.float64)
            a = float((f[1] - f[0]) / (hi - lo)) if hi > lo else float(self.point_derivative(x[:1], np.float64)[0])
        if not math.isfinite(a):
            a = 0.0
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(a)
            values = offsets(lambda Z: self.reference(Z) - A * Z, lambda p, q: self._derivative_range(p, q) - A,
                             Fraction(lo), Fraction(hi))
            cL, cU = proven_offsets(values)
        return a, cL, cU
