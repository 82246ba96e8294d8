"""Naive interval propagation: the spec evaluated once in interval arithmetic.

Sound because every backend operation encloses its exact result over all points
of its inputs (the inclusion property of interval arithmetic: Moore, Kearfott and
Cloud, *Introduction to Interval Analysis*, SIAM 2009, Thm 5.1, the fundamental
theorem of interval analysis). Loose because each occurrence of x is treated as
independent of the others; tighter methods come with the tightening issue.
"""

from __future__ import annotations

from typing import Any

from ..backends.base import Backend
from ..layered import residual
from ..model import Parameters, Refine, backward, forward, mse_grad_output, reconstruction_error, unrefined
from .base import MSE, Quantities

__all__ = ["interval_propagation"]


def interval_propagation(
    backend: Backend, p: Parameters, x: Any, grad_output: Any, gradients: bool = True, refine: Refine = unrefined,
    weights: bool = True,
) -> Quantities:
    """Every quantity of the spec, for x (and g) ranging over backend tensors.

    With gradients=False the backward pass is skipped and `Quantities.gradients` is None;
    with weights=False it leaves out the weight gradients' outer products (`backward`).
    `refine` lets a tightening method substitute tighter enclosures of intermediate
    quantities (see `verifae.model.Refine`).
    """
    fwd = forward(backend, p, x)
    r = residual(backend, fwd.output, x)
    error = reconstruction_error(backend, fwd.output, x, r)
    if not gradients:
        return Quantities(fwd, error, None)
    g = mse_grad_output(backend, fwd.output, x, p.input_dim, refine, r) if grad_output is MSE else grad_output
    return Quantities(fwd, error, backward(backend, p, x, fwd, g, refine, weights))
