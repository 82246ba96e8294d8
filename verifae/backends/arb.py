"""Ball arithmetic with python-flint's `arb` (FLINT/Arb).

Every arb operation returns a ball that contains the exact result of the operation
applied to every point of its input balls; this is Arb's documented contract
("Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
F. Johansson, IEEE Trans. Computers 66(8), 2017, §2). exp and tanh are Arb's own
rigorous implementations. The working precision is this instance's `precision`,
applied with `flint.ctx.workprec` around every operation and restored afterwards,
so no global state leaks between backends.

Tensors are numpy object arrays of balls. Three things avoid one Python call per entry
(issue 14), each as rigorous as the per-entry path it replaces:

- Matrix products (`matvec`, `rmatvec`, `affine`) are one flint `arb_mat` product
  (Arb's `arb_mat_mul`, a ball enclosure like every Arb operation). A matrix's `arb_mat`
  is built once and kept while the matrix lives (`_cached`), so the parameters are
  converted once per spec.
- `bounds` converts balls to doubles through Arb's directed roundings to 53 bits
  (`_ball_endpoints`): the tightest double enclosure, at one call per endpoint.
- At precision <= 53 bits an outer product is a `DoubleIntervals`: float64 endpoint
  arrays of the exact range of the products of the factors' double enclosures, rounded
  outward with Dekker's exact product (`_product_bound`, `_outer_bounds`). A double is exact in Arb, so
  this is an enclosure like any ball, and at most as wide as the ball products it
  replaces. The operations the float semantics applies to it (magnitude, scale, widen,
  exceeds, add, sub, mul, bounds) stay in numpy; every other operation converts it to
  balls first (`_balls`).
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb, arb_mat, fmpq

from ..activations._extrema import ArbKit
from ..directed import float_down, float_up
from ..numbers import round_down, round_up
from .base import ObjectIntervalBackend

__all__ = ["ArbBackend", "DoubleIntervals"]

# Exact directed roundings of Arb values to doubles (kept under these names here).
_float_down, _float_up = float_down, float_up

# Arb returns radius |m1|r2 + |m2|r1 + r1r2 for [m1 ± r1]·[m2 ± r2]. If one factor
# is narrow, r1 <= 2**-20 |m1|, it has a fixed sign and the exact range of the
# product has half-width |m1|r2 + |m2|r1 (second factor of fixed sign) or
# (|m1| + r1)r2 (second factor straddling 0, so |m2| <= r2). Either way the ball's
# excess is at most r1·r2 <= 2**-20 of the half-width, so the ball product is tight.
# Otherwise the product is formed from the four endpoint products.
_NARROW_BITS = 20


class DoubleIntervals:
    """An interval array held as float64 endpoints: every value lies in [lo, hi]
    elementwise (±inf where unbounded). Doubles are exact in Arb, so this is an
    enclosure like an array of balls; `ArbBackend` keeps its large outer products so."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.lo = lo
        self.hi = hi

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lo.shape

    def __getitem__(self, index: Any) -> DoubleIntervals:
        return DoubleIntervals(self.lo[index], self.hi[index])


def _clean(lo: np.ndarray, hi: np.ndarray) -> DoubleIntervals:
    """NaN (inf − inf) means the enclosure is unbounded, never a wrong number."""
    bad = np.isnan(lo) | np.isnan(hi)
    if bad.any():
        lo, hi = np.where(bad, -np.inf, lo), np.where(bad, np.inf, hi)
    return DoubleIntervals(lo, hi)


