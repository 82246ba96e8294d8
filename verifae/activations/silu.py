"""silu(z) = z·s(z) with s the sigmoid, silu'(z) = s(1 + z(1 − s)).

As PyTorch's `torch.nn.SiLU()`: its CPU kernel computes z / (1 + exp(−z)) forward and
g·s·(1 + z(1 − s)) with s = 1/(1 + exp(−z)) backward (measured on PyTorch 2.13:
bitwise equal to those formulas with numpy's exp at most points, within 2 ulps
elsewhere; the library exp is the difference). `point` and `point_derivative` are
these formulas in numpy.

Shape, used by every extension (s' = s(1 − s), 1 − 2s = −tanh(z/2)):
- silu' has the sign of 1 + z(1 − s), which is negative below one point m ≈ −1.2785
  and positive above it (1 + z(1 − s) is increasing for z < 0: its derivative is
  (1 − s)(1 − z s) > 0; and it is >= 1 for z >= 0). So silu decreases on (−inf, m],
  increases on [m, inf), and its range over [lo, hi] is from its endpoints and
  silu(m) ≈ −0.27846 when m is inside.
- silu'' = s(1 − s)(2 − z tanh(z/2)), and z tanh(z/2) is even and increasing in |z|,
  so silu'' vanishes exactly at ±c, c ≈ 2.3994: silu' decreases on (−inf, −c],
  increases on [−c, c] and decreases on [c, inf): its range is from the endpoints
  and silu'(−c) ≈ −0.0998 (the minimum), silu'(c) ≈ 1.0998 (the maximum) when inside.
m and ±c are proven once with Arb (`verifae.activations._extrema`: a sign change of
silu' or silu'' at exact endpoints of a bracket 2^-260 wide), and the values there
are Arb balls over those brackets.

ONNX: `Swish` (opset 24, alpha 1) is silu as one operator; earlier opsets have no
single operator, and PyTorch's exporter writes Mul(X, Sigmoid(X)).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb

from ..libm import LIBRARY_ULPS
from ..numbers import FORMATS
from ._extrema import (
    ROOT_BITS,
    Extremum,
    PiecewiseMonotone,
    extremum,
    root_ball,
)
from .base import Activation, FastKit, FloatKit, IntervalKit
from .sigmoid import Sigmoid

__all__ = ["Silu"]

#: beyond |z| = SATURATION, silu(z) is z or within eta of 0 and silu'(z) within eta of 1
#: or 0: e^-750 |z| < 2^-1074 for |z| >= 750 (and |z| <= 2^1024)
SATURATION = 750.0
ETA = 5e-324
#: for e <= −TAIL = −2^16, silu(e) and silu'(e) lie in [−TINY, 0], TINY = 2^-90000:
#: |e| e^e (1 + |e|) < 2^-94000 for 2^16 <= |e| <= 2^1024 (an interval kit then never
#: forms values like e^(−10^30), whose exponents mpmath's endpoints cannot hold)
TAIL = 2**16
TINY = Fraction(1, 2**90000)


def _sigmoid(z: arb) -> arb:
    return 1 / (1 + (-z).exp())


@functools.cache
def _extrema() -> tuple[tuple[Extremum, ...], tuple[Extremum, ...]]:
    """((silu's minimum,), (silu''s minimum, silu''s maximum)), proven with Arb."""
    silu = Silu()
    # silu' has the sign of 1 + z(1 − s) = 1 + z·s(−z), which rises through 0 once (docstring)
    m = root_ball(lambda z: 1 + z * _sigmoid(-z), Fraction(-13, 10), Fraction(-5, 4))
    # silu'' has the sign of 2 − z tanh(z/2), zero exactly at ±c
    c = root_ball(lambda z: 2 - z * (z / 2).tanh(), Fraction(23, 10), Fraction(5, 2))
    with flint.ctx.workprec(ROOT_BITS):
        minus_c = -c
    value = (extremum(silu.reference, m),)
    derivative = (extremum(silu.reference_derivative, minus_c), extremum(silu.reference_derivative, c))
    return value, derivative


class Silu(PiecewiseMonotone, Activation):
    name = "silu"
    onnx_op = "Swish"  # opset 24; before it, Mul(X, Sigmoid(X))
    transcendental = True

    def extrema(self) -> tuple[tuple[Extremum, ...], tuple[Extremum, ...]]:
        return _extrema()

    # ------------------------------------------------------------ points

    def point(self, z: Any, dtype: Any) -> Any:
        return z / (dtype(1) + np.exp(-z))  # PyTorch's kernel formula

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        one = dtype(1)
        s = one / (one + np.exp(-z))
        return s * (one + z * (one - s))

    def reference(self, z: arb) -> arb:
        return z * _sigmoid(z)

    def reference_derivative(self, z: arb) -> arb:
        # 1 − s(z) = s(−z): no cancellation where s is near 1
        return _sigmoid(z) * (1 + z * _sigmoid(-z))

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        return torch.nn.SiLU()

    # ------------------------------------------------------------ intervals

    @staticmethod
    def _s_and_complement(kit: IntervalKit, e: Any) -> tuple[Any, Any]:
        """s(e) and 1 − s(e) at an exact endpoint, from t = exp(−|e|) <= 1 (no overflow,
        no cancellation): s = 1/(1 + t), 1 − s = t/(1 + t) for e >= 0, swapped for e < 0."""
        one = kit.point(1)
        t = kit.exp(kit.point(-abs(e)))
        big, small = one / (one + t), t / (one + t)
        return (big, small) if e >= 0 else (small, big)

    @staticmethod
    def _tail(kit: IntervalKit) -> Any:
        """[−TINY, 0], holding act and act' at every e <= −TAIL (see TAIL)."""
        return kit.join(kit.from_fraction(-TINY), kit.point(0))

    def _value_at(self, kit: IntervalKit, e: Any) -> Any:
        if e <= -TAIL:
            return self._tail(kit)
        s, _ = self._s_and_complement(kit, e)
        return kit.point(e) * s

    def _prime_at(self, kit: IntervalKit, e: Any) -> Any:
        if e <= -TAIL:
            return self._tail(kit)
        s, c = self._s_and_complement(kit, e)
        return s * (kit.point(1) + kit.point(e) * c)



    @staticmethod
    def _fast_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """s and 1 − s at float64 points, cancellation-free as in `_s_and_complement`."""
        with np.errstate(under="ignore"):
            t = np.exp(-np.abs(x))
        big, small = 1.0 / (1.0 + t), t / (1.0 + t)
        return np.where(x >= 0, big, small), np.where(x >= 0, small, big)

    def _fast_value(self, kit: FastKit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of silu at float points x. exp within K ulps gives t = e^-|x|(1 + ε) + ζ,
        |ε| <= 2Ku, |ζ| <= realmin; s and 1 − s are then within (2K + 2)u relatively
        (a relative error of t moves t/(1 + t) and 1/(1 + t) by at most as much
        relatively, and two roundings follow) plus realmin, and x·s adds one rounding:
        |v − silu(x)| <= (2K + 3)u|silu(x)| + realmin|x|; (2K + 4)u|v| covers the first
        term in the computed v. Beyond |x| = 750 the saturated values are exact bounds."""
        K = LIBRARY_ULPS["float64"]["exp"]
        u, realmin = kit.unit_roundoff, kit.realmin
        s, _ = self._fast_parts(x)
        v = x * s
        slack = kit.inflate((2 * K + 4) * u * np.abs(v) + 2 * realmin * (1 + np.abs(x)), 4)
        low, high = kit.down(v - slack), kit.up(v + slack)
        low = np.where(x <= -SATURATION, -ETA, np.where(x >= SATURATION, kit.down(x), low))
        # up(x), not x: act(x) < x, and a bound at x itself is not decidable for a test
        high = np.where(x <= -SATURATION, 0.0, np.where(x >= SATURATION, kit.up(x), high))
        return low, high

    def _fast_prime(self, kit: FastKit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of silu' = s(1 + x c), c = 1 − s, at float points x. With s_f, c_f within
        (2K + 2)u relatively (plus realmin), B_f = fl(1 + fl(x c_f)) has
        |B_f − B| <= (2K + 3)u|x|c + u|B| and d_f = fl(s_f B_f) has
        |d_f − d| <= (2K + 4)u·s(1 + 2|x|c) to first order (|B| <= 1 + |x|c); (2K + 8)u
        with the computed s_f, c_f covers the second order, and 4realmin(1 + |x|) the
        absolute errors of s and c."""
        K = LIBRARY_ULPS["float64"]["exp"]
        u, realmin = kit.unit_roundoff, kit.realmin
        s, c = self._fast_parts(x)
        d = s * (1.0 + x * c)
        slack = kit.inflate((2 * K + 8) * u * s * (1 + 2 * np.abs(x) * c) + 4 * realmin * (1 + np.abs(x)), 6)
        low, high = kit.down(d - slack), kit.up(d + slack)
        # |x| >= 750: silu' = s(1 + x(1 − s)) is within eta of 1 (x > 0) or of 0, below it
        low = np.where(x <= -SATURATION, -ETA, np.where(x >= SATURATION, kit.down(1.0), low))
        high = np.where(x <= -SATURATION, 0.0, np.where(x >= SATURATION, kit.up(1.0), high))
        return low, high




    # ------------------------------------------------------------ float semantics
    #
    # Higham's model (fl(a op b) = (a op b)(1 + δ) + η, |δ| <= u, |η| <= eta/2) and the
    # library bound |exp_lib − exp| <= 2Ku·exp + realmin (verifae.libm).
    #
    # Value, v = fl(z / fl(1 + E)) with E = exp_lib(−z) (PyTorch), or fl(z·s_f) with
    # s_f = fl(1/fl(1 + E)) (the same with one more rounding): a relative error ε of E
    # moves 1 + E by at most ε relatively, so |v − silu(z)| <= (2K + 3)u|silu(z)| to
    # second order; (2K + 5)u covers the rest. If E overflows to inf (e^-z near realmax
    # or beyond), v = ∓0 while |silu(z)| = |z|/(1 + e^-z) <= 2|z|/realmax.
    #
    # Derivative, d = fl(s_f·fl(1 + fl(z·fl(1 − s_f)))) (PyTorch's backward computes
    # fl(fl(g·s_f)·B_f), the same three roundings of g·s·B once `mul` adds its own).
    # With |s_f − s| <= σ s + realmin, σ = (2K + 3)u: q = fl(1 − s_f) is within
    # σ s + u(1 − s) (+ second order) of 1 − s; r = fl(z q) within
    # |z|(σ s + 2u(1 − s)); B_f within that + u|B|; d_f within s|B_f − B| + σ s|B| + u s|B|.
    # With |B| <= 1 + |z| and s(1 − s) <= s: |d_f − d| <= (σ + 2u)·s·(1 + 2|z|) to first
    # order, and the absolute realmin of s_f adds realmin(1 + 2|z|) twice over. We use
    # (2σ + 4u)·s·(1 + 2|z|) + 2realmin(1 + 2|z|) + 2eta.

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        fmt = FORMATS[format_name]
        u = float(fmt.unit_roundoff)
        K = LIBRARY_ULPS[format_name]["exp"]
        realmin = math.ldexp(1.0, fmt.emin)
        tiny = 2.0 / float(fmt.realmax)
        return kit.inflate((2 * K + 6) * u * value_mag + tiny * z_mag + realmin, 3)

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        inner = kit.inner
        K = LIBRARY_ULPS[kit.format.name]["exp"]
        real = inner.activation(self, z.value)
        radius = inner.add(kit.radius(real, (2 * K + 5) * kit.u), kit.radius(z.value, 2 / kit.realmax))
        return inner.widen(real, radius, kit.eta), z.unbounded.copy()

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        inner = kit.inner
        shape = np.shape(z.value)
        K = LIBRARY_ULPS[kit.format.name]["exp"]
        sigma = (2 * K + 3) * kit.u
        real = inner.activation_derivative(self, z.value)
        s = inner.activation(Sigmoid(), z.value)
        growth = inner.add(kit.full(shape, Fraction(1)), inner.scale(inner.magnitude(z.value), 2))
        per_unit = inner.add(kit.radius(s, 2 * sigma + 4 * kit.u), kit.full(shape, 2 * kit.realmin))
        radius = inner.mul(growth, per_unit)
        return inner.widen(real, radius, 2 * kit.eta), z.unbounded.copy()

    # ------------------------------------------------------------ relaxation

