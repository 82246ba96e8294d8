"""gelu(z) = z·Φ(z) = (z/2)(1 + erf(z/√2)), gelu'(z) = Φ(z) + z·φ(z) (the erf form).

As PyTorch's `torch.nn.GELU(approximate="none")`, whose CPU kernel computes
z·0.5·(1 + erf(z·M_SQRT1_2)) forward and, backward, g·(cdf + z·pdf) with
cdf = 0.5·(1 + erf(z·M_SQRT1_2)) and pdf = kBeta·exp(z·z·(−0.5)),
kBeta = M_2_SQRTPI·M_SQRT1_2·0.5 (formed in double, then held in the run's format).
numpy has no erf: `point` and `point_derivative` compute the same formulas with
Python's `math.erf` (the C library's double erf) per element, rounded to float32 in
float32 runs; `verifae.libm` measures that erf ("numpy" column) and PyTorch's.

Shape, used by every extension (φ' = −zφ):
- gelu' = Φ + zφ is negative below one point m ≈ −0.7518 and positive above it
  (gelu'' = φ(2 − z²) > 0 on [−√2, √2], gelu' < 0 on (−inf, −√2] by Mills' ratio
  Φ(z) < φ(z)/|z|, and gelu' > 0 on [√2, inf)): gelu decreases on (−inf, m] and
  increases on [m, inf); gelu(m) ≈ −0.16997 is the minimum.
- gelu'' = φ(z)(2 − z²): gelu' decreases on (−inf, −√2], increases on [−√2, √2] and
  decreases on [√2, inf); gelu'(−√2) ≈ −0.1289 and gelu'(√2) ≈ 1.1289 are its extremes.
m is proven once with Arb (a sign change of gelu' at exact endpoints 2^-260 apart),
±√2 are Arb balls; the values there are Arb balls over them (`_extrema`).

Intervals use Φ(z) = erfc(−z/√2)/2, free of the cancellation of 1 + erf(z/√2) for
z ≪ 0; 1/√2 and 1/√(2π) enter as intervals between exact rationals 2^-300 apart.

ONNX: `Gelu` (opset 20, approximate "none").
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
from ..numbers import FORMATS, round_down, round_up
from ._extrema import (
    ROOT_BITS,
    Extremum,
    PiecewiseMonotone,
    exact_fraction,
    extremum,
    root_ball,
)
from .base import Activation, FastKit, FloatKit, IntervalKit

__all__ = ["Gelu"]

#: PyTorch's constants as C doubles: M_SQRT1_2 and M_2_SQRTPI·M_SQRT1_2·0.5 (kBeta)
M_SQRT1_2 = 0.7071067811865476
K_BETA = 1.1283791670955126 * M_SQRT1_2 * 0.5
#: beyond |z| = SATURATION, |gelu(z) − max(z, 0)| and |gelu'(z) − [z > 0]| are below
#: φ(z)(1 + |z|) < 2^-1074 (Mills' ratio: 1 − Φ(|z|) < φ(z)/|z|)
SATURATION = 40.0
ETA = 5e-324
#: for e <= −TAIL = −2^16, gelu(e) and gelu'(e) lie in [−TINY, 0], TINY = 2^-90000:
#: |gelu| <= φ(e) and |gelu'| <= |e|φ(e) < 2^-90000 there (an interval kit then never
#: forms values like e^(−10^60), whose exponents mpmath's endpoints cannot hold)
TAIL = 2**16
TINY = Fraction(1, 2**90000)

_erf = np.vectorize(math.erf, otypes=[np.float64])


@functools.cache
def _constants() -> tuple[tuple[Fraction, Fraction], tuple[Fraction, Fraction]]:
    """Exact rational bounds of 1/√2 and of 1/√(2π)."""
    with flint.ctx.workprec(ROOT_BITS):
        r = 1 / arb(2).sqrt()
        k = 1 / (2 * arb.pi()).sqrt()
        return ((exact_fraction(r.lower()), exact_fraction(r.upper())),
                (exact_fraction(k.lower()), exact_fraction(k.upper())))


def _phi_cdf(z: arb) -> arb:
    return (-z / arb(2).sqrt()).erfc() / 2


def _pdf(z: arb) -> arb:
    return (-(z * z) / 2).exp() / (2 * arb.pi()).sqrt()


@functools.cache
def _extrema() -> tuple[tuple[Extremum, ...], tuple[Extremum, ...]]:
    gelu = Gelu()
    m = root_ball(gelu.reference_derivative, Fraction(-4, 5), Fraction(-7, 10))
    with flint.ctx.workprec(ROOT_BITS):
        c = arb(2).sqrt()
        minus_c = -c
    value = (extremum(gelu.reference, m),)
    derivative = (extremum(gelu.reference_derivative, minus_c), extremum(gelu.reference_derivative, c))
    return value, derivative


class Gelu(PiecewiseMonotone, Activation):
    name = "gelu"
    onnx_op = "Gelu"  # opset 20, approximate "none"
    transcendental = True

    def extrema(self) -> tuple[tuple[Extremum, ...], tuple[Extremum, ...]]:
        return _extrema()

    # ------------------------------------------------------------ points

    @staticmethod
    def _erf(x: Any, dtype: Any) -> Any:
        """math.erf per element in double, rounded to dtype (the numpy run's erf)."""
        return _erf(np.asarray(x, dtype=np.float64)).astype(dtype)

    def point(self, z: Any, dtype: Any) -> Any:
        return z * dtype(0.5) * (dtype(1) + self._erf(z * dtype(M_SQRT1_2), dtype))

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        cdf = dtype(0.5) * (dtype(1) + self._erf(z * dtype(M_SQRT1_2), dtype))
        pdf = dtype(K_BETA) * np.exp(z * z * dtype(-0.5))
        return cdf + z * pdf

    def reference(self, z: arb) -> arb:
        return z * _phi_cdf(z)

    def reference_derivative(self, z: arb) -> arb:
        return _phi_cdf(z) + z * _pdf(z)

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        return torch.nn.GELU(approximate="none")

    # ------------------------------------------------------------ intervals

    @staticmethod
    def _cdf_at(kit: IntervalKit, p: Any) -> Any:
        (r_lo, r_hi), _ = _constants()
        r = kit.join(kit.from_fraction(r_lo), kit.from_fraction(r_hi))
        return kit.erfc(-(p * r)) / 2

    @staticmethod
    def _tail(kit: IntervalKit) -> Any:
        """[−TINY, 0], holding act and act' at every e <= −TAIL (see TAIL)."""
        return kit.join(kit.from_fraction(-TINY), kit.point(0))

    def _value_at(self, kit: IntervalKit, e: Any) -> Any:
        if e <= -TAIL:
            return self._tail(kit)
        p = kit.point(e)
        return p * self._cdf_at(kit, p)

    def _prime_at(self, kit: IntervalKit, e: Any) -> Any:
        if e <= -TAIL:
            return self._tail(kit)
        _, (k_lo, k_hi) = _constants()
        p = kit.point(e)
        pdf = kit.exp(-(p * p) / 2) * kit.join(kit.from_fraction(k_lo), kit.from_fraction(k_hi))
        return self._cdf_at(kit, p) + p * pdf



    @staticmethod
    def _fast_cdf(kit: FastKit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of Φ(x) = erfc(y)/2, y = −x/√2, at float points: y is bounded by directed
        steps around products with doubles r_lo <= 1/√2 <= r_hi, erfc is decreasing, and the
        library erfc is within K ulps: |erfc_lib − erfc| <= (2K + 1)u|v| + 2realmin in the
        computed v (as in `_sigmoidal`)."""
        (r_lo, r_hi), _ = _constants()
        rl, rh = round_down(r_lo), round_up(r_hi)
        y_lo = kit.down(np.where(x >= 0, -x * rh, -x * rl))
        y_hi = kit.up(np.where(x >= 0, -x * rl, -x * rh))
        K = LIBRARY_ULPS["float64"]["erfc"]
        u, realmin = kit.unit_roundoff, kit.realmin

        def bound(y: np.ndarray, lower: bool) -> np.ndarray:
            v = kit.erfc(y)
            slack = kit.inflate((2 * K + 1) * u * np.abs(v) + 2 * realmin, 2)
            return kit.down(v - slack) if lower else kit.up(v + slack)

        low = np.clip(bound(y_hi, True) / 2, 0.0, 1.0)  # /2 is exact (or rounds a subnormal down
        high = np.clip(kit.up(bound(y_lo, False) / 2), 0.0, 1.0)  # by eta/2, then stepped up)
        return np.maximum(kit.down(low), 0.0), high

    def _fast_value(self, kit: FastKit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c_lo, c_hi = self._fast_cdf(kit, x)
        low = kit.down(np.where(x >= 0, x * c_lo, x * c_hi))
        high = kit.up(np.where(x >= 0, x * c_hi, x * c_lo))
        low = np.where(x <= -SATURATION, -ETA, np.where(x >= SATURATION, kit.down(x), low))
        # up(x), not x: act(x) < x, and a bound at x itself is not decidable for a test
        high = np.where(x <= -SATURATION, 0.0, np.where(x >= SATURATION, kit.up(x), high))
        return low, high

    def _fast_prime(self, kit: FastKit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Φ + x φ with φ = e^(−x²/2)·k, k = 1/√(2π): x² by directed steps, exp (decreasing
        in x²) within K ulps, products by directed steps, sign-aware."""
        c_lo, c_hi = self._fast_cdf(kit, x)
        _, (k_lo, k_hi) = _constants()
        K = LIBRARY_ULPS["float64"]["exp"]
        u, realmin = kit.unit_roundoff, kit.realmin
        with np.errstate(over="ignore", under="ignore"):
            sq_lo, sq_hi = np.maximum(kit.down(x * x), 0.0), kit.up(x * x)
            e_small, e_large = np.exp(-sq_hi / 2), np.exp(-sq_lo / 2)  # /2 of a float: exact or eta/2
        e_lo = np.maximum(kit.down(e_small - kit.inflate((2 * K + 1) * u * e_small + 2 * realmin, 2)), 0.0)
        e_hi = kit.up(e_large + kit.inflate((2 * K + 1) * u * e_large + 2 * realmin, 2))
        p_lo = np.maximum(kit.down(kit.down(e_lo) * round_down(k_lo)), 0.0)
        p_hi = kit.up(kit.up(e_hi) * round_up(k_hi))
        with np.errstate(over="ignore", invalid="ignore"):
            xp_lo = kit.down(np.where(x >= 0, x * p_lo, x * p_hi))
            xp_hi = kit.up(np.where(x >= 0, x * p_hi, x * p_lo))
        low, high = kit.down(c_lo + xp_lo), kit.up(c_hi + xp_hi)
        low = np.where(x <= -SATURATION, -ETA, np.where(x >= SATURATION, kit.down(1.0), low))
        high = np.where(x <= -SATURATION, 0.0, np.where(x >= SATURATION, kit.up(1.0), high))
        return low, high




    # ------------------------------------------------------------ float semantics
    #
    # Higham's model (|δ| <= u, |η| <= eta/2) and the library bounds
    # |f_lib − f| <= 2K_f u|f| + realmin (verifae.libm). y = z/√2, W = 1 + erf(y) ∈ [0, 2].
    #
    # Value, v = fl(fl(z·0.5)·fl(1 + e)), e = erf_lib(a), a = fl(z·c_f), c_f = fl(1/√2):
    # a = y(1 + θ) + η with |θ| <= 2u(1 + u); erf' = (2/√π)e^(−t²) gives
    # |erf(a) − erf(y)| <= (2/√π)·max_t |t|e^(−t²(1−2u)²)·|θ| + 1.13eta <= 0.97u + 1.13eta
    # ((2/√π)/√(2e) = 0.48394). So |e − erf(y)| <= Δ := (2K_erf + 0.97)u + realmin + 1.13eta
    # (|erf| <= 1), w = fl(1 + e) is within Δ(1 + u) + uW of W, and
    # |v − gelu(z)| <= |z|/2·|w − W| + u|z/2|·|w| + 2eta <= (K_erf + 1)u|z| + 5u|gelu(z)| + 2eta
    # (|z|W/2 = 2|gelu(z)|; realmin|z| < u|z|). The |z| term is erf's absolute error near
    # ±1: a run's 1 + erf(y) has no relative accuracy for z ≪ 0.
    #
    # Derivative, d = fl(cdf_f + fl(z·pdf_f)) (PyTorch multiplies by g first: fl(g·d_f)
    # with g = 1 is d_f): cdf_f = w/2 is within Δ/2·(1 + u) + uΦ + eta of Φ(z); pdf_f =
    # fl(kBeta_f·exp_lib(fl(fl(z·z)·(−0.5)))) = φ(z)(1 + ρ) + (0.4realmin + eta) with
    # |ρ| <= u z²/2 (1 + u z²) + (2K_exp + 6)u (z² rounded, exp, kBeta_f within 4u of
    # 1/√(2π), the product); with max |z|φ = 0.242 and max |z|³φ = 0.4626:
    # |fl(z·pdf_f) − zφ| <= 0.232u + 0.242(2K_exp + 7)u + (0.4realmin + eta)|z| + eta; the
    # sum adds u|d| <= 1.13u. In all: (K_erf + K_exp + 6)u + realmin(1 + |z|) + 4eta.
    # z·z may overflow to inf: exp(−inf) = +0 exactly (IEEE), and zφ(z) is then 0 to
    # within eta, as the model says.

    @staticmethod
    def _value_error(fmt: Any) -> tuple[Fraction, Fraction, Fraction]:
        """(rel, per_z, absolute): |v − gelu(z)| <= rel|gelu(z)| + per_z|z| + absolute."""
        u = fmt.unit_roundoff
        K = LIBRARY_ULPS[fmt.name]["erf"]
        return 5 * u, (K + 1) * u, 2 * fmt.eta

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        fmt = FORMATS[format_name]
        rel, per_z, absolute = self._value_error(fmt)
        # rel·|gelu| <= rel·value_mag(1 + 2u) + ...: one more u absorbs it
        coefficient = float(rel + fmt.unit_roundoff)
        return kit.inflate(coefficient * value_mag + float(per_z) * z_mag + float(absolute), 3)

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        inner = kit.inner
        rel, per_z, absolute = self._value_error(kit.format)
        real = inner.activation(self, z.value)
        radius = inner.add(kit.radius(real, rel), kit.radius(z.value, per_z))
        # A run's kernel may form an intermediate of about 2z before its ×0.5: PyTorch's
        # vectorised CPU kernel (2.13, float32) computes z·(1 + erf(z/√2)) first and returns
        # inf for every z above realmax/2 in a tensor of two or more entries (≈ z in a
        # tensor of one; found by the adversarial review). So a run may overflow where
        # |z| >= realmax/2, in either format.
        huge = np.asarray(inner.exceeds(z.value, kit.format.realmax / 2))
        return inner.widen(real, radius, absolute), z.unbounded | huge

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        inner = kit.inner
        shape = np.shape(z.value)
        name = kit.format.name
        K_erf, K_exp = LIBRARY_ULPS[name]["erf"], LIBRARY_ULPS[name]["exp"]
        real = inner.activation_derivative(self, z.value)
        radius = inner.add(kit.full(shape, (K_erf + K_exp + 6) * kit.u + kit.realmin),
                           kit.radius(z.value, kit.realmin))
        return inner.widen(real, radius, 4 * kit.eta), z.unbounded.copy()

    # ------------------------------------------------------------ relaxation