# ---------------------------------------------------------------- exact roundings of sums and products
#
# The helpers below return, per element, the largest double <= the exact result (floor)
# or the smallest double >= it (ceiling). The result r of an IEEE operation rounded to
# nearest is within half an ulp of the exact value (IEEE 754-2019 §4.3, subnormals
# included), so the exact value lies in [pred(r), succ(r)] always. Where the rounding
# error e = exact − r is itself computed exactly (an error-free transformation), its sign
# says on which side of r the exact value lies: the floor is r if e >= 0, else pred(r).
# numpy evaluates each ufunc separately in float64, with no FMA contraction, as these
# transformations require. For a finite nonzero r, pred and succ are one step of the
# integer encoding (IEEE 754 orders same-sign finite doubles like their encodings), far
# cheaper than np.nextafter, which remains the fallback where e is not known exactly.

_REALMIN = 2.0**-1022
_REALMAX = float(np.finfo(np.float64).max)
_SPLIT_MAX = 2.0**995  # Veltkamp's 134217729·a cannot overflow
_PRODUCT_MAX = 2.0**1000  # no partial product of Dekker's algorithm overflows
# Dekker's error term is exact when e_a + e_b >= e_min + p − 1 = −970, which holds when
# |a·b| >= 2^-966 (as |a·b| < 2^(e_a + e_b + 2)).
_PRODUCT_MIN = 2.0**-966


