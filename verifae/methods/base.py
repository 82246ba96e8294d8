"""What every tightening method returns."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..model import Forward, Gradients
from ..rounding import FloatTensor

__all__ = ["MSE", "Quantities", "may_overflow", "as_bounds"]

#: grad_output sentinel: g = (2/d)(x_hat − x) at the same x
MSE = "mse"


class Quantities(NamedTuple):
    """Every quantity of the spec as backend tensors (gradients None when not computed)."""

    forward: Forward
    reconstruction_error: Any
    gradients: Gradients | None


def may_overflow(q: Quantities) -> np.ndarray:
    """Per box (the leading axes of E), whether a float run may overflow or produce NaN
    anywhere: some entry of some quantity of a float interval pass (`FloatSemantics`) is
    unbounded. That pass bounds every intermediate of every valid execution (each partial
    sum of each dot product in any order, the squares and their sum, 2·r before /d, the
    backward pass), and a NaN needs an inf first, so False proves that no intermediate of
    any run overflows: the premise of every float error term of the tightening methods.
    Always False for the real semantics, where nothing overflows."""
    if not isinstance(q.reconstruction_error, FloatTensor):
        return np.zeros((), dtype=bool)
    tensors = [*q.forward, q.reconstruction_error, *(q.gradients or ())]
    batch = q.reconstruction_error.unbounded.shape
    found = np.zeros(batch, dtype=bool)
    for t in tensors:
        found |= t.unbounded.reshape(*batch, -1).any(axis=-1)
    return found


def as_bounds(bounds: np.ndarray) -> np.ndarray:
    """A method's bounds (..., 2) read as an enclosure: a NaN end (inf − inf inside a
    relaxation over a huge interval, say) proves nothing, so it becomes −inf or +inf.
    np.maximum and np.minimum propagate NaN, so an intersection must never see one."""
    out = np.array(bounds, dtype=np.float64, copy=True)
    out[..., 0] = np.where(np.isnan(out[..., 0]), -np.inf, out[..., 0])
    out[..., 1] = np.where(np.isnan(out[..., 1]), np.inf, out[..., 1])
    return out
