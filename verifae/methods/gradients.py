"""Gradients from tightened intermediate enclosures: the backward pass run again.

The tightening methods bound the residual r = x_hat − x, dH = W_decᵀ g and dX better
than interval propagation does. Each of those bounds contains every value of its
quantity, so the intersection with the propagated enclosure does too, and so does
everything the backward pass computes from the intersection (the inclusion property
of interval arithmetic, as in `interval_propagation`). `tightened_gradients` reruns
the spec's own forward and backward pass (`verifae.model`, through its `refine`
hook) in the semantics asked for, on the fast backend, substituting the tighter
enclosures at those three points: g = (2/d) r, and every gradient after it, shrink.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..backends.fast import FastBackend, FastTensor
from ..box import Box
from ..model import GRADIENT_NAMES, AutoencoderSpec, parameters
from ..numbers import FORMATS
from ..rounding import FloatSemantics, FloatTensor
from .base import MSE, as_bounds
from .interval import interval_propagation

__all__ = ["REFINED", "tightened_gradients"]

#: the intermediate quantities a tightening method may bound (see `verifae.model.Refine`)
REFINED: tuple[str, ...] = ("residual", "dH", "dX")


def _intersect(t: Any, bounds: np.ndarray) -> Any:
    if isinstance(t, FloatTensor):  # entries that may overflow stay unbounded
        value = _intersect(t.value, bounds)
        keep = t.unbounded
        return FloatTensor(FastTensor(np.where(keep, t.value.lo, value.lo), np.where(keep, t.value.hi, value.hi)),
                           t.unbounded)
    bounds = as_bounds(bounds)
    return FastTensor(np.maximum(t.lo, bounds[..., 0]), np.minimum(t.hi, bounds[..., 1]))


def tightened_gradients(
    spec: AutoencoderSpec, box: Box, semantics: str, bounds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Bounds (..., 2) of the MSE gradients over the box, with `bounds` (keys in REFINED,
    each valid in `semantics`) substituted where the backward pass computes them."""
    fast = FastBackend()
    B = fast if semantics == "real" else FloatSemantics(fast, FORMATS[semantics])

    def refine(name: str, t: Any) -> Any:
        return _intersect(t, bounds[name]) if name in bounds else t

    q = interval_propagation(B, parameters(B, spec), B.box(box), MSE, refine=refine)
    assert q.gradients is not None  # gradients=True, the default
    return {name: B.bounds(t) for name, t in zip(GRADIENT_NAMES, q.gradients)}
