"""tanh, tanh' = 1 − tanh²."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb

from ._sigmoidal import Sigmoidal
from .base import FloatKit, IntervalKit

__all__ = ["Tanh"]


class Tanh(Sigmoidal):
    name = "tanh"
    onnx_op = "Tanh"
    library_function = "tanh"
    peak = 1.0
    prime_scale, prime_factor = 2.0, 4.0

    def point(self, z: Any, dtype: Any) -> Any:
        return np.tanh(z)

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        t = np.tanh(z)
        return dtype(1) - t * t

    def reference(self, z: arb) -> arb:
        return z.tanh()

    def reference_derivative(self, z: arb) -> arb:
        # sech² z = 1 / cosh² z: no cancellation where tanh z is near ±1
        c = z.cosh()
        return 1 / (c * c)

    def relaxation_prime(self, z: arb) -> arb:
        t = z.tanh()
        return 1 - t * t

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        return torch.nn.Tanh()

    def library(self, x: Any) -> Any:
        return np.tanh(x)

    def value_range(self, semantics: str) -> tuple[float, float]:
        # in [-1, 1] for real numbers; a library within K ulps is not promised to respect it
        return (-1.0, 1.0) if semantics == "real" else (-np.inf, np.inf)

    # interval hooks
    def value_at(self, kit: IntervalKit, e: Any) -> Any:
        tanh = getattr(kit, "tanh", None)
        if tanh is not None:
            return tanh(kit.point(e))
        # tanh(p) = sign(p) (1 - t) / (1 + t), t = exp(-2|p|) in (0, 1]: no overflow.
        one = kit.point(1)
        t = kit.exp(kit.point(-2 * abs(e)))
        value = (one - t) / (one + t)
        return -value if e < 0 else value

    def prime_at(self, kit: IntervalKit, e: Any) -> Any:
        # tanh'(p) = sech²(p) = 4t / (1 + t)^2 with t = exp(-2|p|)
        one = kit.point(1)
        t = kit.exp(kit.point(-2 * abs(e)))
        return 4 * t / ((one + t) * (one + t))

    def peak_interval(self, kit: IntervalKit) -> Any:
        return kit.point(1)

    def critical(self, a: float) -> float | None:
        with np.errstate(divide="ignore", invalid="ignore"):
            if 0 < a < 1:
                return float(np.arctanh(np.sqrt(1 - a)))
        return None

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        # r = fl(1 − q) = (1 − q)(1 + δ2) with q = fl(t·t) = t²(1 + δ1) + η1, so
        # |r − (1 − t²)| <= u|1 − q| + u t² + eta/2 <= u|1 − t²| + u(1 + u)t² + eta.
        inner = kit.inner
        shape = np.shape(z.value)
        t = kit.activation(self, z)
        t2 = inner.square(t.value)
        real = inner.sub(kit.full(shape, Fraction(1)), t2)
        radius = inner.add(kit.radius(real, kit.u), kit.radius(t2, kit.u * (1 + kit.u)))
        return inner.widen(real, radius, kit.eta), t.unbounded
