"""What every tightening method returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..layered import LayeredForward
from ..model import Forward, Gradients
from ..rounding import FloatTensor

__all__ = ["MSE", "Quantities", "may_overflow", "layered_may_overflow", "as_bounds"]

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
    return _unbounded_somewhere(q.reconstruction_error, [*q.forward, *(q.gradients or ())])


def layered_may_overflow(fwd: LayeredForward, error: Any, gradients: Mapping[str, Any] | None) -> np.ndarray:
    """`may_overflow` for a layered model: per box (the leading axes of E), whether some
    entry of the float interval pass is unbounded: any layer's pre- or post-activation,
    E, or any gradient (of every layer's weight and bias and dX). The same argument
    makes False a proof that no intermediate of any float run overflows. Always False
    for the real semantics."""
    tensors = [t for f in fwd.layers for t in (f.pre_activation, f.post_activation)]
    return _unbounded_somewhere(error, [*tensors, *(gradients or {}).values()])


def _unbounded_somewhere(error: Any, tensors: Iterable[Any]) -> np.ndarray:
    if not isinstance(error, FloatTensor):
        return np.zeros((), dtype=bool)
    batch = error.unbounded.shape
    found = error.unbounded.copy()
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
