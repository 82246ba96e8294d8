"""elu(z) = z for z > 0, α(e^z − 1) otherwise (`alpha` α, default 1).

As PyTorch's `torch.nn.ELU(alpha=α)`: elu'(z) = 1 for z > 0 and α·e^z otherwise, so
elu'(0) = α (autograd takes the z <= 0 branch at 0; measured on PyTorch 2.13 in
float32 and float64, and `tests/test_activations.py` re-checks it).

The entry is an instance configured by α: `Elu("0.5")`, or from a case file's
`{"name": "elu", "alpha": "0.5"}` (`get_activation`). α is an exact rational, like a
weight: the real semantics uses α itself; a float run holds fl(α), α rounded to
nearest in its format. α is restricted to [2^-64, 2^64], so that fl(α) is a positive
normal number in float32 and float64 and α·(e^z − 1) never overflows.

What the extensions and the relaxation use (α > 0):

- elu is strictly increasing, so its range over [a, b] is [elu(a), elu(b)];
- elu' is α·e^z on z <= 0 (increasing, in (0, α]) and 1 on z > 0; over [a, b] with
  a <= 0 < b its range is [α e^a, α] ∪ {1}, whose hull is [min(α e^a, 1), max(α, 1)]
  (for α > 1 the derivative jumps *down* at 0);
- elu is convex on z <= 0 (elu'' = α e^z > 0) and linear on z > 0; it is convex on the
  whole line only for α <= 1, which the relaxation does not need (see `relaxation`).

The float model covers both ways a run computes the value for z <= 0: the spec's
formula as numpy code writes it, fl(fl(α)·fl(exp_lib(z) − 1)), and PyTorch's kernel,
fl(expm1_lib(z)·fl(α)) (measured bitwise on PyTorch 2.13), with exp and expm1 within
K ulps (`verifae.libm`). The derivative is fl(fl(α)·exp_lib(z)) in both (PyTorch's
`elu_backward` of a non-inplace ELU uses the input, not the output: its results
differ from fl(out + α) at a third of the points and stay within 1 ulp of
fl(α)·e^z; `tests/test_libm.py` measures its exp).
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
from ..libm import LIBRARY_ULPS
from ..numbers import FORMATS, FloatFormat, nearest_float, round_down, round_up, to_exact
from .base import RELAXATION_BITS, Activation, FastKit, FloatKit, IntervalKit, proven_offsets

__all__ = ["Elu"]

DEFAULT_ALPHA = Fraction(1)
#: the accepted α: [2^-64, 2^64]
ALPHA_MIN, ALPHA_MAX = Fraction(1, 2**64), Fraction(2**64)
#: below |z| = 1/SMALL_INVERSE = 2^-26 the interval extension encloses expm1(z) by its
#: Taylor bounds (an exact endpoint compares with an int whatever its type)
SMALL_INVERSE = 2**26


class Elu(Activation):
    name = "elu"
    onnx_op = "Elu"  # attribute alpha
    transcendental = True

    def __init__(self, alpha: Any = DEFAULT_ALPHA) -> None:
        try:
            a = to_exact(alpha)
        except VerifaeError as exc:
            raise SpecError(f"elu: alpha: {exc}") from None
        if not a > 0:
            raise SpecError(f"elu: alpha must be > 0, got {alpha!r}")
        if not ALPHA_MIN <= a <= ALPHA_MAX:
            raise SpecError(f"elu: alpha must lie in [2^-64, 2^64] (a normal number in float32), got {alpha!r}")
        self.alpha = a

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> Elu:
        unknown = [k for k in params if k != "alpha"]
        if unknown:
            raise SpecError(f"elu: unknown parameter {unknown[0]!r}; its parameter is alpha")
        return cls(params.get("alpha", DEFAULT_ALPHA))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": str(self.alpha)}

    # α as a float run holds it
    def alpha_in(self, fmt: FloatFormat) -> Fraction:
        """fl(α) in `fmt`, exactly (a positive normal number, as α is in [2^-64, 2^64])."""
        return Fraction(nearest_float(self.alpha, fmt))

    def _rounded(self, dtype: Any) -> float:
        return nearest_float(self.alpha, FORMATS[np.dtype(dtype).name])

    def _as_run(self, fmt: FloatFormat) -> Elu:
        return Elu(self.alpha_in(fmt))

    def _arb_alpha(self) -> arb:
        return arb(fmpq(self.alpha.numerator, self.alpha.denominator))

    # ------------------------------------------------------------ points

    def point(self, z: Any, dtype: Any) -> Any:
        # the spec's formula as numpy code writes it: α(exp(z) − 1) for z <= 0
        a = dtype(self._rounded(dtype))
        return np.where(z > 0, z, a * (np.exp(z) - dtype(1)))

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        a = dtype(self._rounded(dtype))
        return np.where(z > 0, dtype(1), a * np.exp(z)).astype(dtype)  # elu'(0) = α

    def reference(self, z: arb) -> arb:
        if z > 0:
            return z
        A = self._arb_alpha()
        if z <= 0:
            return A * z.expm1()
        # a ball straddling 0: max(z, 0) + α·expm1(min(z, 0)), a sound superset
        return z.max(arb(0)) + A * z.min(arb(0)).expm1()

    def reference_derivative(self, z: arb) -> arb:
        if z > 0:
            return arb(1)
        A = self._arb_alpha()
        if z <= 0:
            return A * z.exp()
        return (A * z.min(arb(0)).exp()).union(arb(1))

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        # fl(α) of the run's format, as a double that the kernel's cast keeps exactly
        return torch.nn.ELU(alpha=self._rounded(dtype))

    # ------------------------------------------------------------ intervals

    def _value_at(self, kit: IntervalKit, e: Any) -> Any:
        """elu at the exact endpoint e, as a kit interval (expm1 where the kit is Arb)."""
        p = kit.point(e)
        if e > 0:
            return p
        if isinstance(p, arb):
            m = p.expm1()
        elif -e * SMALL_INVERSE < 1:
            # e <= expm1(e) <= e + e²/2 for e <= 0 (e^x >= 1 + x; 1 + x + x²/2 − e^x is
            # decreasing and 0 at 0): no cancellation of exp(e) − 1 at the kit's precision
            m = kit.join(p, p + p * p / 2)
        else:
            m = kit.exp(p) - kit.point(1)
        return kit.from_fraction(self.alpha) * m

    def interval(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)  # increasing: [elu(lo), elu(hi)]
        return kit.join(self._value_at(kit, lo), self._value_at(kit, hi))

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        one = kit.point(1)
        if lo > 0:
            return one
        A = kit.from_fraction(self.alpha)
        low = A * kit.exp(kit.point(lo))
        if hi <= 0:
            return kit.join(low, A * kit.exp(kit.point(hi)))
        # straddling 0: [α e^lo, α] ∪ {1}; its hull is [min(α e^lo, 1), max(α, 1)].
        # α e^lo <= 1 when α <= 1, and when lo <= −⌈α⌉ (e^α >= 1 + α > α): decided without
        # the ends of α e^lo, which for lo far below 0 (e^(−1e77)) no kit can convert
        # cheaply (an mpmath end as an exact Fraction: found by the adversarial review)
        if self.alpha <= 1 or lo <= -math.ceil(self.alpha):
            low_is_least = True
        else:
            low_end, _ = kit.endpoints(low)
            low_is_least = low_end <= 1
        return kit.join(low if low_is_least else one, A if self.alpha >= 1 else one)

    def _fast_alpha(self, kit: FastKit) -> tuple[float, float]:
        """Doubles 0 < α_lo <= α <= α_hi."""
        return round_down(self.alpha), round_up(self.alpha)

    @staticmethod
    def _library(kit: FastKit, f: Any, function: str, x: np.ndarray, lower: bool) -> np.ndarray:
        """Bounds of the exact f(x) from numpy's float64 f within K ulps: the computed v
        gives |f − v| <= 2Ku|f| + realmin <= (2K + 1)u|v| + 2·realmin (as in
        `verifae.activations._sigmoidal`)."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            v = f(x)
        K = LIBRARY_ULPS["float64"][function]
        slack = kit.inflate((2 * K + 1) * kit.unit_roundoff * np.abs(v) + 2 * kit.realmin, 2)
        return kit.down(v - slack) if lower else kit.up(v + slack)

    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a_lo, a_hi = self._fast_alpha(kit)
        # expm1 over z <= 0 lies in [-1, 0]; α·m for m <= 0 is smallest with the largest α
        m_lo = np.maximum(self._library(kit, np.expm1, "expm1", np.minimum(lo, 0.0), True), -1.0)
        m_hi = np.minimum(self._library(kit, np.expm1, "expm1", np.minimum(hi, 0.0), False), 0.0)
        with np.errstate(invalid="ignore"):
            return np.where(lo > 0, lo, kit.down(a_hi * m_lo)), np.where(hi > 0, hi, kit.up(a_lo * m_hi))

    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a_lo, a_hi = self._fast_alpha(kit)
        # e^z over z <= 0 lies in [0, 1]
        e_lo = np.maximum(self._library(kit, np.exp, "exp", np.minimum(lo, 0.0), True), 0.0)
        e_hi = np.minimum(self._library(kit, np.exp, "exp", np.minimum(hi, 0.0), False), 1.0)
        d_lo = np.maximum(kit.down(a_lo * e_lo), 0.0)
        d_hi = kit.up(a_hi * e_hi)
        straddles = (lo <= 0) & (hi > 0)
        low = np.where(lo > 0, 1.0, np.where(straddles, np.minimum(d_lo, 1.0), d_lo))
        high = np.where(lo > 0, 1.0, np.where(straddles, max(a_hi, 1.0), d_hi))
        return low, high

    def value_range(self, semantics: str) -> tuple[float, float]:
        # elu > −α for real numbers; a library within K ulps is not promised to respect it
        return (round_down(-self.alpha), np.inf) if semantics == "real" else (-np.inf, np.inf)

    # ------------------------------------------------------------ float semantics
    #
    # Higham's model with underflow (fl(a op b) = (a op b)(1 + δ) + η, |δ| <= u,
    # |η| <= eta/2, η = 0 for ±; Higham, Accuracy and Stability of Numerical Algorithms,
    # §2.2) and the library bound |f_lib − f| <= 2Ku|f| + realmin (verifae.libm). For
    # z <= 0 write m = e^z − 1 in [−1, 0] and α_f = fl(α).
    #
    # PyTorch: v = fl(M·α_f), M = m + μ, |μ| <= 2K_m u|m| + realmin, so
    #   |v − α_f m| <= α_f(2K_m u|m| + realmin)(1 + u) + u α_f|m| + eta/2.
    # numpy: E = e^z + ε, |ε| <= 2K_e u e^z + realmin <= 2K_e u + realmin (e^z <= 1);
    #   D = fl(E − 1) = (m + ε)(1 + δ2) (no η for a difference); v = fl(α_f D), so
    #   |v − α_f m| <= α_f(|m|(2u + u²) + (2K_e u + realmin)(1 + u)²) + eta/2.
    #   This absolute α_f·2K_e u is the cancellation of exp(z) − 1 near 0: numpy's
    #   value there has no relative accuracy (exp(z) = 1 for |z| < u gives 0).
    # Both: |v − α_f m| <= (2K_m + 3)u·α_f|m| + α_f(2K_e u + realmin)(1 + u)² + eta.
    # For z > 0 the value is z exactly. The derivative for z <= 0 is d = fl(α_f·E):
    #   |d − α_f e^z| <= (2K_e + 2)u·α_f e^z + 2α_f·realmin + eta.
    # PyTorch's backward computes fl(fl(g·α_f)·E) for an incoming g (1·α_f is exact):
    # the same two roundings of g·α_f·E once `mul` adds its own.

    def _value_error(self, fmt: FloatFormat) -> tuple[Fraction, Fraction]:
        """(rel, absolute): |v − α_f m| <= rel·α_f|m| + absolute for z <= 0."""
        u, realmin, eta = fmt.unit_roundoff, Fraction(2) ** fmt.emin, fmt.eta
        K_e, K_m = LIBRARY_ULPS[fmt.name]["exp"], LIBRARY_ULPS[fmt.name]["expm1"]
        a_f = self.alpha_in(fmt)
        return (2 * K_m + 3) * u, a_f * (2 * K_e * u + realmin) * (1 + u) ** 2 + eta

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        # |v − α m| <= |α_f − α||m| + rel·α_f|m| + absolute, with |m| <= min(1, |z|) for z <= 0
        fmt = FORMATS[format_name]
        rel, absolute = self._value_error(fmt)
        a_f = self.alpha_in(fmt)
        coefficient = round_up(abs(a_f - self.alpha) + rel * a_f)
        with np.errstate(invalid="ignore"):
            m = np.minimum(np.asarray(z_mag, dtype=np.float64), 1.0)
        return kit.inflate(coefficient * m + round_up(absolute), 2)

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        fmt = kit.format
        rel, absolute = self._value_error(fmt)
        real = kit.inner.activation(self._as_run(fmt), z.value)
        # rel·|elu_f| <= rel·α_f|m| where z <= 0 (and only widens the exact z > 0)
        return kit.relative(real, rel, absolute), z.unbounded.copy()

    def backward_growth(self, kit: FloatKit, z: Any) -> Any | None:
        """PyTorch's elu_backward computes ((gy·1)·fl(α))·exp(z) for z <= 0, left to
        right: gy·fl(α) comes first, so the growth is fl(α) where z may be <= 0 (none
        for α <= 1)."""
        a_f = self.alpha_in(kit.format)
        if a_f <= 1:
            return None
        lo = kit.inner.bounds(z.value)[..., 0]
        return kit.inner.constant_floats(np.where(lo <= 0, round_up(a_f), 1.0))

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        fmt = kit.format
        K_e = LIBRARY_ULPS[fmt.name]["exp"]
        a_f = self.alpha_in(fmt)
        real = kit.inner.activation_derivative(self._as_run(fmt), z.value)
        return kit.relative(real, (2 * K_e + 2) * kit.u, 2 * a_f * kit.realmin + kit.eta), z.unbounded.copy()

    # ------------------------------------------------------------ relaxation

    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        """g(z) = elu(z) − a z is convex on [lo, min(hi, 0)] (elu'' = α e^z > 0) and linear
        on [max(lo, 0), hi]. So its maximum is at lo, hi or 0, and its minimum there or at
        the one critical point z* = ln(a/α) of the convex piece (α e^z* = a), which Arb
        encloses in a ball Z (log is rigorous); g is enclosed over Z clipped to the piece.
        This holds for every α > 0, also α > 1 where elu is not convex at 0. The slope
        is the secant's."""
        alpha = float(self.alpha)
        with np.errstate(all="ignore"):
            f = lambda z: z if z > 0 else alpha * float(np.expm1(np.float64(z)))  # noqa: E731
            if hi <= lo:
                a = 1.0 if hi > 0 else alpha * float(np.exp(np.float64(hi)))
            else:
                a = float((f(hi) - f(lo)) / (hi - lo))
        if not math.isfinite(a) or a < 0:
            a = 0.0
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(a)

            def g(Z: arb) -> arb:
                return self.reference(Z) - A * Z

            values = [g(arb(lo)), g(arb(hi))]
            if lo < 0 < hi:
                values.append(g(arb(0)))
            right = min(hi, 0.0)
            if a > 0 and lo < right:
                star = (A / self._arb_alpha()).log()
                z_lo, z_hi = star.lower(), star.upper()
                if not (z_hi < lo or z_lo > right):
                    left_end = z_lo if z_lo > lo else arb(lo)
                    right_end = z_hi if z_hi < right else arb(right)
                    values.append(g(left_end.union(right_end)))
            cL, cU = proven_offsets(values)
        return a, cL, cU
