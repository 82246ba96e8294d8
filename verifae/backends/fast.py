"""Fast rigorous intervals: float64 lower/upper numpy arrays with any batch axes.

Rigour comes from a-priori error bounds and `np.nextafter`, never from changing
the rounding mode:

- Each elementwise +, −, ·, / is computed in round-to-nearest, whose result r
  satisfies |r − v| <= ulp(r)/2 for the exact v (IEEE 754, §4.3; in the
  subnormal range the error is at most eta/2). So pred(r) <= v <= succ(r): one
  step outward per operation. The hot paths take that step without `np.nextafter`
  (about 40 times the cost of a multiply): `_lower` and `_upper` compute
  fl(r ∓ fl(fl(φ|r|) + eta)) with φ = u(1 + 2u), which is <= pred(r) and >= succ(r)
  for every finite r, subnormals included (S. M. Rump, P. Zimmermann, S. Boldo,
  G. Melquiond, "Computing predecessor and successor in rounding to nearest", BIT
  49(2), 2009, Algorithm 1 and Theorem 2.1, formally checked), and is succ(r) or
  pred(r) itself except in a small range near underflow. `_down` and `_up`
  (`np.nextafter`) remain for conversions and scalars.
- Matrix-vector products use Rump's midpoint-radius product (S. M. Rump, "Fast and
  parallel interval arithmetic", BIT 39(3), 1999, §3; INTLAB): for A = mA ± rA
  and x = mx ± rx, A·x ⊆ mA·mx ± (|mA|·rx + rA·(|mx| + rx)). mA·mx is one BLAS
  call; its rounding error, for any summation order, with or without FMA, is at
  most γ_n |mA|·|mx| + n·eta (Higham, *Accuracy and Stability of Numerical
  Algorithms*, 2nd ed., §3.1, eq. (3.5), with the underflow term of eq. (2.8)).
  Every non-negative quantity in the radius is itself computed in floating point
  and bounded above with `_inflate` (see there).
- Activations are the registry entries' vectorised extensions
  (`verifae.activations`, `Activation.fast`), which get `down`, `up`, `inflate` and
  the constants from this backend (`FastKit`): exp, tanh and sigmoid come from numpy
  and are widened by the library error bound K of `verifae.libm` (measured; the
  trust boundary), then monotonicity or the even, decreasing shape of the
  derivatives gives the range from endpoints.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np

from ..activations import Activation, get_activation
from ..numbers import float_or_inf, is_double
from .base import IntervalBackend

__all__ = ["FastBackend", "FastTensor"]

U = 2.0**-53  # unit roundoff of float64
ETA = 2.0**-1074  # smallest subnormal
REALMIN = 2.0**-1022
INF = np.inf


#: float64 arrays or numpy float scalars: the one step outward keeps the kind
_Floats = TypeVar("_Floats", np.ndarray, np.floating)


def _down(x: _Floats) -> _Floats:
    return np.nextafter(x, -INF)


def _up(x: _Floats) -> _Floats:
    return np.nextafter(x, INF)


#: φ = u(1 + 2u), exactly representable (1 + 2^-52 is a double)
PHI = U * (1.0 + 2.0 * U)


def _lower(x: np.ndarray) -> np.ndarray:
    """<= pred(x) for finite x, in round-to-nearest without `np.nextafter` (module
    docstring: Rump et al. 2009, Theorem 2.1); −inf stays −inf, overflow rounds to
    −inf; +inf and NaN give NaN, which every caller reads as unbounded."""
    return x - (np.abs(x) * PHI + ETA)


def _upper(x: np.ndarray) -> np.ndarray:
    """>= succ(x) for finite x (as `_lower`); +inf stays +inf, −inf and NaN give NaN."""
    return x + (np.abs(x) * PHI + ETA)


def _inflate(x: np.ndarray, k: int) -> np.ndarray:
    """An upper bound of E >= 0, given x = the float evaluation of E with at most k
    roundings (to nearest) of non-negative terms: x = E(1 + θ_k) + (k eta) with
    |θ_k| <= γ_k, so E <= (x + k·eta)/(1 − γ_k) <= (x + k·eta)(1 + 2γ_k) for k·u <= 1/4,
    and 1 + (2k + 2)·u >= (1 + 2γ_k)/(1 − u) covers the rounding of this product;
    the final nextafter covers the addition."""
    factor = 1.0 + (2 * k + 2) * U  # exactly representable: (2k + 2)·2^-53 is a multiple of 2^-52
    return _upper((x + k * ETA) * factor)


def _gamma(n: int) -> float:
    """An upper bound of γ_n = nu/(1 − nu), as a float."""
    return float(_up(np.float64(n * U / (1 - n * U)) * (1 + 4 * U)))


class FastTensor:
    """An interval array: every value lies in [lo, hi], elementwise."""

    # Tensors are never changed in place, so the midpoint-radius form is kept once
    # computed: the parameters' tensors take part in many products.
    __slots__ = ("lo", "hi", "_mid_rad", "_matrix")

    def __init__(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.lo = lo
        self.hi = hi
        self._mid_rad: tuple[np.ndarray, np.ndarray] | None = None
        self._matrix: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lo.shape

    def __getitem__(self, index: Any) -> FastTensor:
        return FastTensor(self.lo[index], self.hi[index])

    def mid_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """Midpoint and radius with [mid − rad, mid + rad] ⊇ [lo, hi]."""
        if self._mid_rad is None:
            with np.errstate(invalid="ignore", over="ignore"):
                mid = 0.5 * self.lo + 0.5 * self.hi  # no overflow; each half is exact unless subnormal
                rad = _upper(np.maximum(mid - self.lo, self.hi - mid))
            finite = np.isfinite(self.lo) & np.isfinite(self.hi)
            self._mid_rad = (np.where(finite, mid, 0.0), np.where(finite, rad, INF))
        return self._mid_rad


def _fractions_to_bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 lower/upper bounds of exact rationals: the double itself when q is one,
    else one step each way from float(q) (correctly rounded, so within one ulp). Beyond
    the double range float(q) is ±inf, and the step inward gives ±realmax: [realmax, inf]
    holds a q above realmax."""
    values = np.asarray(values, dtype=object)
    flat = values.ravel()
    f = np.array([float_or_inf(q) for q in flat], dtype=np.float64)
    exact = np.fromiter((is_double(q) for q in flat), dtype=bool, count=flat.size)
    lo = np.where(exact, f, _down(f))
    hi = np.where(exact, f, _up(f))
    return lo.reshape(values.shape), hi.reshape(values.shape)


