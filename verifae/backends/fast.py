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

import functools
import math
import threading
from collections.abc import Callable
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
    with np.errstate(over="ignore"):  # the step below −realmax is −inf: still a lower bound
        return np.nextafter(x, -INF)


def _up(x: _Floats) -> _Floats:
    with np.errstate(over="ignore"):  # the step above realmax is +inf: still an upper bound
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


def _up_float(q: Fraction) -> float:
    """The least double >= q (q finite and below realmax)."""
    f = float(q)
    return f if Fraction(f) >= q else float(_up(np.float64(f)))


@functools.cache
def _product_constants(n: int, bias: bool) -> tuple[float, float, float]:
    """(κ, F, τ₀) for a midpoint-radius product of n terms (`FastBackend._midrad_product`):
    κ >= γ_{n+2} (γ_{n+1} without a bias), F >= 1/((1 − γ_n)(1 − u)^7), and
    τ₀ >= F·n·eta + (F − 1)·realmin + 2n·eta, all rounded up from exact rationals."""
    u = Fraction(U)
    gamma = lambda k: k * u / (1 - k * u)  # noqa: E731
    F = 1 / ((1 - gamma(n)) * (1 - u) ** 7)
    eta = Fraction(ETA)
    tau0 = F * n * eta + (F - 1) * Fraction(REALMIN) + 2 * n * eta
    return _up_float(gamma(n + 2 if bias else n + 1)), _up_float(F), _up_float(tau0)


@functools.lru_cache(maxsize=256)
def _product_tau(n: int, bias: bool, sum_bound: float, rho: float) -> tuple[float, float, float, float]:
    """(k1, k2, F, τ) of `FastBackend._midrad_product`: k1 >= κ + ρ, k2 >= 1 + ρ and
    τ >= 2(F(s·eta + n·eta) + (F − 1)·realmin + 2n·eta) for s = sum_bound."""
    kappa, F, tau0 = _product_constants(n, bias)
    tau = _up_float(2 * (Fraction(F) * Fraction(sum_bound) * Fraction(ETA) + Fraction(tau0)))
    return _up_float(Fraction(kappa) + Fraction(rho)), _up_float(1 + Fraction(rho)), F, tau


@functools.lru_cache(maxsize=256)
def _outer_sum_constants(n: int, column_sum: float) -> tuple[float, float, float]:
    """(κ, F, τ) of `FastBackend._midrad_outer_sum` for n terms, every column sum of |mu|
    computed as at most `column_sum`: κ >= γ_{n+1}, F >= 1/((1 − γ_n)(1 − u)^6) and
    τ >= 2(F(s + 2n) + n + 2)·eta for s >= the exact column sums (a float sum of n
    non-negative terms is >= (1 − γ_{n−1}) times the exact one, so s = column_sum·(1 + 2γ_n)
    bounds it), all rounded up from exact rationals."""
    u = Fraction(U)
    gamma = lambda k: k * u / (1 - k * u)  # noqa: E731
    F = 1 / ((1 - gamma(n)) * (1 - u) ** 6)
    s = Fraction(column_sum) * (1 + 2 * gamma(n))
    tau = 2 * (F * (s + 2 * n) + n + 2) * Fraction(ETA)
    return _up_float(gamma(n + 1)), _up_float(F), _up_float(tau)


#: γ_2 = 2u/(1 − 2u) rounded up
_GAMMA2 = _up_float(Fraction(2 * U) / (1 - 2 * Fraction(U)))

#: γ_3 = 3u/(1 − 3u) rounded up
_GAMMA3 = _up_float(Fraction(3 * U) / (1 - 3 * Fraction(U)))

#: γ_4 = 4u/(1 − 4u) rounded up
_GAMMA4 = _up_float(Fraction(4 * U) / (1 - 4 * Fraction(U)))


@functools.lru_cache(maxsize=64)
def _scalar_factors(s: Fraction) -> tuple[float, float]:
    """(fl(s), the least double >= s) of a rational s > 0 (`FastBackend.scale`); (inf, inf)
    beyond the double range."""
    if s >= Fraction(np.finfo(np.float64).max):
        return INF, INF
    return float(s), _up_float(s)


@functools.lru_cache(maxsize=64)
def _scalar_bounds(s: Fraction) -> tuple[np.ndarray, np.ndarray]:
    """The float64 lower and upper bounds of s (`_fractions_to_bounds`), kept:
    `FastBackend.scale` multiplies by the same few constants again and again."""
    lo, hi = _fractions_to_bounds(np.array([s], dtype=object))
    return lo[0], hi[0]

#: 1 + 4u >= 1/(1 − u)^3, a double; 1 − 2u, a double
_ONE_PLUS_4U = 1.0 + 4 * U
_ONE_MINUS_2U = 1.0 - 2 * U
_ONE_PLUS_8U = 1.0 + 8 * U
#: the factors of D(β) (row 0, for b1) and U(β) (row 1, for b2) by the sign of β
#: (`FastBackend._sign_split_outer`)
_SCALE_NONNEG = np.array([[1.0 - 2 * U], [1.0 + 4 * U]])
_SCALE_NEG = np.array([[1.0 + 4 * U], [1.0 - 2 * U]])
#: the largest relative radius of a matrix's entries that the one-GEMM radius absorbs
_RHO_MAX = 2.0**-40
_NO_OVERFLOW = 2.0**1020


_thread = threading.local()
_SCRATCH_MAX = 2**20  # 8 MB


