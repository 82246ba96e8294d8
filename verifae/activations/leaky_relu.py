"""leaky_relu(z) = z for z > 0, s·z otherwise (`negative_slope` s, default 0.01).

As PyTorch's `torch.nn.LeakyReLU(negative_slope=s)`: the derivative is 1 for z > 0
and s otherwise, so leaky_relu'(0) = s. s is restricted to [0, 1]: then leaky_relu
is monotone (the interval extension is [f(lo), f(hi)]) and convex (every line
through the origin with slope in [s, 1] lies below it), which the relaxation uses.

The entry is an instance configured by its slope: `LeakyRelu("0.2")`, or from a case
file's `{"name": "leaky_relu", "negative_slope": "0.2"}` (`get_activation`). s is an
exact rational, like a weight: the real semantics uses s itself; a float run holds
fl(s), s rounded to nearest in its format (float32 runs round s once, from its exact
value), and computes fl(fl(s)·z) with one rounding for z <= 0, z itself otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb, fmpq

from ..errors import SpecError, VerifaeError
from ..numbers import FORMATS, FloatFormat, nearest_float, to_exact
from .base import RELAXATION_BITS, Activation, FastKit, FloatKit, IntervalKit, proven_offsets

__all__ = ["LeakyRelu"]

DEFAULT_SLOPE = Fraction(1, 100)


class LeakyRelu(Activation):
    name = "leaky_relu"
    onnx_op = "LeakyRelu"  # attribute alpha = negative_slope
    transcendental = False

    def __init__(self, negative_slope: Any = DEFAULT_SLOPE) -> None:
        try:
            s = to_exact(negative_slope)
        except VerifaeError as exc:
            raise SpecError(f"leaky_relu: negative_slope: {exc}") from None
        if not 0 <= s <= 1:
            raise SpecError(f"leaky_relu: negative_slope must lie in [0, 1], got {negative_slope!r}")
        self.negative_slope = s

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> LeakyRelu:
        unknown = [k for k in params if k != "negative_slope"]
        if unknown:
            raise SpecError(f"leaky_relu: unknown parameter {unknown[0]!r}; its parameter is negative_slope")
        return cls(params.get("negative_slope", DEFAULT_SLOPE))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "negative_slope": str(self.negative_slope)}

    # the slope as a float run holds it
    def slope_in(self, fmt: FloatFormat) -> Fraction:
        """fl(s) in `fmt`, exactly (s in [0, 1] cannot overflow)."""
        return Fraction(nearest_float(self.negative_slope, fmt))

    def _rounded(self, dtype: Any) -> float:
        return nearest_float(self.negative_slope, FORMATS[np.dtype(dtype).name])

    # points
    def point(self, z: Any, dtype: Any) -> Any:
        return np.where(z > 0, z, dtype(self._rounded(dtype)) * z)

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        return np.where(z > 0, dtype(1), dtype(self._rounded(dtype))).astype(dtype)

    def _arb_slope(self) -> arb:
        return arb(fmpq(self.negative_slope.numerator, self.negative_slope.denominator))

    def reference(self, z: arb) -> arb:
        if z.is_exact() and z < 0:  # s·z exactly, then one rounding (none if s·z is dyadic)
            man, exp = (int(v) for v in z.man_exp())
            q = fmpq(man * 2**exp) if exp >= 0 else fmpq(man, 2**-exp)
            return arb(fmpq(self.negative_slope.numerator, self.negative_slope.denominator) * q)
        # max(z, 0) + s·min(z, 0): a sound superset on a ball straddling 0
        return z.max(arb(0)) + self._arb_slope() * z.min(arb(0))

    def reference_derivative(self, z: arb) -> arb:
        if z > 0:
            return arb(1)
        if z <= 0:
            return self._arb_slope()
        return self._arb_slope().union(arb(1))

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        # fl(s) of the run's format, as a double that the kernel's cast keeps exactly
        return torch.nn.LeakyReLU(negative_slope=self._rounded(dtype))

    # intervals: monotone (s >= 0), so the range over [lo, hi] is [f(lo), f(hi)]; the
    # derivative is a step from s to 1 with leaky_relu'(0) = s
    def interval(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        if lo >= 0:
            return x
        S = kit.from_fraction(self.negative_slope)
        low = S * kit.point(lo)
        if hi <= 0:
            return kit.join(low, S * kit.point(hi))
        return kit.join(low, x)

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        if lo > 0:
            return kit.point(1)
        S = kit.from_fraction(self.negative_slope)
        if hi <= 0:
            return S
        return kit.join(S, kit.point(1))

    def _fast_slope(self, kit: FastKit) -> tuple[float, float]:
        """Doubles s_lo <= s <= s_hi (float() of a Fraction is correctly rounded)."""
        f = float(self.negative_slope)
        if Fraction(f) == self.negative_slope:
            return f, f
        return float(kit.down(np.float64(f))), float(kit.up(np.float64(f)))

    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_lo, s_hi = self._fast_slope(kit)
        with np.errstate(invalid="ignore", over="ignore"):
            # for z < 0, s·z lies in [s_hi·z, s_lo·z]; 0·(−inf) is NaN, and s·z = 0 there
            low, high = s_hi * lo, s_lo * hi
            low, high = np.where(np.isnan(low), 0.0, low), np.where(np.isnan(high), 0.0, high)
            return np.where(lo >= 0, lo, kit.down(low)), np.where(hi >= 0, hi, kit.up(high))

    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_lo, s_hi = self._fast_slope(kit)
        return np.where(lo > 0, 1.0, s_lo), np.where(hi > 0, 1.0, s_hi)

    def value_range(self, semantics: str) -> tuple[float, float]:
        return (0.0, np.inf) if self.negative_slope == 0 else (-np.inf, np.inf)

    # float semantics: fl(fl(s)·z) = fl(s)·z(1 + δ) + η (Higham's model with underflow,
    # |δ| <= u, |η| <= eta/2) for z <= 0, z exactly otherwise; the derivative is exactly
    # 1 or fl(s) (the product with the incoming gradient is the backward pass's own).
    def _as_run(self, fmt: FloatFormat) -> LeakyRelu:
        return LeakyRelu(self.slope_in(fmt))

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        # |fl(fl(s)·z) − s·z| <= |fl(s) − s||z| + u·fl(s)|z| + eta
        fmt = FORMATS[format_name]
        s_f = self.slope_in(fmt)
        ds = math.nextafter(float(abs(s_f - self.negative_slope)), math.inf)
        u, eta = float(fmt.unit_roundoff), float(fmt.eta)
        with np.errstate(over="ignore"):
            return kit.inflate((ds + u * float(s_f)) * z_mag + eta, 4)

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        real = kit.inner.activation(self._as_run(kit.format), z.value)
        return kit.relative(real, kit.u, kit.eta), z.unbounded.copy()

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        return kit.inner.activation_derivative(self._as_run(kit.format), z.value), z.unbounded.copy()

    # relaxation: g(z) = f(z) − a z is piecewise linear, extremes at lo, hi and 0. Not
    # straddling 0, a is 1 or s (as a double) and the offsets are 0 (up to the rounding
    # of s); straddling, the chord's slope, and `relaxation_lines` gives the triangle.
    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        s = float(self.negative_slope)
        if hi <= lo:
            a = 1.0 if hi > 0 else s
        elif lo >= 0:
            a = 1.0
        elif hi <= 0:
            a = s
        else:
            with np.errstate(all="ignore"):
                a = float((hi - s * lo) / (hi - lo))
            if not np.isfinite(a):
                a = 1.0
        return a, *self._offsets(a, lo, hi)

    def _offsets(self, a: float, lo: float, hi: float) -> tuple[float, float]:
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(a)
            points = [arb(lo), arb(hi)] + ([arb(0)] if lo < 0 < hi else [])
            return proven_offsets([self.reference(z) - A * z for z in points])

    def relaxation_lines(
        self, lo: float, hi: float, parallel: tuple[float, float, float]
    ) -> tuple[float, float, float, float]:
        """Straddling 0: the upper side is the chord (from `relaxation`), the lower line
        passes through the origin with slope 1 if hi > −lo else s (as relu's triangle),
        its offset proven at lo, 0 and hi."""
        if not lo < 0 < hi:
            return super().relaxation_lines(lo, hi, parallel)
        aU, _, cU = parallel
        aL = 1.0 if hi > -lo else float(self.negative_slope)
        cL, _ = self._offsets(aL, lo, hi)
        return aL, cL, aU, cU

    def origin_slopes(self) -> tuple[float, float] | None:
        """[s, 1] (s rounded up to a double): f(z) = z >= a z for z >= 0 as a <= 1, and
        f(z) = s z >= a z for z < 0 as a >= s (of the real s: a float run's fl(s) is the
        float error model's business)."""
        f = float(self.negative_slope)
        return (f if Fraction(f) >= self.negative_slope else math.nextafter(f, math.inf)), 1.0
