"""What sigmoid and tanh share: monotone increasing, with an even derivative that is
strictly decreasing in |z|, computed by a library function within K ulps.

- Their range over [a, b] is [f(a), f(b)], evaluated rigorously at the two exact
  endpoints.
- sigmoid' and tanh' are even and strictly decreasing in |z|, so over [a, b] they are
  maximal at the point nearest 0 (exactly `peak`, 1/4 and 1, when 0 is inside) and
  minimal at the endpoint farthest from 0.

Saturated values use cancellation-free forms, t = exp(-|p|):
sigmoid'(p) = t / (1 + t)^2 and tanh'(p) = 4t^2 / (1 + t^2)^2 with t = exp(-|p|),
which follow from sigmoid(-|p|) = t / (1 + t) and sech(p) = 2t / (1 + t^2).
"""

from __future__ import annotations

from abc import abstractmethod
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb

from ..libm import LIBRARY_ULPS
from ..numbers import FORMATS
from .base import RELAXATION_BITS, Activation, FastKit, FloatKit, IntervalKit, proven_offsets

__all__ = ["Sigmoidal", "near_far"]


def near_far(lo: Any, hi: Any) -> tuple[Any, Any]:
    """The points of [lo, hi] nearest to and farthest from 0."""
    if lo > 0:
        near = lo
    elif hi < 0:
        near = hi
    else:
        near = 0
    far = lo if -lo >= hi else hi
    return near, far


