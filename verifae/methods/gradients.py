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

from ..backends.base import Backend
from ..backends.fast import FastBackend
from ..box import Box
from ..layered import LayeredForward, LayeredSpec, LayerForward, layered_backward, layered_parameters
from ..model import GRADIENT_NAMES, AutoencoderSpec, parameters
from ..numbers import FORMATS
from ..rounding import FloatSemantics, FloatTensor
from .base import MSE, as_bounds
from .interval import interval_propagation

__all__ = ["REFINED", "tightened_gradients", "layered_refined_pass"]

#: the intermediate quantities a tightening method may bound (see `verifae.model.Refine`)
REFINED: tuple[str, ...] = ("residual", "dH", "dX")

#: the tightened enclosures are fast tensors (in a float semantics, the values of FloatTensors)
_FAST = FastBackend()


def _intersect(t: Any, bounds: np.ndarray) -> Any:
    fast = _FAST
    if isinstance(t, FloatTensor):  # entries that may overflow stay unbounded
        (lo, hi), (value_lo, value_hi) = fast.ends(t.value), fast.ends(_intersect(t.value, bounds))
        keep = t.unbounded
        return FloatTensor(fast.from_ends(np.where(keep, lo, value_lo), np.where(keep, hi, value_hi)), t.unbounded)
    bounds = as_bounds(bounds)
    lo, hi = fast.ends(t)
    return fast.from_ends(np.maximum(lo, bounds[..., 0]), np.minimum(hi, bounds[..., 1]))


def tightened_gradients(
    spec: AutoencoderSpec, box: Box, semantics: str, bounds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Bounds (..., 2) of the MSE gradients over the box, with `bounds` (keys in REFINED,
    each valid in `semantics`) substituted where the backward pass computes them."""
    fast = FastBackend()
    B = fast if semantics == "real" else FloatSemantics(fast, FORMATS[semantics])

    def refine(name: str, t: Any) -> Any:
        return _intersect(t, bounds[name]) if name in bounds else t

    x = B.box(box)
    q = interval_propagation(B, parameters(B, spec), x, MSE, refine=refine)
    assert q.gradients is not None  # gradients=True, the default
    return {name: B.bounds(t) for name, t in zip(GRADIENT_NAMES, q.gradients)}


def layered_refined_pass(
    spec: LayeredSpec, box: Box, semantics: str, bounds: Mapping[str, np.ndarray], grad_output: Box | str = MSE,
    gradients: bool = True,
) -> dict[str, np.ndarray]:
    """The interval pass of a layered model run again (fast backend, in `semantics`) with
    tighter enclosures substituted where it computes them, and the bounds (..., 2) of
    every quantity it gives, keyed as `LayeredEnclosure.items()`.

    `bounds` (each valid in `semantics`, keyed as a tightening method returns them:
    "layers.<name>.pre_activation", "layers.<name>.post_activation", "latent", "output",
    "residual", "reconstruction_error", and for the MSE loss "gradients.<key>" and
    "gradients.<name>.input_gradient", substituted through `layered_backward`'s refine
    hook) are intersected with the pass's own enclosures
    as it goes, layer by layer, so every later layer, act'(z) and the outer products
    with the post-activations start from the tighter ones. For the MSE loss the backward
    pass starts from g = (2/d) r with r the intersected residual, g formed by the
    semantics' own `scale` (in a float one fl(fl(2·r)/d) or fl(fl(2/d)·r), γ_2 and eta:
    `FloatSemantics.scale`), so every gradient shrinks with the residual. A `Box`
    grad_output is used as it is (the forward refinements still tighten the backward
    pass; gradients=False skips the backward pass). Sound by the inclusion property, as
    `tightened_gradients`; entries of a float pass that may overflow stay unbounded
    (`_intersect`)."""
    fast = FastBackend()
    B: Backend = fast if semantics == "real" else FloatSemantics(fast, FORMATS[semantics])
    p = layered_parameters(B, spec)
    x = B.box(box)

    def refine(key: str, t: Any) -> Any:
        return _intersect(t, bounds[key]) if key in bounds else t

    a = x
    found = []
    last = len(p.layers) - 1
    for k, layer in enumerate(p.layers):
        pre, post = f"layers.{layer.name}.pre_activation", f"layers.{layer.name}.post_activation"
        z = refine(pre, B.affine(layer.weight, a, layer.bias))
        if layer.activation is None:  # a = z: one quantity, both bounds apply
            z = refine(post, z)
        a = z if layer.activation is None else refine(post, B.activation(layer.activation, z))
        if k == p.n_encoder - 1:
            a = refine("latent", a)
        if k == last:
            a = refine("output", a)
        found.append(LayerForward(layer.name, a if layer.activation is None else z, a))
    fwd = LayeredForward(tuple(found), found[p.n_encoder - 1].post_activation, a)
    r = refine("residual", B.sub(fwd.output, x))
    error = refine("reconstruction_error", B.mean(B.square(r)))  # E = mean(r²), as `reconstruction_error`
    out: dict[str, np.ndarray] = {}
    for f in fwd.layers:
        out[f"layers.{f.name}.pre_activation"] = B.bounds(f.pre_activation)
        out[f"layers.{f.name}.post_activation"] = B.bounds(f.post_activation)
    out["latent"] = B.bounds(fwd.latent)
    out["output"] = B.bounds(fwd.output)
    out["reconstruction_error"] = B.bounds(error)
    if gradients:
        g = B.scale(r, 2, spec.input_dim) if grad_output is MSE else B.box(grad_output)
        def refine_gradient(key: str, t: Any) -> Any:  # gx = Wᵀ dz of each layer, for the MSE loss
            return refine(f"gradients.{key}", t) if grad_output is MSE else t

        for key, t in layered_backward(B, p, x, fwd, g, refine_gradient).items():
            # a method's gradient bounds hold for the MSE loss only
            out[f"gradients.{key}"] = B.bounds(refine(f"gradients.{key}", t) if grad_output is MSE else t)
    return out