class FastBackend(IntervalBackend):
    """Vectorised float64 interval arithmetic (lower/upper arrays)."""

    name = "fast"
    rigorous = True

    def __init__(self, precision: int | None = None) -> None:
        if precision not in (None, 53):
            from ..errors import UnsupportedError

            raise UnsupportedError("backend 'fast' computes in float64 (53 bits); use 'arb' for more precision")
        self.precision = 53

    # conversion in
    def convert_arrays(self, owner: Any, names: tuple[str, ...]) -> tuple[FastTensor, ...]:
        def convert():
            out = []
            for name in names:
                f, exact = owner.float64(name)
                out.append(FastTensor(np.where(exact, f, _down(f)), np.where(exact, f, _up(f))))
            return tuple(out)

        return owner.derived(("parameters", self.cache_key), convert)

    def constant(self, values: np.ndarray) -> FastTensor:
        return FastTensor(*_fractions_to_bounds(values))

    def constant_floats(self, values: np.ndarray) -> FastTensor:
        v = np.asarray(values, dtype=np.float64)
        return FastTensor(v.copy(), v.copy())

    def interval(self, lower: np.ndarray, upper: np.ndarray) -> FastTensor:
        lo, _ = _fractions_to_bounds(lower)
        _, hi = _fractions_to_bounds(upper)
        return FastTensor(lo, hi)

    def interval_floats(self, lower: np.ndarray, upper: np.ndarray) -> FastTensor:
        return FastTensor(np.array(lower, dtype=np.float64), np.array(upper, dtype=np.float64))

    # linear algebra (Rump's midpoint-radius product, module docstring)
    def _product(self, mA, rA, absA, x: FastTensor, transpose: bool) -> FastTensor:
        mx, rx = x.mid_rad()
        n = mA.shape[0] if transpose else mA.shape[1]
        dot = (lambda M, v: v @ M) if transpose else (lambda M, v: v @ M.T)
        with np.errstate(invalid="ignore", over="ignore"):
            c = dot(mA, mx)
            abs_mx = np.abs(mx)
            S = _inflate(dot(absA, abs_mx), n)  # >= |mA|·|mx|
            radius = _gamma(n) * S + n * ETA  # >= the rounding error of c
            radius = radius + _inflate(dot(absA, rx), n)  # >= |mA|·rx
            if rA is not None:
                radius = radius + _inflate(dot(rA, _upper(abs_mx + rx)), n)  # >= rA·(|mx| + rx)
            radius = _inflate(radius, 4)
            lo, hi = _lower(c - radius), _upper(c + radius)
        bad = np.isnan(lo) | np.isnan(hi)
        return FastTensor(np.where(bad, -INF, lo), np.where(bad, INF, hi))

    @staticmethod
    def _matrix(A: FastTensor) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        if A._matrix is None:
            mA, rA = A.mid_rad()
            A._matrix = (mA, (rA if np.any(rA) else None), np.abs(mA))
        return A._matrix

    def matvec(self, A: FastTensor, x: FastTensor) -> FastTensor:
        mA, rA, absA = self._matrix(A)
        return self._product(mA, rA, absA, x, transpose=False)

    def rmatvec(self, A: FastTensor, y: FastTensor) -> FastTensor:
        mA, rA, absA = self._matrix(A)
        return self._product(mA, rA, absA, y, transpose=True)

    def affine(self, A: FastTensor, x: FastTensor, b: FastTensor) -> FastTensor:
        return self.add(self.matvec(A, x), b)

    # elementwise
    def add(self, a: FastTensor, b: FastTensor) -> FastTensor:
        with np.errstate(invalid="ignore", over="ignore"):
            return self._clean(_lower(a.lo + b.lo), _upper(a.hi + b.hi))

    def sub(self, a: FastTensor, b: FastTensor) -> FastTensor:
        with np.errstate(invalid="ignore", over="ignore"):
            return self._clean(_lower(a.lo - b.hi), _upper(a.hi - b.lo))

    def mul(self, a: FastTensor, b: FastTensor) -> FastTensor:
        with np.errstate(invalid="ignore", over="ignore"):
            p = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
            lo = np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3]))
            hi = np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3]))
            return self._clean(_lower(lo), _upper(hi))

    def outer(self, u: FastTensor, v: FastTensor) -> FastTensor:
        return self.mul(u[..., :, None], v[..., None, :])

    def scale(self, a: FastTensor, numerator: int, denominator: int = 1) -> FastTensor:
        lo, hi = _fractions_to_bounds(np.array([Fraction(numerator, denominator)], dtype=object))
        return self.mul(a, FastTensor(lo[0], hi[0]))

    def square(self, a: FastTensor) -> FastTensor:
        small = np.where((a.lo <= 0) & (a.hi >= 0), 0.0, np.minimum(np.abs(a.lo), np.abs(a.hi)))
        large = np.maximum(np.abs(a.lo), np.abs(a.hi))
        with np.errstate(over="ignore"):
            return self._clean(np.maximum(_lower(small * small), 0.0), _upper(large * large))

    def mean(self, a: FastTensor) -> FastTensor:
        # Σ over n terms in any order: error <= γ_{n−1} Σ|a_i| (Higham §4.2), then one
        # division by n (one more rounding, covered by the outward steps).
        n = a.shape[-1]
        with np.errstate(invalid="ignore", over="ignore"):
            mag = _inflate(np.maximum(np.abs(a.lo), np.abs(a.hi)).sum(axis=-1), n)
            err = _inflate(_gamma(n) * mag, 2)
            lo = _lower(_lower(a.lo.sum(axis=-1) - err) / n)
            hi = _upper(_upper(a.hi.sum(axis=-1) + err) / n)
        return self._clean(lo, hi)

    @staticmethod
    def _clean(lo: np.ndarray, hi: np.ndarray) -> FastTensor:
        """NaN (inf − inf, 0·inf) means the enclosure is unbounded, never a wrong number."""
        bad = np.isnan(lo) | np.isnan(hi)
        if bad.any():
            lo, hi = np.where(bad, -INF, lo), np.where(bad, INF, hi)
        return FastTensor(lo, hi)

    # activations: the entry's vectorised extension, with this backend as its FastKit
    unit_roundoff = U
    realmin = REALMIN

    @staticmethod
    def down(x: _Floats) -> _Floats:
        """One float step toward −inf (FastKit)."""
        return _down(x)

    @staticmethod
    def up(x: _Floats) -> _Floats:
        """One float step toward +inf (FastKit)."""
        return _up(x)

    @staticmethod
    def inflate(x: np.ndarray, k: int) -> np.ndarray:
        """`_inflate` (FastKit)."""
        return _inflate(x, k)

    #: erfc at float64 points: Python's math.erfc (the C library's; numpy has none),
    #: within LIBRARY_ULPS["float64"]["erfc"] ulps (verifae.libm, measured)
    erfc = staticmethod(np.vectorize(math.erfc, otypes=[np.float64]))

    def activation(self, act: str | Activation, z: FastTensor) -> FastTensor:
        return FastTensor(*get_activation(act).fast(self, z.lo, z.hi))

    def activation_derivative(self, act: str | Activation, z: FastTensor) -> FastTensor:
        return FastTensor(*get_activation(act).fast_derivative(self, z.lo, z.hi))

    # the helpers the float semantics needs
    def magnitude(self, a: FastTensor) -> FastTensor:
        m = np.maximum(np.abs(a.lo), np.abs(a.hi))
        return FastTensor(m, m.copy())

    def widen(self, a: FastTensor, r: FastTensor, absolute: Fraction = Fraction(0)) -> FastTensor:
        extra = float(_up(np.float64(float(absolute)))) if absolute else 0.0
        with np.errstate(invalid="ignore", over="ignore"):
            radius = _upper(r.hi + extra)
            return self._clean(_lower(a.lo - radius), _upper(a.hi + radius))

    def exceeds(self, a: FastTensor, bound: Fraction) -> np.ndarray:
        limit = float(bound)
        if Fraction(limit) > bound:
            limit = float(_down(np.float64(limit)))
        return ~(np.maximum(np.abs(a.lo), np.abs(a.hi)) < limit)  # NaN counts as exceeding

    def piecewise_scale(self, a: FastTensor, f_pos: np.ndarray, f_neg: np.ndarray) -> FastTensor:
        """{λ⁺ f_pos + λ⁻ f_neg : λ in a}, elementwise (λ⁺ = max(λ, 0), λ⁻ = min(λ, 0); the
        doubles f_pos, f_neg broadcast against a): how back-substitution moves a
        coefficient through a pair of lines by its sign (`verifae.methods.crown`). The map
        is linear on each side of 0, so its range over [lo, hi] is spanned by its values
        at lo, hi and, when the interval straddles 0, 0; each value is one product,
        within one step of the exact one."""
        with np.errstate(invalid="ignore", over="ignore"):
            at_lo = np.where(a.lo >= 0, f_pos, f_neg) * a.lo
            at_hi = np.where(a.hi >= 0, f_pos, f_neg) * a.hi
            lo, hi = np.minimum(at_lo, at_hi), np.maximum(at_lo, at_hi)
            straddles = (a.lo < 0) & (a.hi > 0)
            lo = np.where(straddles, np.minimum(lo, 0.0), lo)
            hi = np.where(straddles, np.maximum(hi, 0.0), hi)
            return self._clean(_lower(lo), _upper(hi))

    # conversion out
    def bounds(self, t: FastTensor) -> np.ndarray:
        return np.stack([t.lo, t.hi], axis=-1)

    # The ends themselves, for methods written on this backend (`verifae.methods`): they
    # read a tensor only through these, never through FastTensor's fields.
    @staticmethod
    def ends(t: FastTensor) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper): every value of `t` lies in [lower, upper], elementwise. The
        arrays are t's own, not copies: tensors are never changed in place, nor may
        these be."""
        return t.lo, t.hi

    @staticmethod
    def from_ends(lower: np.ndarray, upper: np.ndarray) -> FastTensor:
        """The tensor [lower, upper] of float64 arrays of one shape, lower <= upper (the
        inverse of `ends`; unlike `interval_floats` it keeps the arrays, not copies)."""
        return FastTensor(lower, upper)

    @staticmethod
    def upper(t: FastTensor) -> np.ndarray:
        """The upper ends of `t` (`ends`); of a `magnitude`, upper bounds of |v|."""
        return t.hi

    # the batch's summed weight gradient (`Backend.outer_sum`; helper `gradmodes`)
    def outer_sum(self, u: FastTensor, v: FastTensor) -> FastTensor:
        """Σ_b u_b ⊗ v_b = uᵀ v for u of shape (B, m), v of shape (B, n): Rump's
        midpoint-radius product (module docstring) with v as the matrix and the columns
        of u as the vectors, so uᵀ v ⊆ mu ᵀ mv ± (ru ᵀ |mv| + (|mu| + ru)ᵀ rv), and the
        rounding error of the one BLAS call mu ᵀ mv is at most γ_B |mu|ᵀ|mv| + B·eta in
        any summation order, FMA or not (Higham eq. (3.5) with (2.8)): `_product` bounds
        each term so."""
        mv, rv = v.mid_rad()
        columns = FastTensor(u.lo.T, u.hi.T)  # (m, B): the m rows uᵀ are the vectors
        return self._product(mv, rv if np.any(rv) else None, np.abs(mv), columns, transpose=True)
