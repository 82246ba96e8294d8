"""Plain IEEE-754 point runs in numpy ("Float runs"): what a user's code computes.

Parameters and inputs are rounded to nearest in the format (correctly, from their
exact values), then the spec is executed with numpy's float32 or float64 kernels.
Overflow follows IEEE (inf, and NaN from inf - inf); warnings are silenced because
an overflowing float run is a legitimate run of the spec.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ..activations import Activation, get_activation
from ..errors import BoxError, UnsupportedError
from ..numbers import FloatFormat, nearest_float, nearest_floats
from .base import Backend

__all__ = ["FloatBackend"]


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
            return math.copysign(math.inf, q)

    def convert_parameters(self, spec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        def convert():
            return tuple(nearest_floats(getattr(spec, n), self.format, spec.float64(n)[0])[0].astype(self.dtype)
                         for n in ("W_enc", "b_enc", "W_dec", "b_dec"))

        return spec.derived(("parameters", self.cache_key), convert)

    def constant(self, values: np.ndarray) -> np.ndarray:
        # Every rounded value is exactly a double, so the final cast is exact.
        rounded, _ = nearest_floats(values, self.format)
        return rounded.astype(self.dtype)

    def interval(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        if any(a != b for a, b in zip(np.ravel(lower), np.ravel(upper))):
            raise BoxError(f"backend {self.name!r} evaluates points; got a box of positive width")
        return self.constant(lower)

    def matvec(self, A: np.ndarray, x: np.ndarray) -> np.ndarray:
        return x @ A.T

    def rmatvec(self, A: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y @ A

    def outer(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u[..., :, None] * v[..., None, :]

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    def scale(self, a: np.ndarray, numerator: int, denominator: int = 1) -> np.ndarray:
        return a * self.dtype(self._round(Fraction(numerator, denominator)))

    def square(self, a: np.ndarray) -> np.ndarray:
        return a * a

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