def _directed(r: np.ndarray, err: np.ndarray, lower: bool) -> np.ndarray:
    """The floor (lower) or ceiling of r + err, for finite nonzero r with err exact and
    |err| <= ulp(r)/2: r itself, or one step of r's encoding away from it."""
    bits = r.view(np.int64)
    # toward −inf is bits − 1 for r > 0 and bits + 1 for r < 0; toward +inf the reverse
    away = (err < 0) if lower else (err > 0)
    positive = r > 0
    if lower:
        out = bits - (away & positive) + (away & ~positive)
    else:
        out = bits + (away & positive) - (away & ~positive)
    return out.view(np.float64)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's splitting a = a_hi + a_lo exactly, each half of at most 26 bits."""
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _product_bound(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """The floor (lower) or ceiling of each exact product a·b (broadcast; split the
    smaller operands first, so pass vectors with new axes for an outer product).

    Dekker's product gives the exact error e = a·b − fl(a·b) when nothing overflows and
    e_a + e_b >= e_min + p − 1 (J.-M. Muller et al., *Handbook of Floating-Point
    Arithmetic*, 2nd ed., 2018, §4.4.2); elsewhere one np.nextafter step. 0 times
    anything, ±inf included, is 0: the product of the real 0 with any real value
    (0·∞ = 0 for the endpoints of sets of reals)."""
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        p = a * b
        a_hi, a_lo = _split(a)
        b_hi, b_lo = _split(b)
        err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
        out = _directed(p, err, lower)
        if not _dekker_everywhere(a, b):
            abs_p = np.abs(p)
            known = ((np.abs(a) <= _SPLIT_MAX) & (np.abs(b) <= _SPLIT_MAX)
                     & (abs_p >= _PRODUCT_MIN) & (abs_p <= _PRODUCT_MAX))
            out = np.where(known, out, np.nextafter(p, -np.inf if lower else np.inf))
            # The exact product's sign is the factors': a step across 0 after an
            # underflow to 0 is never needed.
            same_sign = (a > 0) == (b > 0)
            if lower:
                out = np.where(same_sign, np.maximum(out, 0.0), out)
            else:
                out = np.where(same_sign, out, np.minimum(out, 0.0))
            out = np.where((a == 0) | (b == 0), 0.0, out)
    return out


def _dekker_everywhere(a: np.ndarray, b: np.ndarray) -> bool:
    """True when every product a·b (broadcast) is 0 from a zero factor (then fl is exact,
    e = 0) or is in the range where Dekker's error term is exact; decided from the
    extreme magnitudes of the factors, without touching the products."""
    abs_a, abs_b = np.abs(a), np.abs(b)
    if abs_a.size == 0 or abs_b.size == 0:
        return True
    a_max, b_max = float(abs_a.max()), float(abs_b.max())  # NaN or inf fail the test below
    if not (a_max <= _SPLIT_MAX and b_max <= _SPLIT_MAX and a_max * b_max <= _PRODUCT_MAX / 4):
        return False
    a_min = float(abs_a[abs_a > 0].min(initial=np.inf))
    b_min = float(abs_b[abs_b > 0].min(initial=np.inf))
    return a_min * b_min >= 4 * _PRODUCT_MIN  # the rounding of this product is far inside the factor 4


def _interval_product(a_lo: np.ndarray, a_hi: np.ndarray, b_lo: np.ndarray,
                      b_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[a_lo, a_hi]·[b_lo, b_hi] elementwise (broadcast): the product is bilinear, so its
    range over the rectangle is spanned by the four corner products (Moore, Kearfott and
    Cloud, *Introduction to Interval Analysis*, SIAM 2009, §2.3); each rounded outward."""
    if a_lo is a_hi and b_lo is b_hi:  # points: one product
        return _product_bound(a_lo, b_lo, True), _product_bound(a_lo, b_lo, False)
    corners = [(x, y) for x in (a_lo, a_hi) for y in (b_lo, b_hi)]
    lo = functools.reduce(np.minimum, (_product_bound(x, y, True) for x, y in corners))
    hi = functools.reduce(np.maximum, (_product_bound(x, y, False) for x, y in corners))
    return lo, hi


# For u in class i and v in class j (0: >= 0, 1: <= 0 and not 0, 2: straddles 0), the
# corners (u end, v end) where u·v is least and greatest: Moore, Kearfott and Cloud
# (§2.3, the nine cases of interval multiplication). 0 = lower end, 1 = upper end; two
# corners where both straddle.
_LEAST = {(0, 0): [(0, 0)], (0, 1): [(1, 0)], (0, 2): [(1, 0)],
          (1, 0): [(0, 1)], (1, 1): [(1, 1)], (1, 2): [(0, 1)],
          (2, 0): [(0, 1)], (2, 1): [(1, 0)], (2, 2): [(0, 1), (1, 0)]}
_GREATEST = {(0, 0): [(1, 1)], (0, 1): [(0, 1)], (0, 2): [(1, 1)],
             (1, 0): [(1, 0)], (1, 1): [(0, 0)], (1, 2): [(0, 0)],
             (2, 0): [(1, 1)], (2, 1): [(0, 0)], (2, 2): [(0, 0), (1, 1)]}


def _sign_class(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.where(lo >= 0, 0, np.where(hi <= 0, 1, 2))


def _outer_bounds(u_lo: np.ndarray, u_hi: np.ndarray, v_lo: np.ndarray,
                  v_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval outer product of vectors [u_lo, u_hi] and [v_lo, v_hi], rounded outward:
    rows and columns grouped by sign class, so that each block needs one corner product
    per bound (two where both straddle 0) instead of four."""
    cu, cv = _sign_class(u_lo, u_hi), _sign_class(v_lo, v_hi)
    ru, rv = np.argsort(cu, kind="stable"), np.argsort(cv, kind="stable")
    u_ends, v_ends = (u_lo[ru], u_hi[ru]), (v_lo[rv], v_hi[rv])
    u_edges = np.searchsorted(cu[ru], [0, 1, 2, 3])
    v_edges = np.searchsorted(cv[rv], [0, 1, 2, 3])
    lo = np.empty((u_lo.size, v_lo.size))
    hi = np.empty_like(lo)
    for i in range(3):
        rows = slice(u_edges[i], u_edges[i + 1])
        for j in range(3):
            cols = slice(v_edges[j], v_edges[j + 1])
            if rows.start == rows.stop or cols.start == cols.stop:
                continue
            for out, corners, lower, pick in ((lo, _LEAST, True, np.minimum), (hi, _GREATEST, False, np.maximum)):
                out[rows, cols] = functools.reduce(pick, (
                    _product_bound(u_ends[x][rows, None], v_ends[y][None, cols], lower)
                    for x, y in corners[i, j]))
    if not (np.all(ru[1:] > ru[:-1]) and np.all(rv[1:] > rv[:-1])):  # undo the grouping
        back = np.ix_(np.argsort(ru), np.argsort(rv))
        lo, hi = lo[back], hi[back]
    return lo, hi


def _sum_bound(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """The floor (lower) or ceiling of each exact sum a + b (broadcast).

    Knuth's TwoSum gives the exact error of fl(a + b) whenever fl(a + b) does not
    overflow, and then none of its other operations overflows either (S. Boldo,
    S. Graillat and J.-M. Muller, "On the robustness of the 2Sum and Fast2Sum
    algorithms", ACM TOMS 44(1), 2017); an exact sum (error 0) keeps r, zero included.
    Elsewhere (overflow, infinite operands) one np.nextafter step."""
    with np.errstate(invalid="ignore", over="ignore"):
        s = a + b
        b_virtual = s - a
        err = (a - (s - b_virtual)) + (b - b_virtual)
        out = _directed(s, err, lower)  # s = 0 only for an exact sum, where err = 0 (Hauser)
        finite = np.abs(s) <= _REALMAX
        if not finite.all():
            out = np.where(finite, out, np.nextafter(s, -np.inf if lower else np.inf))
    return out


# ---------------------------------------------------------------- balls in bulk


def _object_array(values: Sequence[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


def _ball_endpoints(balls: Sequence[arb]) -> tuple[np.ndarray, np.ndarray]:
    """The tightest float64 enclosure [lo, hi] of each ball.

    At 53 bits Arb's lower() and upper() round mid ∓ rad to 53 bits toward −inf and +inf
    (arb_get_lbound_arf and arb_get_ubound_arf: arf_sub / arf_add with ARF_RND_FLOOR /
    ARF_RND_CEIL, FLINT src/arb/get_lbound_arf.c). A 53-bit value of magnitude in
    [realmin, realmax] is a double, so float() (round to nearest) returns it unchanged.
    Zeros, subnormals, values beyond the double range and non-finite balls take the exact
    per-entry `float_down` / `float_up` (few: exact zeros of relu, overflowed entries)."""
    with flint.ctx.workprec(53):
        lower = [v.lower() for v in balls]
        upper = [v.upper() for v in balls]
    lo = np.array([float(e) for e in lower], dtype=np.float64)
    hi = np.array([float(e) for e in upper], dtype=np.float64)
    for ends, exact, directed in ((lo, lower, float_down), (hi, upper, float_up)):
        with np.errstate(invalid="ignore"):
            magnitude = np.abs(ends)
            check = ~((magnitude >= _REALMIN) & (magnitude <= _REALMAX))  # NaN included
        for i in np.flatnonzero(check):
            ends[i] = directed(exact[i])
    return lo, hi


# What is derived from a tensor and asked for again (a matrix's arb_mat and transpose, the
# float semantics' |W|, the double endpoints of a vector that is both an outer product's
# factor and a result), kept while the array lives. Tensors are never changed in place, so
# the array's identity names its values; the entry is dropped when the array is freed
# (weakref.finalize), before its id can be reused.
_DERIVED: dict[int, dict[Any, Any]] = {}


def _is_cached(a: Any) -> bool:
    return id(a) in _DERIVED


def _cached(a: np.ndarray, what: Any, compute: Callable[[], Any]) -> Any:
    entry = _DERIVED.get(id(a))
    if entry is None:
        entry = _DERIVED[id(a)] = {}
        weakref.finalize(a, _DERIVED.pop, id(a), None)
    if what not in entry:
        entry[what] = compute()
    return entry[what]


#: matrices up to this many entries are multiplied entry by entry, as before arb_mat: the
#: sums round each ball's radius as they always did, so the small models' enclosures are
#: the same to the last bit (arb_mat_mul rounds the radii of short dot products
#: differently, up to 7.3e-9 of a width wider or narrower); above it, one arb_mat product
ENTRYWISE_PRODUCT_SIZE = 1024


def _to_arb_mat(A: np.ndarray) -> arb_mat:
    """The arb_mat of a 2-D object array of balls (arb_set copies each ball exactly)."""
    return arb_mat(A.shape[0], A.shape[1], A.ravel().tolist())


@functools.lru_cache(maxsize=64)
def _lower_end(q: Fraction, precision: int) -> arb:
    """The lower end of q's ball at `precision` (the same for every entry of a tensor)."""
    with flint.ctx.workprec(precision):
        return (arb(q.numerator) if q.denominator == 1 else arb(fmpq(q.numerator, q.denominator))).lower()


def _with_precision(method):
    @functools.wraps(method)
    def wrapper(self: ArbBackend, *args: Any, **kwargs: Any) -> Any:
        with self.working_precision():
            return method(self, *args, **kwargs)

    return wrapper


class ArbBackend(ArbKit, ObjectIntervalBackend):
    """Arb balls at `precision` bits (default 53)."""

    @staticmethod
    def union(a: arb, b: arb) -> arb:
        """A ball holding both (`arb.union`, which rounds outward)."""
        return a.union(b)

    name = "arb"
    precision: int  # always set: 53 bits unless more or fewer are asked for

    def __init__(self, precision: int | None = None) -> None:
        self.precision = 53 if precision is None else int(precision)

    def working_precision(self) -> AbstractContextManager:
        return flint.ctx.workprec(self.precision)

    # IntervalKit: ArbKit's ball operations, and tanh (the activations use it when present)
    def tanh(self, x: arb) -> arb:
        return x.tanh()

    # scalar kit
    def from_fraction(self, q: Fraction) -> arb:
        if q.denominator == 1:
            return arb(q.numerator)
        return arb(fmpq(q.numerator, q.denominator))

    def from_float(self, f: float) -> arb:
        return arb(f)  # a double is exact in Arb at any precision

    def hull(self, lo: Fraction, hi: Fraction) -> arb:
        return self.from_fraction(lo).union(self.from_fraction(hi))

    def scalar_mul(self, a: arb, b: arb) -> arb:
        if a.rel_accuracy_bits() >= _NARROW_BITS or b.rel_accuracy_bits() >= _NARROW_BITS:
            return a * b
        al, ah, bl, bh = a.lower(), a.upper(), b.lower(), b.upper()
        products = (al * bl, al * bh, ah * bl, ah * bh)
        lowest = min(products, key=lambda p: p.lower())
        highest = max(products, key=lambda p: p.upper())
        return self.join(lowest, highest)

    def scalar_square(self, a: arb) -> arb:
        # x² over a ball is [|x|min², |x|max²]; the ball product a·a would give a
        # negative lower bound whenever a straddles 0.
        small, large = a.abs_lower(), a.abs_upper()
        return self.join(small * small, large * large)

    def scalar_bounds(self, a: arb) -> tuple[float, float]:
        if not a.is_finite():
            return (-math.inf, math.inf)
        return _float_down(a.lower()), _float_up(a.upper())

    def scalar_magnitude(self, a: arb) -> arb:
        return a.abs_upper()

    def scalar_widen(self, a: arb, r: arb) -> arb:
        m = r.upper()
        return a + m.union(-m)

    def scalar_exceeds(self, a: arb, bound: Fraction) -> bool:
        return not (a.is_finite() and a.abs_upper() < _lower_end(bound, self.precision))

    # tensors (module docstring: arb_mat products, double endpoints, DoubleIntervals)
    @_with_precision
    def matvec(self, A: Any, x: Any) -> np.ndarray:
        A = self._balls(A)
        if A.size <= ENTRYWISE_PRODUCT_SIZE:
            return super().matvec(A, self._balls(x))
        return self._product(A, _cached(A, "matrix", lambda: _to_arb_mat(A)), self._balls(x))

    @_with_precision
    def rmatvec(self, A: Any, y: Any) -> np.ndarray:
        A = self._balls(A)
        if A.size <= ENTRYWISE_PRODUCT_SIZE:
            return super().rmatvec(A, self._balls(y))
        transpose = _cached(A, "transpose", lambda: _cached(A, "matrix", lambda: _to_arb_mat(A)).transpose())
        return self._product(A.T, transpose, self._balls(y))

    def _product(self, A: np.ndarray, M: arb_mat, x: np.ndarray) -> np.ndarray:
        """M x over the trailing axis of x, for the arb_mat M of A: one arb_mat product with
        the batch as columns."""
        m, n = A.shape
        batch = x.shape[:-1]
        if n == 0:  # empty sums
            return self._zeros(batch + (m,))
        columns = x.reshape(-1, n)
        if m == 0 or columns.shape[0] == 0:
            return np.empty(batch + (m,), dtype=object)
        X = arb_mat(n, columns.shape[0], columns.T.ravel().tolist())
        return _object_array((M * X).entries(), (m, columns.shape[0])).T.reshape(batch + (m,))

    @_with_precision
    def outer(self, u: Any, v: Any) -> Any:
        if self.precision > 53:  # keep the full precision: per-entry tight products of balls
            return ObjectIntervalBackend.outer(self, self._balls(u), self._balls(v))
        u_lo, u_hi = self._doubles(u)
        v_lo, v_hi = self._doubles(v)
        batch = np.broadcast_shapes(u_lo.shape[:-1], v_lo.shape[:-1])
        m, n = u_lo.shape[-1], v_lo.shape[-1]
        boxes = math.prod(batch)
        ends = [np.broadcast_to(e, batch + e.shape[-1:]).reshape(boxes, e.shape[-1]) for e in (u_lo, u_hi, v_lo, v_hi)]
        lo, hi = np.empty((boxes, m, n)), np.empty((boxes, m, n))
        for k in range(boxes):  # one box at a time: the sign classes are per box
            lo[k], hi[k] = _outer_bounds(*(e[k] for e in ends))
        return DoubleIntervals(lo.reshape(batch + (m, n)), hi.reshape(batch + (m, n)))

    @_with_precision
    def outer_sum(self, u: Any, v: Any) -> Any:
        # balls at the working precision: Arb's own + and · enclose every partial sum
        return ObjectIntervalBackend.outer_sum(self, self._balls(u), self._balls(v))

    @_with_precision
    def add(self, a: Any, b: Any) -> Any:
        if isinstance(a, DoubleIntervals) and isinstance(b, DoubleIntervals):
            return _clean(_sum_bound(a.lo, b.lo, True), _sum_bound(a.hi, b.hi, False))
        return ObjectIntervalBackend.add(self, self._balls(a), self._balls(b))

    @_with_precision
    def sub(self, a: Any, b: Any) -> Any:
        if isinstance(a, DoubleIntervals) and isinstance(b, DoubleIntervals):
            return _clean(_sum_bound(a.lo, -b.hi, True), _sum_bound(a.hi, -b.lo, False))
        return ObjectIntervalBackend.sub(self, self._balls(a), self._balls(b))

    @_with_precision
    def mul(self, a: Any, b: Any) -> Any:
        if isinstance(a, DoubleIntervals) and isinstance(b, DoubleIntervals):
            return DoubleIntervals(*_interval_product(a.lo, a.hi, b.lo, b.hi))
        return ObjectIntervalBackend.mul(self, self._balls(a), self._balls(b))

    @_with_precision
    def scale(self, a: Any, numerator: int, denominator: int = 1) -> Any:
        if isinstance(a, DoubleIntervals):
            q = Fraction(numerator, denominator)
            q_lo, q_hi = np.array(round_down(q)), np.array(round_up(q))
            return DoubleIntervals(*_interval_product(a.lo, a.hi, q_lo, q_lo if q_lo == q_hi else q_hi))
        return ObjectIntervalBackend.scale(self, a, numerator, denominator)

    @_with_precision
    def magnitude(self, a: Any) -> Any:
        if isinstance(a, DoubleIntervals):
            m = np.maximum(np.abs(a.lo), np.abs(a.hi))  # exact
            return DoubleIntervals(m, m)  # a point: the same array (tensors are never changed in place)
        # The float semantics asks for |W| of the same parameter matrix in every product:
        # kept with the matrix's arb_mat (per precision: abs_upper rounds to it).
        compute = lambda: ObjectIntervalBackend.magnitude(self, a)  # noqa: E731
        return _cached(a, ("magnitude", self.precision), compute) if _is_cached(a) else compute()

    @_with_precision
    def widen(self, a: Any, r: Any, absolute: Fraction = Fraction(0)) -> Any:
        if isinstance(a, DoubleIntervals) and isinstance(r, DoubleIntervals):
            # |e| <= max(r) + absolute <= R, every sum rounded outward.
            R = _sum_bound(r.hi, np.array(round_up(absolute)), False)
            return _clean(_sum_bound(a.lo, -R, True), _sum_bound(a.hi, R, False))
        return ObjectIntervalBackend.widen(self, self._balls(a), self._balls(r), absolute)

    @_with_precision
    def exceeds(self, a: Any, bound: Fraction) -> np.ndarray:
        if isinstance(a, DoubleIntervals):
            # limit <= bound, so max|a| < limit proves every value below bound; NaN exceeds.
            return ~(np.maximum(np.abs(a.lo), np.abs(a.hi)) < round_down(bound))
        return ObjectIntervalBackend.exceeds(self, a, bound)

    def bounds(self, t: Any) -> np.ndarray:
        """Outward float64 bounds: the tightest doubles around every ball (`_ball_endpoints`)."""
        lo, hi = self._doubles(t)
        return np.stack([lo, hi], axis=-1)  # a new array: the cached endpoints stay unchanged

    def _doubles(self, t: Any) -> tuple[np.ndarray, np.ndarray]:
        """Float64 arrays (lo, hi) with every value of t in [lo, hi]."""
        if isinstance(t, DoubleIntervals):
            return t.lo + 0.0, t.hi + 0.0  # a copy, and −0.0 (from 0 times a negative) printed as 0.0

        def compute() -> tuple[np.ndarray, np.ndarray]:
            balls = np.asarray(t, dtype=object)
            lo, hi = _ball_endpoints(balls.ravel().tolist())
            return lo.reshape(balls.shape), hi.reshape(balls.shape)

        # independent of the precision: _ball_endpoints rounds to 53 bits itself
        return _cached(t, "doubles", compute) if isinstance(t, np.ndarray) else compute()

    def _balls(self, t: Any) -> np.ndarray:
        """t as an object array of balls: a `DoubleIntervals` becomes the hull of its exact
        endpoints (arb_union rounds outward; an infinite endpoint gives an unbounded ball)."""
        if not isinstance(t, DoubleIntervals):
            return t
        with self.working_precision():
            return _object_array([arb(lo).union(arb(hi)) for lo, hi in zip(t.lo.ravel().tolist(),
                                                                            t.hi.ravel().tolist())], t.shape)


def _on_balls(method: Callable[..., Any]) -> Callable[..., Any]:
    """An inherited operation, with every `DoubleIntervals` argument converted to balls."""
    @functools.wraps(method)
    def wrapper(self: ArbBackend, *args: Any, **kwargs: Any) -> Any:
        return method(self, *(self._balls(a) for a in args), **kwargs)

    return wrapper


# Every other tensor operation runs at this instance's precision, on balls.
for _name in (
    "constant", "interval", "square", "mean", "activation", "activation_derivative", "constant_floats",
):
    setattr(ArbBackend, _name, _with_precision(_on_balls(getattr(ObjectIntervalBackend, _name))))
del _name
