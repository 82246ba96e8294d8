"""identity(z) = z: a linear autoencoder."""

from __future__ import annotations

from typing import Any

import numpy as np
from flint import arb

from .base import Activation, ExactOnFloats, FastKit, IntervalKit

__all__ = ["Identity"]


class Identity(ExactOnFloats, Activation):
    name = "identity"
    onnx_op = "Identity"
    transcendental = False

    def point(self, z: Any, dtype: Any) -> Any:
        return np.copy(z) if isinstance(z, np.ndarray) else z

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        return np.ones_like(z, dtype=dtype)

    def reference(self, z: arb) -> arb:
        return z

    def reference_derivative(self, z: arb) -> arb:
        return arb(1)

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        return torch.nn.Identity()

    def interval(self, kit: IntervalKit, x: Any) -> Any:
        return x

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        return kit.point(1)

    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return lo, hi

    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        one = np.ones_like(lo)
        return one, one.copy()

    def value_range(self, semantics: str) -> tuple[float, float]:
        return -np.inf, np.inf

    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        return 1.0, 0.0, 0.0  # exact
