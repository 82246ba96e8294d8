"""Plain IEEE-754 point runs in numpy ("Float runs"): what a user's code computes.

Parameters and inputs are rounded to nearest in the format (correctly, from their
exact values), then the spec is executed with numpy's float32 or float64 kernels.
Overflow follows IEEE (inf, and NaN from inf - inf); warnings are silenced because
an overflowing float run is a legitimate run of the spec.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, TypeVar, cast

import numpy as np

from ..activations import Activation, get_activation
from ..errors import BoxError, UnsupportedError
from ..numbers import FloatFormat, nearest_float, nearest_floats
from .base import Backend

__all__ = ["FloatBackend"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _ieee(op: _F) -> _F:
    """Run `op` with numpy's overflow and invalid-operation warnings off: an inf or NaN
    is what the IEEE run computes, not an error of verifae's."""

    @functools.wraps(op)
    def run(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):
            return op(*args, **kwargs)

    return cast(_F, run)


class FloatBackend(Backend):
    """Point arithmetic in one IEEE format (`FLOAT32` or `FLOAT64`)."""

    rigorous = False

    def __init__(self, fmt: FloatFormat, precision: int | None = None) -> None:
        if precision is not None:
            raise UnsupportedError(f"backend {fmt.name!r} has fixed precision {fmt.precision}")
        self.format = fmt
        self.name = fmt.name
        self.precision = fmt.precision
        self.dtype = fmt.dtype

    def _round(self, q: Fraction) -> float:
        try:
            return nearest_float(q, self.format)
        except OverflowError:
            return math.inf if q > 0 else -math.inf

    def convert_arrays(self, owner: Any, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        def convert():
            return tuple(nearest_floats(getattr(owner, n), self.format, owner.float64(n)[0])[0].astype(self.dtype)
                         for n in names)

        return owner.derived(("parameters", self.cache_key), convert)

    def constant(self, values: np.ndarray) -> np.ndarray:
        # Every rounded value is exactly a double, so the final cast is exact.
        rounded, _ = nearest_floats(values, self.format)
        return rounded.astype(self.dtype)

    def interval(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        if any(a != b for a, b in zip(np.ravel(lower), np.ravel(upper))):
            raise BoxError(f"backend {self.name!r} evaluates points; got a box of positive width")
        return self.constant(lower)

    @_ieee
    def matvec(self, A: np.ndarray, x: np.ndarray) -> np.ndarray:
        return x @ A.T

    @_ieee
    def rmatvec(self, A: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y @ A

    @_ieee
    def outer(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u[..., :, None] * v[..., None, :]

    @_ieee
    def outer_sum(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u.T @ v  # one float matmul of the batch, as PyTorch forms dW = Gᵀ A

    @_ieee
    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    @_ieee
    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    @_ieee
    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    @_ieee
    def scale(self, a: np.ndarray, numerator: int, denominator: int = 1) -> np.ndarray:
        return a * self.dtype(self._round(Fraction(numerator, denominator)))

    @_ieee
    def square(self, a: np.ndarray) -> np.ndarray:
        return a * a

    @_ieee
    def mean(self, a: np.ndarray) -> np.ndarray:
        return np.mean(a, axis=-1, dtype=self.dtype)

    def activation(self, act: str | Activation, z: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return get_activation(act).point(z, self.dtype)

    def activation_derivative(self, act: str | Activation, z: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return get_activation(act).point_derivative(z, self.dtype)

    def values(self, t: Any) -> np.ndarray:
        return np.asarray(t)
