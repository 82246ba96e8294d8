"""Interval arithmetic with mpmath's `iv` context, made rigorous for exp.

mpmath's interval +, -, ·, / and integer powers round each endpoint outward
(`mpmath.libmp.libmpi`, round_floor / round_ceiling on correctly rounded mpf
arithmetic), and are used as they are. Its transcendental functions are not
trustworthy: `iv.exp` can return an upper endpoint one ulp below exp(x), because
`mpf_exp` is not correctly rounded (mpmath issue #1181, open), and `iv` has no
tanh. This backend therefore never calls mpmath's exp: `_exp_point` computes exp
from a Taylor polynomial with a proven remainder, using only the outward-rounded
rational operations above (see its docstring for the bound). `iv` has no
trustworthy log1p and no erfc at all: those two (softplus, gelu) are evaluated by
Arb at the exact endpoints (`_via_arb`), whose balls are rigorous by Arb's contract,
and converted outward to this context's precision.

Each backend instance owns a private `MPIntervalContext`, so its precision is
instance state; mpmath's global `iv.prec` is never touched.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import flint
from flint import arb, arf
from mpmath import libmp
from mpmath.ctx_iv import MPIntervalContext

from ..numbers import dyadic_down, dyadic_up
from .base import ObjectIntervalBackend

__all__ = ["MpmathBackend"]


def _raw_to_fraction(raw: tuple) -> Fraction:
    sign, man, exp, _ = raw
    value = Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)
    return -value if sign else value


class MpmathBackend(ObjectIntervalBackend):
    """mpmath intervals at `precision` bits (default 53), exp computed rigorously here."""

    name = "mpmath"

    def __init__(self, precision: int | None = None) -> None:
        self.precision = 53 if precision is None else int(precision)
        self._iv = MPIntervalContext()
        self._iv.prec = self.precision

    @property
    def cache_key(self) -> None:
        return None  # its intervals belong to this instance's context

    # IntervalKit: endpoints are exact Fractions (real-semantics intervals are finite).
    def endpoints(self, x: Any) -> tuple[Fraction, Fraction]:
        lo, hi = x._mpi_
        return _raw_to_fraction(lo), _raw_to_fraction(hi)

    def point(self, e: Any) -> Any:
        return self.from_fraction(Fraction(e))

    def join(self, a: Any, b: Any) -> Any:
        return self._iv.make_mpf((a._mpi_[0], b._mpi_[1]))

    def union(self, a: Any, b: Any) -> Any:
        (a_lo, a_hi), (b_lo, b_hi) = a._mpi_, b._mpi_  # raw mpf ends, compared exactly
        return self._iv.make_mpf((b_lo if libmp.mpf_lt(b_lo, a_lo) else a_lo,
                                  b_hi if libmp.mpf_gt(b_hi, a_hi) else a_hi))

    def exp(self, x: Any) -> Any:
        # exp is increasing: its range over [a, b] is [exp(a), exp(b)].
        lo, hi = x._mpi_
        return self.join(self._exp_point(lo), self._exp_point(hi))

    def log1p(self, x: Any) -> Any:
        return self._via_arb(x, arb.log1p, increasing=True)

    def erfc(self, x: Any) -> Any:
        return self._via_arb(x, arb.erfc, increasing=False)

    def _via_arb(self, x: Any, f: Any, increasing: bool) -> Any:
        """A monotone f over interval x, from Arb balls at the exact endpoints.

        The endpoints are exact dyadic mpf values (sign, mantissa, exponent), which Arb
        holds exactly (`arf`); Arb's ball f(e) contains the true f(e) (Arb's contract),
        and its lower and upper ends, exact dyadics, are rounded outward (floor, ceiling)
        to this context's precision. No Fraction is formed: an endpoint such as
        exp(−10^30) has an exponent far beyond what a rational could hold."""
        lo, hi = x._mpi_

        def ball(v: tuple) -> arb:
            sign, man, exp, bc = v
            if not man and exp:  # ±inf or NaN
                raise ValueError("an unbounded mpmath interval has no finite enclosure here")
            with flint.ctx.workprec(max(int(bc), 1) + self._iv.prec + 30):
                return f(arb(arf((-man if sign else man, exp))))

        first, last = (ball(lo), ball(hi)) if increasing else (ball(hi), ball(lo))

        def raw(e: arb, rounding: str) -> tuple:
            man, exp = e.man_exp()
            return libmp.from_man_exp(int(man), int(exp), self._iv.prec, rounding)

        return self._iv.make_mpf((raw(first.lower(), libmp.round_floor), raw(last.upper(), libmp.round_ceiling)))

    def _exp_point(self, v: tuple) -> Any:
        """An interval containing exp(v) for an exact mpf value v (raw tuple).

        Argument reduction: exp(v) = exp(y)^(2^k) with y = v / 2^k and |y| <= 1/2.
        Taylor: exp(y) = sum_{n<=N} y^n/n! + R_N, and because consecutive terms
        of the tail shrink by a factor |y|/(n+2) <= 1/2 (a geometric bound),
            |R_N| <= |y|^(N+1)/(N+1)! · (1 + 1/2 + 1/4 + …) = 2|y|^(N+1)/(N+1)!
                  <= 2 · 2^-(N+1) / (N+1)!.
        The polynomial is summed in outward-rounded interval arithmetic, R_N is
        added as [-R, R], and the k squarings are interval products, so the result
        contains exp(v). k + 20 guard bits absorb the growth of relative width
        under squaring (each squaring at most doubles it).
        """
        iv = self._iv
        sign, man, exp, bc = v
        if man == 0:
            return iv.mpf(1)
        # |v| < 2^(bc + exp); choose k with |v| / 2^k <= 1/2.
        k = max(0, bc + exp + 1)
        saved = iv.prec
        try:
            iv.prec = self.precision + k + 20
            y = iv.make_mpf((v, v)) / iv.mpf(2) ** k
            target = iv.prec + 2
            total = iv.mpf(1)
            term = iv.mpf(1)
            n = 0
            # The tail bound 2·2^-(n+1)/(n+1)! = 2^-n/(n+1)! is at most
            # 2^-(n + floor(log2 (n+1)!)); stop once that is below 2^-target.
            while n + _floor_log2_factorial(n + 1) < target:
                n += 1
                term = term * y / n
                total = total + term
            tail = (iv.mpf(2) ** (-n) / _factorial(n + 1))._mpi_[1]
            result = total + iv.make_mpf((libmp.mpf_neg(tail), tail))
            for _ in range(k):
                result = result * result
            # exp is positive; drop a lower endpoint that rounding pushed below 0.
            if libmp.mpf_le(result._mpi_[0], libmp.fzero):
                result = iv.make_mpf((libmp.fzero, result._mpi_[1]))
            return result
        finally:
            iv.prec = saved

    # scalar kit
    def from_fraction(self, q: Fraction) -> Any:
        q = Fraction(q)
        # Integer conversion and division both round outward in the iv context.
        return self._iv.mpf(q.numerator) / self._iv.mpf(q.denominator)

    def hull(self, lo: Fraction, hi: Fraction) -> Any:
        return self.join(self.from_fraction(lo), self.from_fraction(hi))

    def scalar_mul(self, a: Any, b: Any) -> Any:
        return a * b  # mpmath's interval product already takes the endpoint extremes

    def scalar_square(self, a: Any) -> Any:
        return a**2  # mpi_pow_int: [0, max²] on a straddling interval

    def scalar_bounds(self, a: Any) -> tuple[float, float]:
        lo, hi = a._mpi_
        return (_raw_down(lo), _raw_up(hi))

    def scalar_magnitude(self, a: Any) -> Any:
        m = _raw_magnitude(a)
        return self._iv.make_mpf((m, m))

    def scalar_widen(self, a: Any, r: Any) -> Any:
        m = r._mpi_[1]
        return a + self._iv.make_mpf((libmp.mpf_neg(m), m))

    def scalar_exceeds(self, a: Any, bound: Fraction) -> bool:
        if libmp.fnan in a._mpi_:
            return True
        return not libmp.mpf_lt(_raw_magnitude(a), self.from_fraction(bound)._mpi_[0])


def _raw_magnitude(a: Any) -> tuple:
    """max(|lo|, |hi|) of interval a, as a raw mpf (exact: no rounding)."""
    lo, hi = (libmp.mpf_abs(v) for v in a._mpi_)
    return hi if libmp.mpf_le(lo, hi) else lo


def _raw_down(raw: tuple) -> float:
    if raw in (libmp.fninf, libmp.fnan):
        return -float("inf")
    if raw == libmp.finf:
        return float("inf")
    sign, man, exp, _ = raw
    return dyadic_down(-man if sign else man, exp)


def _raw_up(raw: tuple) -> float:
    if raw in (libmp.finf, libmp.fnan):
        return float("inf")
    if raw == libmp.fninf:
        return -float("inf")
    sign, man, exp, _ = raw
    return dyadic_up(-man if sign else man, exp)


def _factorial(n: int) -> int:
    out = 1
    for i in range(2, n + 1):
        out *= i
    return out


def _floor_log2_factorial(n: int) -> int:
    """floor(log2(n!)), from the bit length of n!."""
    return _factorial(n).bit_length() - 1