class Sigmoidal(Activation):
    """Shared code of sigmoid and tanh; see the module docstring."""

    transcendental = True
    #: the name of the library function in `verifae.libm.LIBRARY_ULPS`
    library_function: str = ""
    #: act'(0), the maximum of act', as a float
    peak: float = 0.0
    #: act'(p) = factor·t/(1 + t)² with t = exp(−scale·|p|) (cancellation-free)
    prime_scale: float = 0.0
    prime_factor: float = 0.0

    # ------------------------------------------------------------ hooks

    @abstractmethod
    def value_at(self, kit: IntervalKit, e: Any) -> Any:
        """act at the exact endpoint e, as a kit interval."""

    @abstractmethod
    def prime_at(self, kit: IntervalKit, e: Any) -> Any:
        """act' at the exact endpoint e, as a kit interval (cancellation-free)."""

    @abstractmethod
    def peak_interval(self, kit: IntervalKit) -> Any:
        """act'(0) exactly, as a kit interval."""

    @abstractmethod
    def library(self, x: Any) -> Any:
        """act at float64 points as numpy computes it (the fast backend's evaluation)."""

    @abstractmethod
    def relaxation_prime(self, z: arb) -> arb:
        """act' over the Arb ball z as the relaxation verifies its tangency points with
        (the direct formula; `reference_derivative` is the cancellation-free one)."""

    @abstractmethod
    def critical(self, a: float) -> float | None:
        """z0 > 0 with act'(±z0) = a (a float estimate, verified rigorously by the caller;
        it may be inf or NaN when a is tiny), or None when act' never equals a."""

    # ------------------------------------------------------------ intervals

    def interval(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        return kit.join(self.value_at(kit, lo), self.value_at(kit, hi))

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        near, far = near_far(lo, hi)
        smallest = self.prime_at(kit, far)
        # The maximum is exactly act'(0) (1/4 for sigmoid, 1 for tanh) when 0 is inside.
        largest = self.peak_interval(kit) if near == 0 else self.prime_at(kit, near)
        return kit.join(smallest, largest)

    def _library_bound(self, kit: FastKit, x: np.ndarray, lower: bool) -> np.ndarray:
        """f(x) for the float endpoints x, widened by the library bound 2Ku|f| + realmin.

        The bound is relative to the true |f|, which we only know as the computed v:
        |f| <= |v|(1 + 2Ku) + realmin, so 2Ku|f| + realmin <= (2K + 1)u|v| + 2·realmin
        (as 4K²u <= 1)."""
        with np.errstate(over="ignore", under="ignore"):
            v = self.library(x)
        K = LIBRARY_ULPS["float64"][self.library_function]
        slack = kit.inflate((2 * K + 1) * kit.unit_roundoff * np.abs(v) + 2 * kit.realmin, 2)
        return kit.down(v - slack) if lower else kit.up(v + slack)

    def _prime_bound(self, kit: FastKit, x: np.ndarray, lower: bool) -> np.ndarray:
        """act' at float points x, via the cancellation-free c·t/(1 + t)² with
        t = exp(−s|x|) (s = 1, c = 1 for sigmoid; s = 2, c = 4 for tanh). A relative
        error ε of t moves v = t/(1 + t)² by at most |ε| relatively (its logarithmic
        derivative in t is (1 − t)/(1 + t)), so exp's 2Ku, the three roundings of 1 + t,
        the product and the quotient (s|x| and c·t are exact) give (2K + 3)u to first
        order; (2K + 8)u leaves room for the second order and for using the computed v.
        Underflow of t (|x| > 708) costs at most a few realmin."""
        with np.errstate(over="ignore", under="ignore"):
            t = np.exp(-self.prime_scale * np.abs(x))
            v = self.prime_factor * t / ((1.0 + t) * (1.0 + t))
        K = LIBRARY_ULPS["float64"]["exp"]
        slack = kit.inflate((2 * K + 8) * kit.unit_roundoff * v + 4 * kit.realmin, 2)
        return np.maximum(kit.down(v - slack), 0.0) if lower else kit.up(v + slack)

    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # monotone increasing: the range over [lo, hi] is [f(lo), f(hi)]
        return self._library_bound(kit, lo, True), self._library_bound(kit, hi, False)

    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # even, decreasing in |z|: max at the point nearest 0, min at the farthest endpoint
        near = np.where(lo > 0, lo, np.where(hi < 0, hi, 0.0))
        far = np.where(-lo >= hi, lo, hi)
        peak = self.peak
        top = np.where(near == 0, peak, self._prime_bound(kit, near, False))
        return self._prime_bound(kit, far, True), np.minimum(top, peak)

    # ------------------------------------------------------------ float semantics

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        # the library bound 2Ku|act| + realmin (verifae.libm), in the run's format
        fmt = FORMATS[format_name]
        u = float(fmt.unit_roundoff)
        K = LIBRARY_ULPS[format_name][self.library_function]
        return kit.inflate(2 * K * u * value_mag + float(Fraction(2) ** fmt.emin), 2)

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        real = kit.inner.activation(self, z.value)
        # A library function within K ulps: |f_lib − f| <= 2Ku|f| + realmin (verifae.libm).
        K = LIBRARY_ULPS[kit.format.name][self.library_function]
        return kit.relative(real, 2 * K * kit.u, kit.realmin), z.unbounded.copy()

    # ------------------------------------------------------------ relaxation

    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        """g(z) = act(z) − a z has g' = act' − a, which vanishes only where act' = a, i.e.
        at ±z0 (act' is even and strictly decreasing in |z|); the extremes of g are at lo,
        hi or in tiny intervals Z0 around ±z0 that are proven to contain the root
        (act' − a changes sign across them), where g is enclosed by interval evaluation.
        If that proof fails, g is enclosed over all of [lo, hi] instead (sound, looser).
        The slope is the secant's (the parallel tangent then bounds the other side)."""
        if hi <= lo:
            a = 0.0
        else:
            with np.errstate(all="ignore"):
                a = float((self.library(np.float64(hi)) - self.library(np.float64(lo))) / (hi - lo))
            if not np.isfinite(a) or a < 0:
                a = 0.0
        f, fprime = self.reference, self.relaxation_prime
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(a)
            values = [f(z) - A * z for z in (arb(lo), arb(hi))]
            z0 = self.critical(a)
            if z0 is not None and not np.isfinite(z0):
                whole = arb(lo).union(arb(hi))
                values.append(f(whole) - A * whole)  # no usable estimate: enclose g on [lo, hi]
            elif z0 is not None:
                delta = 1e-9 * z0 + 1e-12
                for sign in (1, -1):
                    left, right = sorted((sign * (z0 - delta), sign * (z0 + delta)))
                    d_left, d_right = fprime(arb(left)) - A, fprime(arb(right)) - A
                    if not ((d_left > 0 and d_right < 0) or (d_left < 0 and d_right > 0)):
                        # The root is not proven to lie in [left, right] (z0 came from floats):
                        # enclose g over all of [lo, hi] instead.
                        whole = arb(lo).union(arb(hi))
                        values.append(f(whole) - A * whole)
                        continue
                    if right < lo or left > hi:
                        continue  # the proven critical point is outside [lo, hi]
                    Z = arb(max(left, lo)).union(arb(min(right, hi)))
                    values.append(f(Z) - A * Z)
            cL, cU = proven_offsets(values)
        return a, cL, cU
