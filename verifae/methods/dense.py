"""The d × d matrices of the linear relaxation, in midpoint-radius form, their radius never formed.

The relaxation's big matrices (W_dec diag(a) W_enc for the output and the residual, the
mean-value form's Jacobian, Wmᵀ N for dX) are products X = A B of two thin interval
matrices (d × h and h × d), and each is used only through X c for a point vector c and
|X| v for v >= 0 (the concretization X c ± |X| ρ over a box). Rump's midpoint-radius
product (S. M. Rump, "Fast and parallel interval arithmetic", BIT 39(3), 1999, §3),
for A = mA ± rA (m × n) and B = mB ± rB (n × p), gives

    A B ⊆ fl(mA mB) ± R,   R = |mA| (γ_n |mB| + rB) + rA (|mB| + rB) + n·eta,

where γ_n |mA||mB| + n·eta bounds the rounding error of the float product fl(mA mB) in
any summation order, with or without FMA (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §3.1, eq. (3.5), with the underflow term of eq. (2.8)): so the
BLAS may block and order its sums as it likes. Only fl(mA mB) is formed (one BLAS call),
then turned into its magnitude in place; R v for v >= 0 is computed from the right,

    R v = |mA| (γ_n (|mB| v) + rB v) + rA (|mB| v + rB v) + n·eta·Σ_k v_k,

since products of non-negative matrices and vectors are associative: matrix-vector
products with the thin factors, each rounded upward (`inflate`: a float sum of n
non-negative products is within γ_n of the exact one, plus n·eta). Interval products
through the backend would instead hold X as (lower, upper) arrays, several elementwise
passes over d² entries each time, and re-derive a midpoint and radius from them for
every use.

X − I (the residual x_hat − x) is the same product with its diagonal shifted: the
diagonal g of fl(mA mB) is kept apart (the matrix holds zeros there), D = fl(g − 1) is
within u|D| of g − 1 (one subtraction, rounded to nearest; exact in the subnormal
range), and a product row · c is the sum of the off-diagonal products (one BLAS call)
plus D_i c_i: one evaluation of the same dot product of length p, in another order,
so Higham's γ_p bound still covers it.
"""

from __future__ import annotations

import functools

import numpy as np

from ..backends.fast import FastBackend, FastTensor
from ..numbers import FORMATS, round_up
from ..rounding import gamma

__all__ = ["DenseProduct", "magnitude_times"]

_B = FastBackend()
_U = float(FORMATS["float64"].unit_roundoff)
_ETA = float(FORMATS["float64"].eta)
_up = _B.up  # one float step toward +inf: a rounded-to-nearest result r of an exact v has v <= succ(r)


@functools.lru_cache(maxsize=64)
def _gamma(n: int) -> float:
    """The smallest float64 >= γ_n (float64's)."""
    return round_up(gamma(n, FORMATS["float64"]))


@functools.lru_cache(maxsize=64)
def _sum_factor(n: int) -> float:
    """The smallest float64 >= 1/(1 − γ_n)."""
    return round_up(1 / (1 - gamma(n, FORMATS["float64"])))


def _sum_bound(x: np.ndarray, n: int) -> np.ndarray:
    """An upper bound of the exact S = Σ_k p_k of n non-negative products p_k, given x, its
    float evaluation in any order (with or without FMA): x >= (1 − γ_n) S − n·eta/2
    (Higham §3.1: each term carries at most n roundings of relative size u; an underflowing
    product adds at most eta/2), so S <= (x + n·eta)/(1 − γ_n), and each of the two
    operations here is stepped upward. NaN (an infinite entry times 0) stays NaN."""
    return _up(_up(x + n * _ETA) * _sum_factor(n))


