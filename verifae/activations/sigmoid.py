"""sigmoid(z) = 1 / (1 + e^(−z)), sigmoid' = s(1 − s)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb

from ._sigmoidal import Sigmoidal
from .base import FloatKit, IntervalKit

__all__ = ["Sigmoid"]


class Sigmoid(Sigmoidal):
    name = "sigmoid"
    onnx_op = "Sigmoid"
    library_function = "sigmoid"
    peak = 0.25
    prime_scale, prime_factor = 1.0, 1.0

    # points: the spec's formula, as numpy code writes it
    def point(self, z: Any, dtype: Any) -> Any:
        return dtype(1) / (dtype(1) + np.exp(-z))

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        s = self.point(z, dtype)
        return s * (dtype(1) - s)

    def reference(self, z: arb) -> arb:
        return 1 / (1 + (-z).exp())

    def reference_derivative(self, z: arb) -> arb:
        # t / (1 + t)² with t = exp(−|z|): no cancellation where s is near 1
        t = (-abs(z)).exp()
        return t / ((1 + t) * (1 + t))

    def relaxation_prime(self, z: arb) -> arb:
        s = self.reference(z)
        return s * (1 - s)

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        return torch.nn.Sigmoid()

    def library(self, x: Any) -> Any:
        return 1.0 / (1.0 + np.exp(-x))  # as the spec writes it

    def value_range(self, semantics: str) -> tuple[float, float]:
        # in [0, 1] for real numbers; a library within K ulps is not promised to respect it
        return (0.0, 1.0) if semantics == "real" else (-np.inf, np.inf)

    # interval hooks
    def value_at(self, kit: IntervalKit, e: Any) -> Any:
        one = kit.point(1)
        return one / (one + kit.exp(-kit.point(e)))

    def prime_at(self, kit: IntervalKit, e: Any) -> Any:
        # sigmoid'(p) = t / (1 + t)^2 with t = exp(-|p|)
        one = kit.point(1)
        t = kit.exp(kit.point(-abs(e)))
        return t / ((one + t) * (one + t))

    def peak_interval(self, kit: IntervalKit) -> Any:
        return kit.point(1) / 4

    def critical(self, a: float) -> float | None:
        with np.errstate(divide="ignore", invalid="ignore"):
            if 0 < a < 0.25:
                return float(2 * np.arctanh(np.sqrt(1 - 4 * a)))
        return None

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        # fl(s · fl(1 − s)) over the float sigmoid values s: s(1 − s) = 1/4 − (s − 1/2)²
        # is the tight range over an interval (s occurs once), then two roundings.
        # PyTorch's backward computes fl(fl(g · fl(1 − s)) · s): the same three
        # roundings of g·s·(1 − s) once `mul` adds its own, so both are enclosed.
        inner = kit.inner
        shape = np.shape(z.value)
        s = kit.activation(self, z)
        centred = inner.square(inner.sub(s.value, kit.full(shape, Fraction(1, 2))))
        real = inner.sub(kit.full(shape, Fraction(1, 4)), centred)
        return kit.relative(real, kit.gamma(2), kit.eta), s.unbounded
