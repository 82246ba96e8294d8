"""Tightening methods by name: an explicit registry."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import UnsupportedError
from .base import MSE, Quantities, as_bounds, may_overflow
from .bisect import DEFAULT_BUDGET, bisect_bounds
from .gradients import REFINED, tightened_gradients
from .interval import interval_propagation
from .linear import linear_bounds
from .mean_value import mean_value_bounds

__all__ = ["METHODS", "METHOD_NAMES", "TIGHTENINGS", "AUTO_BISECT_MAX_DIM", "AUTO_PARTS", "MSE", "REFINED",
           "Quantities", "as_bounds", "interval_propagation", "may_overflow", "part_budget", "tightened_gradients"]

#: the propagation every method starts from: method(backend, parameters, x, grad_output) -> Quantities
METHODS: dict[str, Callable[..., Quantities]] = {
    "interval": interval_propagation,
}

#: tightening methods: method(spec, box, semantics) -> bounds (..., 2) of the output and
#: the reconstruction error, and optionally of the quantities in REFINED, intersected with
#: the interval ones ("auto" intersects all of them); None where a float run may overflow
TIGHTENINGS: dict[str, Callable[..., dict[str, np.ndarray] | None]] = {
    "linear": linear_bounds,
    "mean-value": mean_value_bounds,
    "bisect": bisect_bounds,
}

METHOD_NAMES: tuple[str, ...] = ("interval", "linear", "mean-value", "bisect", "auto")

#: "auto" adds bisection up to this input dimension ...
AUTO_BISECT_MAX_DIM = 16
#: ... into this many parts by default: each part is one `linear` bound in each semantics,
#: so the default stays cheap (about 0.15 s a semantics on the small cases); `max_parts` buys more
AUTO_PARTS = 16


def part_budget(method: str, input_dim: int, max_parts: int | None = None) -> int:
    """The number of parts bisection may use: `max_parts` when given, else 128 for
    "bisect" and for "auto" AUTO_PARTS up to AUTO_BISECT_MAX_DIM inputs and 1 (no
    bisection) above."""
    if max_parts is not None:
        if max_parts < 1:
            raise UnsupportedError(f"max_parts must be at least 1, got {max_parts}")
        return max_parts
    if method == "bisect":
        return DEFAULT_BUDGET
    return AUTO_PARTS if input_dim <= AUTO_BISECT_MAX_DIM else 1
