"""Tightening methods by name: an explicit registry."""

from __future__ import annotations

from typing import Callable

from .base import MSE, Quantities, may_overflow
from .bisect import bisect_bounds
from .gradients import REFINED, tightened_gradients
from .interval import interval_propagation
from .linear import linear_bounds
from .mean_value import mean_value_bounds

__all__ = ["METHODS", "METHOD_NAMES", "TIGHTENINGS", "AUTO_BISECT_MAX_DIM", "MSE", "REFINED",
           "Quantities", "interval_propagation", "may_overflow", "tightened_gradients"]

#: the propagation every method starts from: method(backend, parameters, x, grad_output) -> Quantities
METHODS: dict[str, Callable[..., Quantities]] = {
    "interval": interval_propagation,
}

#: tightening methods: method(spec, box, semantics) -> bounds (..., 2) of the output and
#: the reconstruction error, and optionally of the quantities in REFINED, intersected with
#: the interval ones ("auto" intersects all of them); None where a float run may overflow
TIGHTENINGS: dict[str, Callable[..., dict]] = {
    "linear": linear_bounds,
    "mean-value": mean_value_bounds,
    "bisect": bisect_bounds,
}

METHOD_NAMES: tuple[str, ...] = ("interval", "linear", "mean-value", "bisect", "auto")

#: "auto" adds bisection (a few hundred linear bounds) up to this input dimension
AUTO_BISECT_MAX_DIM = 16