def _times(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """An upper bound of M v for M >= 0 and v >= 0 (float arrays)."""
    return _sum_bound(M @ v, M.shape[-1])


def _no_nan(s: np.ndarray) -> np.ndarray:
    """A NaN bound (an infinite radius times 0) proves nothing: +inf."""
    return np.where(np.isnan(s), np.inf, s)


def magnitude_times(t: FastTensor, v: np.ndarray, transpose: bool = False) -> np.ndarray:
    """An upper bound of |T| v (|T|ᵀ v with `transpose`) for every T in the interval
    matrix t and v >= 0: one product of the magnitudes max(|lower|, |upper|) with v
    (`_sum_bound`); +inf where it is not finite."""
    mag = _B.upper(_B.magnitude(t))
    with np.errstate(invalid="ignore", over="ignore"):
        return _no_nan(_sum_bound(v @ mag if transpose else mag @ v, len(v)))


class DenseProduct:
    """An enclosure of the real matrix X = A B (A, B fast tensors, m × n and n × p):
    |X − fl(mA mB)| <= R entrywise, R as in the module docstring, kept as an operator."""

    def __init__(self, A: FastTensor | tuple[np.ndarray, np.ndarray], B: FastTensor | tuple[np.ndarray, np.ndarray],
                 centre: np.ndarray | None = None) -> None:
        """A and B as fast tensors or as (midpoint, radius) pairs (`FastTensor.mid_rad`);
        `centre`, the point c of `concretize` (its product is taken before the matrix is
        turned into its magnitude in place: one d × d array, not two)."""
        mA, rA = A if isinstance(A, tuple) else A.mid_rad()
        mB, rB = B if isinstance(B, tuple) else B.mid_rad()
        self.n = mA.shape[1]
        with np.errstate(invalid="ignore", over="ignore"):
            mid = mA @ mB
            self.diag = mid.diagonal().copy()  # g, kept apart for X − s·I
            np.fill_diagonal(mid, 0.0)
            self.centre = centre
            self.off_centre = None if centre is None else mid @ centre  # fl(off c)
        self.abs_off = np.abs(mid, out=mid)  # |fl(mA mB)| with a zero diagonal
        self.abs_A, self.rad_A = np.abs(mA), (rA if np.any(rA) else None)
        self.abs_B, self.rad_B = np.abs(mB), (rB if np.any(rB) else None)

    def _diagonal(self, shift: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(D, e): the shifted diagonal fl(g − shift) and e >= |D − (g − shift)| (None: 0)."""
        if not shift:
            return self.diag, None
        D = self.diag - shift
        return D, _up(_U * np.abs(D))

    @staticmethod
    def _plus_diagonal(y: np.ndarray, diag: np.ndarray, v: np.ndarray, upward: bool) -> np.ndarray:
        """y plus diag ∘ v on the leading min(m, p) entries (each operation stepped upward
        when `upward`, for bounds of non-negative terms)."""
        k = len(diag)
        out = y.copy()
        if upward:
            out[:k] = _up(out[:k] + _up(diag * v[:k]))
        else:
            out[:k] = out[:k] + diag * v[:k]
        return out

    def radius_times(self, v: np.ndarray) -> np.ndarray:
        """An upper bound of R v, v >= 0 (the module docstring's order of products)."""
        n, p = self.n, len(v)
        with np.errstate(invalid="ignore", over="ignore"):
            Bv = _times(self.abs_B, v)  # >= |mB| v
            rBv = _times(self.rad_B, v) if self.rad_B is not None else np.zeros(n)
            total = _times(self.abs_A, _up(_up(_gamma(n) * Bv) + rBv))
            if self.rad_A is not None:
                total = _up(total + _times(self.rad_A, _up(Bv + rBv)))
            underflow = _up(n * _ETA * _sum_bound(np.sum(v), p))  # n·eta in every entry of R
            return _up(total + underflow)

    def abs_times(self, v: np.ndarray, shift: int = 0) -> np.ndarray:
        """An upper bound of |X − shift·I| v for every X in the enclosure, v >= 0."""
        D, e = self._diagonal(shift)
        with np.errstate(invalid="ignore", over="ignore"):
            diag = np.abs(D) if e is None else _up(np.abs(D) + e)
            own = self._plus_diagonal(_times(self.abs_off, v), diag, v, upward=True)
            return _no_nan(_up(own + self.radius_times(v)))

    def concretize(self, rho: np.ndarray, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(y, s) with (X − shift·I) x in [y − s, y + s] for every X in the enclosure and
        every x in [c − ρ, c + ρ] (c the `centre` given), entrywise: y = fl((X_mid −
        shift·I) c) and s >= |X_mid − shift·I| (γ_p |c| + ρ) + (R + e)(|c| + ρ) + p·eta,
        which covers the rounding of y (γ_p |X_mid − shift·I||c| + p·eta in any order of
        summation, Higham §3.1) and max over x of |X_i (x − c)| = |X_i| ρ."""
        c, off_c = self.centre, self.off_centre
        if c is None or off_c is None:
            raise ValueError("concretize needs the centre given to DenseProduct")
        D, e = self._diagonal(shift)
        p = len(c)
        with np.errstate(invalid="ignore", over="ignore"):
            y = self._plus_diagonal(off_c, D, c, upward=False)
            abs_c = np.abs(c)
            near = _up(_up(_gamma(p) * abs_c) + rho)  # >= γ_p |c| + ρ
            far = _up(abs_c + rho)  # >= |c| + ρ
            own = self._plus_diagonal(_times(self.abs_off, near), np.abs(D), near, upward=True)
            if e is not None:
                own = self._plus_diagonal(own, e, far, upward=True)
            spread = _up(_up(own + self.radius_times(far)) + p * _ETA)
        return y, _no_nan(spread)
