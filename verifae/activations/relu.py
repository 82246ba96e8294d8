"""relu(z) = max(z, 0), with relu'(0) = 0 (PyTorch's autograd; design §1)."""

from __future__ import annotations

from typing import Any

import flint
import numpy as np
from flint import arb

from .base import RELAXATION_BITS, Activation, ExactOnFloats, FastKit, IntervalKit, proven_offsets

__all__ = ["Relu"]


class Relu(ExactOnFloats, Activation):
    name = "relu"
    onnx_op = "Relu"
    transcendental = False

    # points
    def point(self, z: Any, dtype: Any) -> Any:
        return np.maximum(z, dtype(0))

    def point_derivative(self, z: Any, dtype: Any) -> Any:
        return (z > 0).astype(dtype)  # relu'(0) = 0

    def reference(self, z: arb) -> arb:
        return z.max(arb(0))

    def reference_derivative(self, z: arb) -> arb:
        if z > 0:
            return arb(1)
        if z <= 0:
            return arb(0)
        return arb(0).union(arb(1))

    def torch_module(self, dtype: Any = np.float64) -> Any:
        import torch

        return torch.nn.ReLU()

    # intervals: relu is monotone, so its range over [lo, hi] is [relu(lo), relu(hi)];
    # relu' is a step with relu'(0) = 0: [0, 1] on an interval straddling 0, never a
    # branch on the midpoint.
    def interval(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        if lo >= 0:
            return x
        if hi <= 0:
            return kit.point(0)
        return kit.join(kit.point(0), x)

    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        lo, hi = kit.endpoints(x)
        if lo > 0:
            return kit.point(1)
        if hi <= 0:
            return kit.point(0)
        return kit.join(kit.point(0), kit.point(1))

    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)  # exact

    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # relu'(0) = 0; [0, 1] where the interval straddles 0
        return (lo > 0).astype(np.float64), (hi > 0).astype(np.float64)

    def value_range(self, semantics: str) -> tuple[float, float]:
        return 0.0, np.inf  # max(z, 0) >= 0, exactly in floats too

    # relaxation: g(z) = relu(z) − a z is piecewise linear, with its extremes at lo, hi and 0
    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        if hi <= lo:
            a = 0.0 if hi <= 0 else 1.0
        else:
            a = 0.0 if hi <= 0 else (1.0 if lo >= 0 else hi / (hi - lo))
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(a)
            points = [arb(lo), arb(hi)]
            if lo < 0 < hi:
                points.append(arb(0))
            cL, cU = proven_offsets([self.reference(z) - A * z for z in points])
        return a, cL, cU

    def relaxation_lines(
        self, lo: float, hi: float, parallel: tuple[float, float, float]
    ) -> tuple[float, float, float, float]:
        """Straddling 0, the triangle: its upper side is the secant aU z + cU (from
        `relaxation`), the lower line passes through the origin with slope 1 if
        hi > −lo else 0 (CROWN's choice), its offset proven like `relaxation`'s."""
        if not lo < 0 < hi:
            return super().relaxation_lines(lo, hi, parallel)
        aU, _, cU = parallel
        aL = 1.0 if hi > -lo else 0.0
        with flint.ctx.workprec(RELAXATION_BITS):
            A = arb(aL)
            cL, _ = proven_offsets([self.reference(z) - A * z for z in (arb(lo), arb(0), arb(hi))])
        return aL, cL, aU, cU

    def origin_slopes(self) -> tuple[float, float] | None:
        """[0, 1]: max(z, 0) >= a z for z >= 0 as a <= 1, and for z < 0 as a >= 0."""
        return 0.0, 1.0
