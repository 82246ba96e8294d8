"""softplus(z) = z if β·z > threshold, else log(1 + e^(βz))/β (`beta` β, default 1;
`threshold` T, default 20), exactly as PyTorch's `torch.nn.Softplus(beta, threshold)`.

The real-number semantics is PyTorch's piecewise definition, threshold switch
included: "exact arithmetic of the model" means the model's own function, and a
thresholded softplus switches to the identity above z* = T/β. So the real function
is not the smooth softplus: it jumps *down* at z* by log(1 + e^(−T))/β (2.06e-9 for
T = 20, β = 1), since the smooth branch, taken at z* itself (β·z* > T is false), is
above the identity there. Its derivative is σ(βz) for βz <= T and 1 above, with σ
the sigmoid.

PyTorch's CPU kernel computes, in the run's format with fl(β) and fl(T):
forward x = fl(z·β); z if x > T else fl(log1p(exp(x))/β); backward
E = exp(x); g if x > T else fl(fl(g·E)/fl(E + 1)) (measured on PyTorch 2.13: equal
to those formulas with numpy's exp and log1p at most points, within an ulp or two
elsewhere). `point` and `point_derivative` are these formulas in numpy.

What the extensions use: each piece is increasing (σ > 0), so over [lo, hi] the range
is the hull of the smooth piece on [lo, min(hi, zB)], [sp(lo), sp(min(hi, zB))], and
of the identity piece on (zA, ∞) ∩ [lo, hi], [max(lo, zA), hi], where the smooth piece
applies for z <= zB and the identity for z > zA. For the real function zA = zB = z*;
the float semantics evaluates the same extension in x = fl(z·β_f) space with
zA = zB = T_f (see `float_value`), and the fast backend takes zA, zB as the doubles
around z*. The derivative likewise: [σ(β lo), σ(β min(hi, zB))] ∪ {1}.

β is restricted to [2^-32, 2^32] and T to [−64, 64]: fl(β) is a positive normal number
in float32 and float64, and e^x for x <= T(1 + 2^-23) never overflows in float32, so a
run's smooth branch is finite. ONNX: `Softplus` (log(e^x + 1), no β or threshold; the
exporter writes β as Mul/Div around it and drops the threshold switch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb

from ..directed import float_up
from ..errors import SpecError, VerifaeError
from ..libm import LIBRARY_ULPS
from ..numbers import FORMATS, FloatFormat, nearest_float, round_down, round_up, to_exact
from ._extrema import arb_q, exact_fraction, offsets
from .base import RELAXATION_BITS, Activation, FastKit, FloatKit, IntervalKit, proven_offsets

__all__ = ["Softplus"]

DEFAULT_BETA = Fraction(1)
DEFAULT_THRESHOLD = Fraction(20)
BETA_MIN, BETA_MAX = Fraction(1, 2**32), Fraction(2**32)
THRESHOLD_MAX = Fraction(64)
#: for β·e <= −TAIL = −2^16, softplus(e) and softplus'(e) lie in [0, TINY], TINY = 2^-90000:
#: e^(βe)/β and σ(βe) are below 2^-94000 there (β >= 2^-32), so an interval kit never
#: forms values like e^(−10^30), whose exponents mpmath's endpoints cannot hold
TAIL = 2**16
TINY = Fraction(1, 2**90000)


class Softplus(Activation):
    name = "softplus"
    onnx_op = "Softplus"
    transcendental = True
    continuous = False  # PyTorch's switch to z at β·z = threshold drops by log1p(e^−threshold)/β

    def __init__(self, beta: Any = DEFAULT_BETA, threshold: Any = DEFAULT_THRESHOLD) -> None:
        values = []
        for what, given in (("beta", beta), ("threshold", threshold)):
            try:
                values.append(to_exact(given))
            except VerifaeError as exc:
                raise SpecError(f"softplus: {what}: {exc}") from None
        b, t = values
        if not b > 0:
            raise SpecError(f"softplus: beta must be > 0, got {beta!r}")
        if not BETA_MIN <= b <= BETA_MAX:
            raise SpecError(f"softplus: beta must lie in [2^-32, 2^32], got {beta!r}")
        if not -THRESHOLD_MAX <= t <= THRESHOLD_MAX:
            raise SpecError(f"softplus: threshold must lie in [-64, 64] (exp of it stays finite in float32), "
                            f"got {threshold!r}")
        self.beta = b
        self.threshold = t
        #: the smooth piece applies for z <= switch_hi, the identity for z > switch_lo
        self.switch_lo = self.switch_hi = t / b

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> Softplus:
        unknown = [k for k in params if k not in ("beta", "threshold")]
        if unknown:
            raise SpecError(f"softplus: unknown parameter {unknown[0]!r}; its parameters are beta and threshold")
        return cls(params.get("beta", DEFAULT_BETA), params.get("threshold", DEFAULT_THRESHOLD))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "beta": str(self.beta), "threshold": str(self.threshold)}

    # parameters as a float run holds them
    def beta_in(self, fmt: FloatFormat) -> Fraction:
        """fl(β) in `fmt`, exactly (a positive normal number)."""
        return Fraction(nearest_float(self.beta, fmt))

    def threshold_in(self, fmt: FloatFormat) -> Fraction:
        """fl(T) in `fmt`, exactly."""
        return Fraction(nearest_float(self.threshold, fmt))

    def _rounded(self, dtype: Any) -> tuple[Any, Any]:
        scalar = np.dtype(dtype).type  # np.float32, also when given np.dtype("float32")
        fmt = FORMATS[np.dtype(dtype).name]
        return scalar(nearest_float(self.beta, fmt)), scalar(nearest_float(self.threshold, fmt))

    def _in_x_space(self, fmt: FloatFormat) -> Softplus:
        """The function of x = fl(z·β_f) a run applies before dividing by β_f: β = 1 and
        the switch exactly at T_f (see `float_value`)."""
        return Softplus(1, self.threshold_in(fmt))

    # ------------------------------------------------------------ points

    def point(self, z: Any, dtype: Any) -> Any:
        b, t = self._rounded(dtype)
        x = z * b
        return np.where(x > t, z, np.log1p(np.exp(x)) / b).astype(dtype)

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        b, t = self._rounded(dtype)
        x = z * b
        e = np.exp(x)
        with np.errstate(invalid="ignore"):  # inf/inf where x > T: that branch is not taken
            return np.where(x > t, dtype(1), e / (e + dtype(1))).astype(dtype)

    def _arb_beta(self) -> arb:
        return arb_q(self.beta)

    def _smooth(self, z: arb) -> arb:
        B = self._arb_beta()
        return (B * z).exp().log1p() / B

    def _sigma(self, z: arb) -> arb:
        return 1 / (1 + (-self._arb_beta() * z).exp())

    def _branches(self, z: arb) -> tuple[bool, bool]:
        """(identity possible, smooth possible) over the ball z."""
        star = arb_q(self.switch_lo)
        return not (z <= star), not (z > arb_q(self.switch_hi))

    def reference(self, z: arb) -> arb:
        identity, smooth = self._branches(z)
        if not smooth:
            return z
        if not identity:
            return self._smooth(z)
        return z.union(self._smooth(z))  # a ball straddling the switch: both pieces

    def reference_derivative(self, z: arb) -> arb:
        identity, smooth = self._branches(z)
        if not smooth:
            return arb(1)
        if not identity:
            return self._sigma(z)
        return arb(1).union(self._sigma(z))

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        b, t = self._rounded(dtype)
        return torch.nn.Softplus(beta=float(b), threshold=float(t))

    # ------------------------------------------------------------ intervals

    def _smooth_at(self, kit: IntervalKit, p: Any) -> Any:
        B = kit.from_fraction(self.beta)
        return kit.log1p(kit.exp(p * B)) / B

    def _sigma_at(self, kit: IntervalKit, p: Any) -> Any:
        one = kit.point(1)
        return one / (one + kit.exp(-(p * kit.from_fraction(self.beta))))

    def _pieces(self, kit: IntervalKit, x: Any, smooth: Any, identity: Any) -> Any:
        """The hull of smooth(p) on the smooth part and identity(p) on the identity part of
        x, each increasing in p (p a kit interval of an endpoint or a switch point, q its
        exact value)."""
        lo, hi = kit.endpoints(x)
        L, H = exact_fraction(lo), exact_fraction(hi)

        def smooth_or_tail(p: Any, q: Fraction) -> Any:
            if self.beta * q <= -TAIL:
                return kit.join(kit.point(0), kit.from_fraction(TINY))
            return smooth(p)

        parts = []
        if H > self.switch_lo:
            start = kit.point(lo) if L > self.switch_lo else kit.from_fraction(self.switch_lo)
            parts.append((identity(start), identity(kit.point(hi))))
        if L <= self.switch_hi:
            end, end_q = (kit.point(hi), H) if H <= self.switch_hi else (kit.from_fraction(self.switch_hi),
                                                                        self.switch_hi)
            parts.append((smooth_or_tail(kit.point(lo), L), smooth_or_tail(end, end_q)))
        lowest = min((p[0] for p in parts), key=lambda v: kit.endpoints(v)[0])
        highest = max((p[1] for p in parts), key=lambda v: kit.endpoints(v)[1])
        return kit.join(lowest, highest)

    def interval(self, kit: IntervalKit, x: Any) -> Any:
        return self._pieces(kit, x, lambda p: self._smooth_at(kit, p), lambda p: p)

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        one = kit.point(1)
        return self._pieces(kit, x, lambda p: self._sigma_at(kit, p), lambda p: one)

    def _fast_argument(self, kit: FastKit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Doubles around β·x: β between the doubles b_lo <= β <= b_hi, sign-aware, each
        product one directed step out."""
        b_lo, b_hi = round_down(self.beta), round_up(self.beta)
        with np.errstate(over="ignore"):
            return kit.down(np.where(x >= 0, b_lo * x, b_hi * x)), kit.up(np.where(x >= 0, b_hi * x, b_lo * x))

    def _fast_pieces(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray, smooth: Any,
                     identity: Any) -> tuple[np.ndarray, np.ndarray]:
        z_lo, z_hi = round_down(self.switch_lo), round_up(self.switch_hi)
        has_identity, has_smooth = hi > z_lo, lo <= z_hi
        i_lo, i_hi = identity(np.maximum(lo, z_lo), hi)
        s_lo, s_hi = smooth(lo, np.minimum(hi, z_hi))
        low = np.where(has_smooth & has_identity, np.minimum(s_lo, i_lo), np.where(has_smooth, s_lo, i_lo))
        high = np.where(has_smooth & has_identity, np.maximum(s_hi, i_hi), np.where(has_smooth, s_hi, i_hi))
        return low, high

    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The smooth piece: L(y) = log1p(e^y) at the directed y around βx. exp within
        K_e ulps, e^y(1 + ε) + ζ, moves log1p by at most |ε|·L + 2|ζ| (its logarithmic
        derivative t/((1 + t)log1p(t)) is <= 1), log1p adds 2K_l u L + realmin and its
        rounding: (2K_e + 2K_l + 3)u|v| + 4realmin in the computed v covers all of it.
        Then L/β by directed steps with the double bounds of β."""
        K_e, K_l = LIBRARY_ULPS["float64"]["exp"], LIBRARY_ULPS["float64"]["log1p"]
        u, realmin = kit.unit_roundoff, kit.realmin
        b_lo, b_hi = round_down(self.beta), round_up(self.beta)

        def L(y: np.ndarray, lower: bool) -> np.ndarray:
            with np.errstate(over="ignore", under="ignore"):
                v = np.log1p(np.exp(y))
            slack = kit.inflate((2 * K_e + 2 * K_l + 3) * u * np.abs(v) + 4 * realmin, 2)
            return np.maximum(kit.down(v - slack), 0.0) if lower else kit.up(v + slack)

        def smooth(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            y_lo, _ = self._fast_argument(kit, a)
            _, y_hi = self._fast_argument(kit, b)
            with np.errstate(over="ignore", invalid="ignore"):
                return np.maximum(kit.down(L(y_lo, True) / b_hi), 0.0), kit.up(L(y_hi, False) / b_lo)

        return self._fast_pieces(kit, lo, hi, smooth, lambda a, b: (a, b))

    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """σ(y) = 1/(1 + e^-y) at the directed y around βx, within K_sigmoid ulps (verifae.libm:
        this very formula), widened by (2K + 1)u|v| + 2realmin as in `_sigmoidal`."""
        K = LIBRARY_ULPS["float64"]["sigmoid"]
        u, realmin = kit.unit_roundoff, kit.realmin

        def sigma(y: np.ndarray, lower: bool) -> np.ndarray:
            with np.errstate(over="ignore", under="ignore"):
                v = 1.0 / (1.0 + np.exp(-y))
            slack = kit.inflate((2 * K + 1) * u * np.abs(v) + 2 * realmin, 2)
            return np.maximum(kit.down(v - slack), 0.0) if lower else np.minimum(kit.up(v + slack), 1.0)

        def smooth(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return sigma(self._fast_argument(kit, a)[0], True), sigma(self._fast_argument(kit, b)[1], False)

        return self._fast_pieces(kit, lo, hi, smooth, lambda a, b: (np.ones_like(a), np.ones_like(b)))

    def value_range(self, semantics: str) -> tuple[float, float]:
        # the smooth piece is > 0 and the identity piece > z* for real numbers; a library
        # within K ulps is not promised to respect it
        low = min(0.0, round_down(self.switch_lo))
        return (low, np.inf) if semantics == "real" else (-np.inf, np.inf)

    # ------------------------------------------------------------ float semantics
    #
    # A run computes x = fl(z·β_f) (exact when β_f is a power of two, up to eta), then z
    # itself if x > T_f, else v = fl(L/β_f), L = log1p_lib(exp_lib(x)). Rounding is
    # monotone and T_f is a float, so x > T_f implies z·β_f > T_f: the identity branch
    # returns z = (zβ_f)/β_f at a point zβ_f > T_f of X = zβ_f widened by u|zβ_f| + eta
    # (which holds both zβ_f and x), and the smooth branch is taken at x <= T_f, x in X.
    # So the values lie in `_in_x_space`'s extension over X (switch at T_f), divided
    # by β_f, widened by the smooth branch's errors: exp's and log1p's (as in `fast`:
    # (2K_e + 2K_l + 1)u to first order) and the division's u: rel (2K_e + 2K_l + 3)u,
    # absolute 4realmin/β_f + eta. The identity values are only widened by that.
    # Derivative: 1 if x > T_f, else d = fl(E/fl(E + 1)), E = exp_lib(x) (PyTorch:
    # fl(fl(g·E)/fl(E + 1)), with g = 1 the same): E's relative error moves E/(1 + E)
    # by at most as much relatively, two roundings follow: rel (2K_e + 3)u, absolute
    # realmin + eta, around σ over X (and 1).

    def _x_space(self, kit: FloatKit, z: Any) -> tuple[Any, Fraction]:
        """X, an inner tensor holding zβ_f and fl(zβ_f), and β_f."""
        inner = kit.inner
        b_f = self.beta_in(kit.format)
        if b_f == 1:
            return z.value, b_f
        shape = np.shape(z.value)
        product = inner.mul(z.value, kit.full(shape, b_f))
        power_of_two = b_f.numerator & (b_f.numerator - 1) == 0 and b_f.denominator & (b_f.denominator - 1) == 0
        return kit.relative(product, Fraction(0) if power_of_two else kit.u, kit.eta), b_f

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        inner = kit.inner
        X, b_f = self._x_space(kit, z)
        values = inner.activation(self._in_x_space(kit.format), X)
        if b_f != 1:
            values = inner.scale(values, b_f.denominator, b_f.numerator)
        name = kit.format.name
        K_e, K_l = LIBRARY_ULPS[name]["exp"], LIBRARY_ULPS[name]["log1p"]
        return kit.relative(values, (2 * K_e + 2 * K_l + 3) * kit.u, 4 * kit.realmin / b_f + kit.eta), \
            z.unbounded.copy()

    def backward_growth(self, kit: FloatKit, z: Any) -> Any | None:
        """PyTorch's softplus_backward computes gy·E / (E + 1) with E = exp(x), x =
        fl(z·fl(β)), on the smooth branch x <= fl(T): gy·E comes first. There E <= e^x
        (1 + 2Ku) with x <= min(z_hi·β, fl(T)) up to one rounding of relative size u;
        adding 2^-8 to the exponent covers both while |x| <= 2^8 (2^8·u <= 2^-16, and
        e^(2^-8) − 1 > 2Ku), and below −2^8, E < 1 and the growth floor 1 covers it."""
        fmt = kit.format
        beta, threshold = float(self.beta_in(fmt)), float(self.threshold_in(fmt))
        hi = kit.inner.bounds(z.value)[..., 1]
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.nan_to_num(np.minimum(hi * beta, threshold), nan=threshold)
            growth = np.exp(x + 2.0**-8)
        return kit.inner.constant_floats(np.maximum(growth, 1.0))

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        X, _ = self._x_space(kit, z)
        real = kit.inner.activation_derivative(self._in_x_space(kit.format), X)
        K_e = LIBRARY_ULPS[kit.format.name]["exp"]
        return kit.relative(real, (2 * K_e + 3) * kit.u, kit.realmin + kit.eta), z.unbounded.copy()

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        """|run(z) − softplus(z)| with the exact β and T, for |z| <= z_mag:
        - the smooth branch's roundings, as in `float_value`, and the rounding of x,
          which moves sp by at most σ·|x − zβ_f|/β_f <= u|z| + eta/β_f (sp' = σ <= 1);
        - β_f for β: |∂/∂β log1p(e^(βz))/β| = |tσ(t) − log1p(e^t)|/β² < 1/β² (t = βz:
          both terms are below 0.2785 and log 2 in magnitude), so |β_f − β|/min(β, β_f)²;
        - where the run and the real function take different branches (only near the
          switch, where min(β, β_f)·|z| >= min(T, T_f) − δ), the gap between the branches,
          log1p(e^(−βz))/β <= log1p(e^(−T_m))/β_m (Arb, rounded up)."""
        fmt = FORMATS[format_name]
        u = fmt.unit_roundoff
        realmin = Fraction(2) ** fmt.emin
        K_e, K_l = LIBRARY_ULPS[format_name]["exp"], LIBRARY_ULPS[format_name]["log1p"]
        b_f, t_f = self.beta_in(fmt), self.threshold_in(fmt)
        b_m = min(self.beta, b_f)
        rel = round_up((2 * K_e + 2 * K_l + 4) * u)
        absolute = round_up(4 * realmin / b_f + 2 * fmt.eta / b_f + abs(b_f - self.beta) / (b_m * b_m))
        # the branches can differ only where z·β_f and z·β are within rounding of T_f and T
        t_m = min(self.threshold, t_f) - 4 * u * (1 + abs(self.threshold))
        with flint.ctx.workprec(64):
            gap = float_up(((-arb_q(t_m)).exp().log1p() / arb_q(b_m)).upper())
        reach = round_down(t_m / max(self.beta, b_f) * (1 - 4 * u)) if t_m > 0 else -np.inf
        z_mag = np.asarray(z_mag, dtype=np.float64)
        switch_gap = np.where(z_mag >= reach, gap, 0.0)
        return kit.inflate(rel * np.asarray(value_mag) + float(u) * z_mag + absolute + switch_gap, 4)

    # ------------------------------------------------------------ relaxation

    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        """The secant's slope a; g = softplus − a z is enclosed on the smooth piece
        [lo, min(hi, z*)] by `_extrema.offsets` (convex there: the bisection meets one
        root of σ(βz) − a) and on the identity piece (z*, hi] by its ends z*, hi
        (g = (1 − a)z is linear; z* is its infimum, not attained)."""
        with np.errstate(all="ignore"):
            x = np.array([lo, hi])
            f = self.point(x, np.float64)
            a = float((f[1] - f[0]) / (hi - lo)) if hi > lo else float(self.point_derivative(x[:1], np.float64)[0])
        if not math.isfinite(a) or a < 0:
            a = 0.0
        L, H, star = Fraction(lo), Fraction(hi), self.switch_lo
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(a)
            values: list[arb] = []
            if L <= star:
                # σ(βz) is increasing: its range over [p, q] is [σ(βp), σ(βq)]
                values += offsets(lambda Z: self._smooth(Z) - A * Z,
                                  lambda p, q: self._sigma(arb_q(p)).union(self._sigma(arb_q(q))) - A, L, min(H, star))
            if H > star:
                for p in (max(L, star), H):
                    P = arb_q(p)
                    values.append(P - A * P)
            cL, cU = proven_offsets(values)
        return a, cL, cU