def _scratch(shape: tuple[int, ...]) -> np.ndarray:
    """A float64 work array of `shape`, this thread's own, reused from call to call: a
    fresh array of a few hundred kB costs as much in page faults as the arithmetic on it.
    Its contents are garbage; it is overwritten by the next call. Above `_SCRATCH_MAX`
    entries (a batch's chunk) a new array: the buffer is kept for the thread's life."""
    size = math.prod(shape)
    if size > _SCRATCH_MAX:
        return np.empty(shape)
    buffer = getattr(_thread, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _thread.buffer = np.empty(size)
    return buffer[:size].reshape(shape)


def _widen_tiny(ends: np.ndarray, magnitude: np.ndarray, t: float, axis: int) -> np.ndarray:
    """The interval ends (lower, upper stacked along `axis`), each nonzero end of magnitude
    below t moved outward to 0 or ±t: a lower end in (0, t) to 0 and in (−t, 0) to −t, an
    upper end in (0, t) to t and in (−t, 0) to 0. Each interval only grows, and every
    nonzero end is then at least t in magnitude (`FastBackend._sign_split_outer`)."""
    tiny = (magnitude < t) & (magnitude != 0)
    if not tiny.any():
        return ends
    lower, upper = (np.take(ends, k, axis=axis) for k in (0, 1))
    low_tiny, up_tiny = (np.take(tiny, k, axis=axis) for k in (0, 1))
    lower = np.where(low_tiny, np.where(lower > 0, 0.0, -t), lower)
    upper = np.where(up_tiny, np.where(upper > 0, t, 0.0), upper)
    return np.stack((lower, upper), axis=axis)


def _min_nonzero(x: np.ndarray) -> float:
    nz = x[x != 0]
    return float(nz.min()) if nz.size else INF


class FastTensor:
    """An interval array: every value lies in [lo, hi], elementwise.

    A tensor is held by its ends (lo, hi) or, as the products make it, by midpoint and
    radius (`_of_mid_rad`); the other form is computed when first asked for and kept
    (tensors are never changed in place, and the parameters take part in many products).
    """

    __slots__ = ("_lo", "_hi", "_mid_rad", "_matrix", "_sum_bound", "_pairs", "_make_pairs", "_shape", "_magnitude")

    def __init__(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self._lo: np.ndarray | None = lo
        self._hi: np.ndarray | None = hi
        self._mid_rad: tuple[np.ndarray, np.ndarray] | None = None
        self._matrix: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None
        self._sum_bound: tuple[float, float] | None = None
        #: (lo, hi) side by side in a trailing axis, when lo and hi are views of it
        self._pairs: np.ndarray | None = None
        #: computes `_pairs` (a new array each call) for a tensor made by `_deferred`
        self._make_pairs: Callable[[], np.ndarray] | None = None
        self._shape: tuple[int, ...] | None = None
        self._magnitude: FastTensor | None = None  # `FastBackend.magnitude`, when asked for

    @classmethod
    def _of_mid_rad(cls, mid: np.ndarray, rad: np.ndarray) -> FastTensor:
        """The tensor of finite float arrays mid, rad >= 0 such that every value lies in the
        exact [mid − rad, mid + rad] *and* in [fl(mid − rad), fl(mid + rad)]: the producer
        chose rad large enough that the two roundings of the ends need no outward step
        (see `_ends_ready`)."""
        t = cls.__new__(cls)
        t._lo = t._hi = None
        t._mid_rad = (mid, rad)
        t._matrix = None
        t._sum_bound = None
        t._pairs = None
        t._make_pairs = None
        t._shape = None
        t._magnitude = None
        return t

    @classmethod
    def _deferred(cls, shape: tuple[int, ...], make_pairs: Callable[[], np.ndarray]) -> FastTensor:
        """The tensor whose ends, side by side in a new (*shape, 2) array, `make_pairs()`
        computes when first asked for: `FastBackend.bounds` of a tensor asked for only once
        (a weight gradient) then writes them once, with no copy."""
        t = cls._of_mid_rad(None, None)  # type: ignore[arg-type]
        t._mid_rad = None
        t._make_pairs = make_pairs
        t._shape = shape
        return t

    def _ends(self) -> None:
        if self._make_pairs is not None:
            self._pairs = self._make_pairs()
            self._lo, self._hi = self._pairs[..., 0], self._pairs[..., 1]
            return
        mid, rad = self._mid_rad  # type: ignore[misc]
        with np.errstate(over="ignore"):  # finite operands: no NaN; overflow is ±inf, still a bound
            self._lo, self._hi = mid - rad, mid + rad

    @property
    def lo(self) -> np.ndarray:
        if self._lo is None:
            self._ends()
        return self._lo  # type: ignore[return-value]

    @property
    def hi(self) -> np.ndarray:
        if self._hi is None:
            self._ends()
        return self._hi  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, ...]:
        if self._lo is not None:
            return self._lo.shape
        return self._shape if self._mid_rad is None else self._mid_rad[0].shape  # type: ignore[return-value]

    def __getitem__(self, index: Any) -> FastTensor:
        if self._lo is None and self._mid_rad is not None:
            mid, rad = self._mid_rad
            return FastTensor._of_mid_rad(mid[index], rad[index])  # the contract holds entrywise
        return FastTensor(self.lo[index], self.hi[index])

    def mid_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """Midpoint and radius with [mid − rad, mid + rad] ⊇ [lo, hi]."""
        if self._mid_rad is None:
            self._mid_rad = _mid_rad_of_ends(self.lo, self.hi)
        return self._mid_rad


def _mid_rad_of_ends(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint and radius of [lo, hi] (mid finite; rad = inf where an end is not finite).

    When every end is finite and below 2^1021 in magnitude (two reductions decide it:
    lo <= hi, so every entry lies in [min lo, max hi]; NaN fails the test), the midpoint
    is fl(fl(lo + hi)·0.5): lo + hi cannot overflow and, since rounding is monotone and
    2·lo, 2·hi are doubles, mid lies in [lo, hi]. The radius max(hi − mid, mid − lo) is
    computed with one rounding each; a difference of doubles is exact when its result is
    subnormal and has relative error <= u otherwise (Higham, 2nd ed., §2.2, (2.4) and
    Theorem 2.2's remark on gradual underflow), so d = fl(·) >= (1 − u)·exact, and
    fl(d·(1 + 4u)) >= d/(1 − u) (one more rounding, relative when normal; when subnormal
    d was exact and fl(d·(1 + 4u)) >= d by monotonicity), as (1 + 4u)(1 − u)² >= 1.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if lo.size and np.min(lo) > -2.0**1021 and np.max(hi) < 2.0**1021:
            mid = lo + hi
            mid *= 0.5
            rad = hi - mid
            np.maximum(rad, mid - lo, out=rad)
            rad *= 1.0 + 4 * U
            return mid, rad
        mid = 0.5 * lo + 0.5 * hi  # no overflow; each half is exact unless subnormal
        rad = _upper(np.maximum(mid - lo, hi - mid))
    finite = np.isfinite(lo) & np.isfinite(hi)
    return np.where(finite, mid, 0.0), np.where(finite, rad, INF)


def _fractions_to_bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 lower/upper bounds of exact rationals: the double itself when q is one,
    else one step each way from float(q) (correctly rounded, so within one ulp). Beyond
    the double range float(q) is ±inf, and the step inward gives ±realmax: [realmax, inf]
    holds a q above realmax."""
    values = np.asarray(values, dtype=object)
    flat = values.ravel()
    try:  # Fractions and ints: one pass
        f, exact = (np.array(column, dtype=dt) for column, dt in zip(
            zip(*map(_float_exact, flat)) if flat.size else ((), ()), (np.float64, bool)))
    except AttributeError:  # other exact numbers
        f = np.array([float_or_inf(q) for q in flat], dtype=np.float64)
        exact = np.fromiter((is_double(q) for q in flat), dtype=bool, count=flat.size)
    lo = np.where(exact, f, _down(f))
    hi = np.where(exact, f, _up(f))
    return lo.reshape(values.shape), hi.reshape(values.shape)


def _float_exact(q: Fraction | int) -> tuple[float, bool]:
    """(float(q), whether q is that double): n/d of Python ints is correctly rounded
    (as `float(Fraction)`), and a double's `as_integer_ratio` is its value in lowest
    terms, as a Fraction's (numerator, denominator) is."""
    n, d = q.numerator, q.denominator
    try:
        f = n / d
    except OverflowError:
        return (math.inf if n > 0 else -math.inf), False
    return f, f.as_integer_ratio() == (n, d)


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
        """The general product, kept for weights with a radius and for operands the
        midpoint-radius path refuses (`_midrad_product`)."""
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
    def _midrad_product(mA: np.ndarray, absA: np.ndarray, scalars: tuple[float, float], x: FastTensor,
                        transpose: bool, b: FastTensor | None = None) -> FastTensor | None:
        """A·x (+ b) for A = mA ± rA with rA <= ρ|mA| elementwise (`_matrix_scalars`), as
        (c, R) with two BLAS products and a few passes over the result; None when an
        operand or an intermediate is not finite (the caller then takes `_product`).

        Why R bounds everything (x = mx ± rx, b = mb ± rb; Rump 1999, §3):
        - A·x + b ∈ mA·mx + mb ± (|mA|·rx + rA·(|mx| + rx) + rb), exactly, and
          rA·(|mx| + rx) <= |mA|·(ρ|mx| + ρ·rx).
        - c = fl(fl(mA·mx) + mb): the product, any summation order, with or without FMA,
          errs by <= γ_n |mA|·|mx| + n·eta (Higham, 2nd ed., (3.5) with the underflow
          term of (2.8)); the addition by <= u|c| (Higham (2.5)).
        - So that the ends are fl(c ∓ R) with no outward step, R >= (ρ' + u|c|)/(1 − u)
          (ρ' the radius so far): fl(c + R) >= c + R − u(|c| + R) >= c + ρ', and an
          addition's result that is subnormal is exact (`_of_mid_rad`). With
          |c| <= (|mA|·|mx|(1 + γ_n) + n·eta + |mb|)/(1 − u), all of this is
          <= |mA|·((κ + ρ)|mx| + (1 + ρ)rx) + (γ_2|mb| + rb) + 2n·eta with κ = γ_{n+2}
          (γ_{n+1} and no bias terms without b), as γ_{n+2} − γ_n >= 2u(1 + γ_n)/(1 − u).
        - One BLAS product S = fl(|mA|·w) of non-negative terms, w = fl(fl(k1|mx|) + fl(k2·rx)),
          gives it: w >= (1 − u)²(k1|mx| + k2·rx) − eta elementwise (a product may
          underflow by eta/2), S >= (1 − γ_n)|mA|·w − n·eta (Higham (3.5) again, any
          order), and the few roundings after it (adding the bias terms, times F, plus τ)
          each lose at most a factor (1 − u), or, for the product by F in the subnormal
          range, at most (F − 1)·realmin. F >= 1/((1 − γ_n)(1 − u)^7) and
          τ >= 2(F(s·eta + n·eta) + (F − 1)·realmin + 2n·eta), with s >= the largest
          sum of |mA| along the contracted axis, cover every factor and absolute term
          (the factor 2 covers τ's own (1 − u)).
        """
        mx, rx = x.mid_rad()
        n, out = mA.shape if transpose else mA.shape[::-1]
        k1, k2, F, tau = _product_tau(n, b is not None, *scalars)
        with np.errstate(invalid="ignore", over="ignore"):
            w = np.abs(mx)
            # A product that widens (out > n: the decoder) is checked for overflow before, on
            # its inputs, rather than after, on its larger result: each |c| is at most
            # (1 + γ_n)·s·max|mx| + n·eta + |mb| (s >= every row sum of |mA|), each R at
            # most F((1 + γ_n)·s·max w + n·eta + bias term) + τ (`_matrix_scalars`), both
            # far below realmax when s·max|mx| + max|mb| and s·max w + max(bias term) are
            # below 2^1000; a NaN fails the test.
            mx_max = float(w.max(initial=0.0)) if out > n else INF
            w *= k1
            w += rx if k2 == 1.0 else k2 * rx  # k2 = 1: the product is exact
            if transpose:
                c, S = mx @ mA, w @ absA
            else:
                c, S = mx @ mA.T, w @ absA.T
            bias_max = term_max = 0.0
            if b is not None:
                mb, rb = b.mid_rad()
                c += mb
                term = _upper(_upper(np.abs(mb) * _GAMMA2) + rb)  # >= γ_2|mb| + rb (one step up per rounding)
                S += term
                if out > n:
                    bias_max, term_max = float(np.abs(mb).max(initial=0.0)), float(term.max(initial=0.0))
            S *= F
            S += tau
            R = S
            s = scalars[0]
            checked = (out > n and s * mx_max + bias_max < 2.0**1000
                       and s * float(w.max(initial=0.0)) + term_max < 2.0**1000)
            if not (checked or (np.isfinite(np.sum(c)) and np.isfinite(np.sum(R)))):
                return None  # an infinity or NaN somewhere (or a sum beyond realmax): the general product
        return FastTensor._of_mid_rad(c, R)

    @staticmethod
    def _matrix(A: FastTensor) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        if A._matrix is None:
            mA, rA = A.mid_rad()
            A._matrix = (mA, (rA if np.any(rA) else None), np.abs(mA))
        return A._matrix

    @staticmethod
    def _matrix_scalars(absA: np.ndarray, rA: np.ndarray | None) -> tuple[float, float]:
        """(s, ρ): s >= every sum of |mA| along either axis, ρ >= every rA/|mA| (inf when
        some rA > 0 has mA = 0, or a sum overflows). Float sums of n non-negative terms
        are >= (1 − γ_{n−1}) times the exact ones (additions: no underflow term), so the
        largest computed sum times 1 + 2γ_n (n the longer side) bounds them; a quotient
        is >= (1 − u)·exact − eta/2, so max·(1 + 4u) + realmin bounds ρ (then one step up
        for each rounding)."""
        n = max(absA.shape)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            s = max(float(absA.sum(axis=0).max(initial=0.0)), float(absA.sum(axis=1).max(initial=0.0)))
            if not math.isfinite(s):
                return INF, INF
            s = float(_up(np.float64(s * (1 + 2 * _gamma(n)) * (1 + 2 * U))))
            if rA is None:
                return s, 0.0
            if np.any((rA > 0) & (absA == 0)):
                return s, INF
            ratio = float(np.max(np.where(rA > 0, rA / absA, 0.0)))
            return s, float(_up(_up(np.float64(ratio * (1 + 4 * U))) + REALMIN))

    def _apply(self, A: FastTensor, x: FastTensor, transpose: bool, b: FastTensor | None = None) -> FastTensor:
        mA, rA, absA = self._matrix(A)
        if A._sum_bound is None:
            A._sum_bound = self._matrix_scalars(absA, rA)
        # The radius GEMM folds rA into |mA| by the factor ρ: as tight as Rump's separate
        # rA product only when the radii are rounding-sized (a decimal weight rounded to a
        # double); a matrix with wider radii (a relaxation, a Jacobian) takes `_product`.
        if math.isfinite(A._sum_bound[0]) and A._sum_bound[1] <= _RHO_MAX:
            out = self._midrad_product(mA, absA, A._sum_bound, x, transpose, b)
            if out is not None:
                return out
        y = self._product(mA, rA, absA, x, transpose)
        return y if b is None else self.add(y, b)

    def matvec(self, A: FastTensor, x: FastTensor) -> FastTensor:
        return self._apply(A, x, transpose=False)

    def rmatvec(self, A: FastTensor, y: FastTensor) -> FastTensor:
        return self._apply(A, y, transpose=True)

    def affine(self, A: FastTensor, x: FastTensor, b: FastTensor) -> FastTensor:
        return self._apply(A, x, transpose=False, b=b)

    # elementwise
    def add(self, a: FastTensor, b: FastTensor) -> FastTensor:
        with np.errstate(invalid="ignore", over="ignore"):
            return self._clean(_lower(a.lo + b.lo), _upper(a.hi + b.hi))

    def sub(self, a: FastTensor, b: FastTensor) -> FastTensor:
        if (a._lo is None and b._mid_rad is not None) or (b._lo is None and a._mid_rad is not None):
            out = self._midrad_sub(a, b)
            if out is not None:
                return out
        with np.errstate(invalid="ignore", over="ignore"):
            return self._clean(_lower(a.lo - b.hi), _upper(a.hi - b.lo))

    @staticmethod
    def _midrad_sub(a: FastTensor, b: FastTensor) -> FastTensor | None:
        """a − b as (c, R) when one operand is held by midpoint and radius (the output of
        a product against the input box); None when not finite.

        a − b ∈ (ma − mb) ± (ra + rb) exactly, and c = fl(ma − mb) errs by <= u|c|
        (Higham, 2nd ed., (2.5); exact when subnormal), so ends fl(c ∓ R) are bounds
        without an outward step when R >= (ra + rb + 2u|c|)/(1 − u) (`_midrad_product`).
        R = fl(fl(fl(fl(ra + rb) + fl(γ_2|c|))·(1 + 8u)) + 8·eta): five roundings, each a
        factor >= 1 − u when normal, covered by (1 + 8u)(1 − u)^5 >= 1; the product by
        γ_2 may underflow by eta/2 and the product by 1 + 8u, when subnormal, loses at
        most 8u·realmin = 4·eta: 8·eta covers both.
        """
        ma, ra = a.mid_rad()
        mb, rb = b.mid_rad()
        with np.errstate(invalid="ignore", over="ignore"):
            c = ma - mb
            R = np.abs(c)
            R *= _GAMMA2
            R += ra + rb  # fl(ra + rb), then the sum
            R *= _ONE_PLUS_8U
            R += 8 * ETA
            if not (np.isfinite(np.sum(c)) and np.isfinite(np.sum(R))):
                return None
        return FastTensor._of_mid_rad(c, R)

    def mul(self, a: FastTensor, b: FastTensor) -> FastTensor:
        if b.lo.size and np.min(b.lo) >= 0:  # NaN fails the test
            return self._nonnegative_mul(a, b)
        if a.lo.size and np.min(a.lo) >= 0:
            return self._nonnegative_mul(b, a)
        with np.errstate(invalid="ignore", over="ignore"):
            p = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
            lo = np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3]))
            hi = np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3]))
            return self._clean(_lower(lo), _upper(hi))

    def _nonnegative_mul(self, a: FastTensor, b: FastTensor) -> FastTensor:
        """a·b for b >= 0 (an activation's derivative, a positive constant of `scale`): two
        products in place of four, the same ends. With b >= 0 the product is increasing in
        a, so its least value is at a = lo_a, times hi_b when lo_a < 0 and lo_b otherwise,
        and its largest at a = hi_a, times hi_b when hi_a >= 0 and lo_b otherwise; rounding
        to nearest is monotone, so the float product chosen is the least (largest) of the
        four rounded products that `mul` compares, and the outward steps are `mul`'s. Where
        one of the other products is NaN (0·inf), `mul` returns an unbounded entry; here
        that product is not formed (the bound is the exact range's end, still sound)."""
        with np.errstate(invalid="ignore", over="ignore"):
            lo = a.lo * np.where(a.lo >= 0, b.lo, b.hi)
            hi = a.hi * np.where(a.hi >= 0, b.hi, b.lo)
            return self._clean(_lower(lo), _upper(hi))

    def outer(self, u: FastTensor, v: FastTensor) -> FastTensor:
        out = self._midrad_outer(u, v)
        if out is None:
            out = self._sign_split_outer(u, v)
        return self.mul(u[..., :, None], v[..., None, :]) if out is None else out

    @staticmethod
    def _sign_split_outer(u: FastTensor, v: FastTensor) -> FastTensor | None:
        """u ⊗ v with each end the min or max of two rounded corner products, the corners
        chosen by the sign of the row factor's ends, as two small BLAS products and a min
        and a max per entry; None when a product might underflow or overflow, or the batch
        axes differ (the caller then takes `mul`).

        Which corners: for a = [a1, a2] and b = [b1, b2], min(a·b) = min(m(a1), m(a2)) with
        m(α) = α·b1 if α >= 0 else α·b2 (the product is linear in β), and
        max(a·b) = max(M(a1), M(a2)) with M(α) = α·b2 if α >= 0 else α·b1.

        Rounding: each product's rounding is covered by scaling the β vector beforehand,
        by the sign of its α: a lower end α·β with α >= 0 uses D(β) = fl(β(1 − 2u)) for
        β >= 0, fl(β(1 + 4u)) for β < 0, and with α < 0 U(β) (the reverse factors); an
        upper end the opposite. With every nonzero exact product >= 4·realmin and every
        nonzero β >= 4·realmin (checked on the factors' extreme entries), each rounding is
        relative (Higham, 2nd ed., (2.4)), and (1 − 2u)(1 + u)² <= 1 <= (1 + 4u)(1 − u)²
        give fl(α·D(β)) <= α·β for α >= 0, fl(α·U(β)) <= α·β for α < 0 (and >= for the
        upper ends). A zero factor gives an exact zero.

        So the lower end is min(X, Y) with X = fl(a1·D(b1)) where a1 >= 0 and fl(a1·U(b2))
        where a1 < 0, Y the same of a2, and the upper end max(X', Y') = −min(−X', −Y') with
        X' = fl(a1·U(b2)) where a1 >= 0 and fl(a1·D(b1)) where a1 < 0. With `pairs`
        (m, n, 2) viewed as (m, 2n), the ends side by side, [X, −X'] = [a1⁺, a1⁻]·R with
        R's rows D(b1), −U(b2) and U(b2), −D(b1) side by side (a1⁺ = a1 where a1 >= 0,
        else 0; a1⁻ the rest). Each sum has one term whose factor is an exact zero, so that
        term is exactly zero (the factors are finite), and a sum of an exact zero and a
        product p is fl(p) in either order, with or without FMA (fma(x, y, c) with x·y = 0
        returns c; with c = 0, fl(x·y)). So one BLAS product gives X and −X' exactly as the
        rounded products above, another Y and −Y'; one elementwise min of the two gives
        [lower, −upper], and negating every second entry (the imaginary parts of the same
        memory viewed as complex numbers, a conjugation) is exact.
        """
        lead = u.shape[:-1]
        if v.shape[:-1] != lead:
            return None
        m, n = u.shape[-1], v.shape[-1]
        K = math.prod(lead)
        if not (K and m and n):
            return None
        a = np.stack((u.lo.reshape(K, m), u.hi.reshape(K, m)))  # (2, K, m): a1, a2
        b = np.stack((v.lo.reshape(K, n), v.hi.reshape(K, n)), axis=1)  # (K, 2, n): b1, b2
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            abs_a, abs_b = np.abs(a), np.abs(b)
            a_max, b_max = float(abs_a.max()), float(abs_b.max())
            a_small = float(abs_a.min(initial=INF, where=abs_a != 0))
            b_small = float(abs_b.min(initial=INF, where=abs_b != 0))
            if not (b_small >= 4 * REALMIN and a_small * b_small >= 4 * REALMIN):
                # Ends within a few ulps of 0 in one factor (a relu's zero gradient is
                # [−eta, eta] after its outward step) are widened to the least magnitude t
                # that keeps every product normal, t·(the other's least end) >= 4·realmin,
                # when t is negligible (<= 2^-900); else the general product.
                t_a, t_b = (max(float(_up(np.float64(4 * REALMIN / other) * (1 + 4 * U))), 4 * REALMIN)
                            for other in (b_small, a_small))
                if b_small >= 4 * REALMIN and t_a <= 2.0**-900:
                    a, a_small = _widen_tiny(a, abs_a, t_a, axis=0), t_a
                elif t_b <= 2.0**-900:
                    b, b_small = _widen_tiny(b, abs_b, t_b, axis=1), t_b
            if not (b_small >= 4 * REALMIN and a_small * b_small >= 4 * REALMIN and a_max * b_max < _NO_OVERFLOW):
                return None  # NaN, infinities, tiny or huge factors: the general product
            # R[:, 0] = (D(b1), −U(b2)) and R[:, 1] = (U(b2), −D(b1)) side by side
            scaled = np.empty((K, 2, n, 2))
            np.multiply(b, np.where(b >= 0, _SCALE_NONNEG, _SCALE_NEG), out=scaled[..., 0])
            np.negative(scaled[:, ::-1, :, 0], out=scaled[..., 1])
        R = scaled.reshape(K, 2, 2 * n)
        L = np.empty((2, K, m, 2))  # (a⁺, a⁻) of a1, then of a2
        np.maximum(a, 0.0, out=L[..., 0])
        np.minimum(a, 0.0, out=L[..., 1])

        def make_pairs() -> np.ndarray:
            pairs = np.matmul(L[0], R)
            other = _scratch(pairs.shape)
            np.matmul(L[1], R, out=other)
            np.minimum(pairs, other, out=pairs)
            ends = pairs.reshape(K * m * n, 2).view(np.complex128)
            np.conjugate(ends, out=ends)
            return pairs.reshape((*lead, m, n, 2))

        return FastTensor._deferred((*lead, m, n), make_pairs)

    @staticmethod
    def _midrad_outer(u: FastTensor, v: FastTensor) -> FastTensor | None:
        """u ⊗ v as (c, R) in two passes over the m × n result when one factor is a point
        (its radius is zero: then midpoint-radius is as tight as the ends' product), or
        None (the caller then takes `_sign_split_outer` or `mul`).

        Why R bounds it (u = mu a point, v = mv ± rv; Rump 1999, §3): u_i·v_j ∈
        mu_i·mv_j ± |mu_i|·rv_j. When no product underflows (every nonzero exact product
        >= realmin, checked on the factors' smallest nonzero entries) and none overflows
        (checked on their largest), every rounding is relative (Higham, 2nd ed., (2.4))
        and a product with a zero factor is an exact zero: c = fl(mu_i·mv_j) errs by
        <= u|mu_i·mv_j| and |c| <= (1 + u)|mu_i·mv_j|. Ends fl(c ∓ R) need no outward step
        when R >= (ρ + u|c|)/(1 − u) (as in `_midrad_product`), i.e.
        R >= |mu|·(rv + (2u + u²)|mv|)/(1 − u). R = fl(|mu|·w1), one relative rounding, so
        w1 >= (rv + γ_3|mv|)(1 + 4u) (each rounding stepped up, `_upper`) suffices, as
        (1 + 4u)(1 − u)² >= 1 and γ_3 >= 2u + u².
        """
        mu, ru = u.mid_rad()
        mv, rv = v.mid_rad()
        if np.any(ru) and np.any(rv):
            return None  # both factors are intervals: midpoint-radius could be wider than the ends' product
        if np.any(ru):  # the point factor first
            (mu, ru), (mv, rv) = (mv, rv), (mu, ru)
            swap = True
        else:
            swap = False
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            a, abs_mv = np.abs(mu), np.abs(mv)
            w1 = _upper(_upper(_upper(abs_mv * _GAMMA3) + rv) * _ONE_PLUS_4U)
            big = float(np.max(a, initial=0.0)) * max(float(np.max(w1, initial=0.0)),
                                                      float(np.max(abs_mv, initial=0.0)))
            small = _min_nonzero(a) * min(_min_nonzero(w1), _min_nonzero(abs_mv))
            if not (big < _NO_OVERFLOW and small >= 2 * REALMIN):
                return None  # NaN, infinities, huge or tiny factors: the general product
            if swap:
                c, R = mv[..., :, None] * mu[..., None, :], w1[..., :, None] * a[..., None, :]
            else:
                c, R = mu[..., :, None] * mv[..., None, :], a[..., :, None] * w1[..., None, :]
        return FastTensor._of_mid_rad(c, R)

    def scale(self, a: FastTensor, numerator: int, denominator: int = 1) -> FastTensor:
        s = Fraction(numerator, denominator)
        if a._lo is None and a._mid_rad is not None and s > 0:
            out = self._midrad_scale(a, s)
            if out is not None:
                return out
        lo, hi = _scalar_bounds(s)
        return self.mul(a, FastTensor(lo, hi))

    @staticmethod
    def _midrad_scale(a: FastTensor, s: Fraction) -> FastTensor | None:
        """a·s for a held by (c, R) (`_of_mid_rad`) and a rational s > 0, as (c', R') with
        c' = fl(c·fl(s)); None when fl(s) is not normal or a result is not finite.

        Why R' bounds it: a·s ∈ c·s ± R·s exactly, R·s <= R·s↑ (s↑ the least double >= s),
        and |c' − c·s| <= |c'− c·fl(s)| + |c|·|fl(s) − s| <= 2u(1 + u)|c|·fl(s) + eta/2 (two
        correct roundings, relative when normal, Higham, 2nd ed., (2.4); a product in the
        subnormal range errs by at most eta/2), with |c|·fl(s) <= (|c'| + eta/2)/(1 − u).
        The ends fl(c' ∓ R') need no outward step when R' >= (ρ + u|c'|)/(1 − u)
        (`_midrad_product`), ρ the radius so far: it suffices that
        R' >= (R·s↑ + γ_4|c'| + 2·eta)/(1 − u). R' = fl(fl(fl(R·s↑) + fl(γ_4|c'|))·(1 + 8u))
        + 8·eta, rounded: five roundings, each a factor >= 1 − u when normal, covered by
        (1 + 8u)(1 − u)^5 >= 1 + u; the two products may underflow by eta/2 each and the
        product by 1 + 8u, when subnormal, loses at most 8u·realmin = 4·eta, which with the
        2·eta wanted is less than the (1 − u)·8·eta added.
        """
        s_near, s_up = _scalar_factors(s)
        if not REALMIN <= s_near < _NO_OVERFLOW:
            return None
        c, R = a.mid_rad()
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            c_s = c * s_near
            R_s = np.abs(c_s)
            R_s *= _GAMMA4
            R_s += R * s_up
            R_s *= _ONE_PLUS_8U
            R_s += 8 * ETA
            if not (np.isfinite(np.sum(c_s)) and np.isfinite(np.sum(R_s))):
                return None
        return FastTensor._of_mid_rad(c_s, R_s)

    def square(self, a: FastTensor) -> FastTensor:
        if a._lo is None:
            out = self._midrad_square(a)
            if out is not None:
                return out
        small = np.where((a.lo <= 0) & (a.hi >= 0), 0.0, np.minimum(np.abs(a.lo), np.abs(a.hi)))
        large = np.maximum(np.abs(a.lo), np.abs(a.hi))
        with np.errstate(over="ignore", invalid="ignore"):  # inf − inf is NaN: `_clean` reads it as unbounded
            return self._clean(np.maximum(_lower(small * small), 0.0), _upper(large * large))

    @staticmethod
    def _midrad_square(a: FastTensor) -> FastTensor | None:
        """a² for a tensor held by (m, R) with ends fl(m ∓ R) (`_of_mid_rad`); None when
        a square might overflow.

        Every |value| lies in [t, T], t = fl(|m| − R) when positive (else 0), T = fl(|m| + R):
        these are the ends of a or of −a. Below 2^-511 t is taken as 0 and T as 2^-511,
        so every nonzero square is >= realmin and each product's rounding is relative
        (Higham, 2nd ed., (2.4)); then fl(fl(t·t)·(1 − 2u)) <= t²(1 + u)²(1 − 2u) <= t² and
        fl(fl(T·T)·(1 + 4u)) >= T²(1 − u)²(1 + 4u) >= T². With max T < 2^511 nothing
        overflows.
        """
        m, R = a.mid_rad()
        T = np.abs(m)
        with np.errstate(over="ignore", invalid="ignore"):  # inf or NaN fails the test below
            t = T - R
            T += R
        np.maximum(T, 2.0**-511, out=T)
        if not np.max(T, initial=0.0) < 2.0**511:
            return None
        np.copyto(t, 0.0, where=t < 2.0**-511)
        t *= t
        t *= _ONE_MINUS_2U
        T *= T
        T *= _ONE_PLUS_4U
        return FastTensor(t, T)

    def mean(self, a: FastTensor) -> FastTensor:
        # Σ over n terms in any order: error <= γ_{n−1} Σ|a_i| (Higham §4.2), then one
        # division by n (one more rounding, covered by the outward steps).
        n = a.shape[-1]
        with np.errstate(invalid="ignore", over="ignore"):
            hi_sum = a.hi.sum(axis=-1)
            if a.lo.size and np.min(a.lo) >= 0:  # a >= 0 (a square): Σ|a_i| <= Σ hi_i, the sum already taken
                mag = _inflate(hi_sum, n)
            else:
                mag = _inflate(np.maximum(np.abs(a.lo), np.abs(a.hi)).sum(axis=-1), n)
            err = _inflate(_gamma(n) * mag, 2)
            lo = _lower(_lower(a.lo.sum(axis=-1) - err) / n)
            hi = _upper(_upper(hi_sum + err) / n)
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

    # Ends may be ±inf; an entry's vectorised extension computes its formula everywhere
    # and then selects the saturated value there (`np.where`), so inf·0 and inf − inf
    # arise in lanes it discards: no warning for those.
    def activation(self, act: str | Activation, z: FastTensor) -> FastTensor:
        with np.errstate(invalid="ignore", over="ignore"):
            return FastTensor(*get_activation(act).fast(self, z.lo, z.hi))

    def activation_derivative(self, act: str | Activation, z: FastTensor) -> FastTensor:
        with np.errstate(invalid="ignore", over="ignore"):
            return FastTensor(*get_activation(act).fast_derivative(self, z.lo, z.hi))

    # the helpers the float semantics needs
    def magnitude(self, a: FastTensor) -> FastTensor:
        # kept on the tensor (tensors never change): the float semantics asks for the
        # parameters' magnitudes at every product, and the magnitude tensor then keeps
        # its own midpoint-radius form and scalars for those products
        if a._magnitude is None:
            m = np.maximum(np.abs(a.lo), np.abs(a.hi))
            a._magnitude = FastTensor(m, m.copy())
        return a._magnitude

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
        """(lower, upper) pairs (`Backend.bounds`), a new array: callers may write into it
        (the float semantics marks unbounded entries so). When the ends were written side
        by side (`_sign_split_outer`) it is a plain copy of them."""
        if t._pairs is not None:
            return t._pairs.copy()
        if t._make_pairs is not None:  # not computed yet: computed for this caller, not kept
            return t._make_pairs()
        if t._lo is None:  # written in place: the ends of a midpoint-radius tensor (`_of_mid_rad`)
            mid, rad = t.mid_rad()
            out = np.empty((*mid.shape, 2))
            with np.errstate(over="ignore"):  # as `_ends`: overflow is ±inf, still a bound
                np.subtract(mid, rad, out=out[..., 0])
                np.add(mid, rad, out=out[..., 1])
            return out
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

    def batch_hull(self, t: FastTensor) -> FastTensor:
        """`Backend.batch_hull`: the least lower and greatest upper end over the rows (NaN,
        which `_clean` reads as unbounded, stays NaN)."""
        return self._clean(t.lo.min(axis=0), t.hi.max(axis=0))

    # the batch's summed weight gradient (`Backend.outer_sum`; helper `gradmodes`)
    def outer_sum(self, u: FastTensor, v: FastTensor) -> FastTensor:
        """Σ_b u_b ⊗ v_b = uᵀ v for u of shape (B, m), v of shape (B, n): Rump's
        midpoint-radius product (module docstring), uᵀ v ⊆ mu ᵀ mv ± (|mu|ᵀ rv + ru ᵀ(|mv| + rv)),
        with the rounding error of the one BLAS call mu ᵀ mv at most γ_B |mu|ᵀ|mv| + B·eta
        in any summation order, FMA or not (Higham eq. (3.5) with (2.8)):
        `_midrad_outer_sum` (three BLAS calls, the radius bounded a priori), or where it
        refuses (an infinite or NaN operand or result), `_product` bounding each term so."""
        out = self._midrad_outer_sum(u, v)
        if out is not None:
            return out
        mv, rv = v.mid_rad()
        columns = FastTensor(u.lo.T, u.hi.T)  # (m, B): the m rows uᵀ are the vectors
        return self._product(mv, rv if np.any(rv) else None, np.abs(mv), columns, transpose=True)

    @staticmethod
    def _midrad_outer_sum(u: FastTensor, v: FastTensor) -> FastTensor | None:
        """uᵀ v as (c, R) for u = mu ± ru (B × m), v = mv ± rv (B × n): c = fl(mu ᵀ mv) and
        R from two BLAS products of non-negative terms; None when an operand or a result
        is not finite (the caller then takes `_product`).

        Why R bounds everything (Rump 1999, §3, each term |u_b v_b − mu_b mv_b| <=
        |mu_b| rv_b + ru_b(|mv_b| + rv_b) exactly; Higham, 2nd ed., (3.5) with the
        underflow term of (2.8) for each float product of B terms, any order, FMA or not):
        - uᵀ v ∈ mu ᵀ mv ± ρ exactly, ρ = |mu|ᵀ rv + ru ᵀ(|mv| + rv), and
          |c − mu ᵀ mv| <= γ_B |mu|ᵀ|mv| + B·eta, so |c| <= (1 + γ_B)|mu|ᵀ|mv| + B·eta.
        - The ends are fl(c ∓ R) with no outward step when R >= (ρ' + u|c|)/(1 − u)
          (`_midrad_product`), ρ' = ρ + γ_B |mu|ᵀ|mv| + B·eta; that is at most
          (X + (1 + u)B·eta)/(1 − u) for X = |mu|ᵀ(κ|mv| + rv) + ru ᵀ(|mv| + rv) and
          κ >= γ_{B+1} >= γ_B + u(1 + γ_B).
        - Computed: w1 = fl(fl(κ|mv|) + rv) >= (1 − u)²(κ|mv| + rv) − eta (the product may
          underflow by eta/2; a sum of non-negative doubles is exact when subnormal),
          w2 = fl(|mv| + rv) >= (1 − u)(|mv| + rv); S1 = fl(|mu|ᵀ w1) >= (1 − γ_B)|mu|ᵀ w1 − B·eta
          and S2 = fl(ru ᵀ w2) >= (1 − γ_B) ru ᵀ w2 − B·eta; S = fl(S1 + S2) >= (1 − u)(S1 + S2);
          T = fl(S·F) >= (1 − u)S·F − eta; R = fl(T + τ) >= (1 − u)(T + τ). With
          F >= 1/((1 − γ_B)(1 − u)^6) the relative part gives X/(1 − u), and
          τ >= 2(F(s + 2B) + B + 2)·eta (s >= every column sum of |mu|, which the −eta of
          w1 costs through |mu|ᵀ) covers every absolute term with room for τ's own (1 − u).
        """
        if u.shape[:1] != v.shape[:1] or len(u.shape) != 2 or len(v.shape) != 2:
            return None
        n_terms = u.shape[0]
        if not (n_terms and u.shape[1] and v.shape[1]):
            return None
        mu, ru = u.mid_rad()
        mv, rv = v.mid_rad()
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            abs_mu, abs_mv = np.abs(mu), np.abs(mv)
            column_sum = float(abs_mu.sum(axis=0).max())
            if not math.isfinite(column_sum):
                return None
            kappa, F, tau = _outer_sum_constants(n_terms, column_sum)
            w1 = abs_mv * kappa
            w1 += rv
            c = mu.T @ mv
            S = abs_mu.T @ w1
            if np.any(ru):
                w2 = abs_mv
                w2 += rv  # abs_mv is not used after this: w2 = fl(|mv| + rv) in place
                S += ru.T @ w2
            S *= F
            S += tau
            if not (np.isfinite(np.sum(c)) and np.isfinite(np.sum(S))):
                return None  # an infinity or NaN somewhere (or a sum beyond realmax): the general product
        return FastTensor._of_mid_rad(c, S)
