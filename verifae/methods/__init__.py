"""Tightening methods by name: an explicit registry."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from ..box import Box
from ..errors import UnsupportedError
from ..layered import LayeredSpec
from ..model import AutoencoderSpec
from .base import MSE, Quantities, as_bounds, layered_may_overflow, may_overflow
from .bisect import DEFAULT_BUDGET, bisect_bounds
from .crown import crown_bounds
from .gradients import REFINED, layered_refined_pass, tightened_gradients
from .interval import interval_propagation
from .layered_bisect import layered_bisect_bounds
from .layered_mean_value import layered_mean_value_bounds
from .linear import linear_bounds
from .mean_value import mean_value_bounds

__all__ = ["METHODS", "METHOD_NAMES", "TIGHTENINGS", "LAYERED_FORMS", "AUTO_BISECT_MAX_DIM", "AUTO_PARTS", "MSE",
           "REFINED", "Quantities", "as_bounds", "interval_propagation", "may_overflow", "layered_may_overflow",
           "part_budget", "tightened_gradients", "layered_refined_pass", "layered_part_bounds",
           "layered_tightening", "layered_methods", "intersect_bounds", "layered_mean_value_bounds",
           "layered_bisect_bounds", "crown_bounds", "alpha_bounds", "EXPENSIVE"]

#: the propagation every method starts from: method(backend, parameters, x, grad_output) -> Quantities
METHODS: dict[str, Callable[..., Quantities]] = {
    "interval": interval_propagation,
}

#: tightening methods: method(spec, box, semantics) -> bounds (..., 2) of the output and
#: the reconstruction error, and optionally of the quantities in REFINED, intersected with
#: the interval ones ("auto" intersects all of them); None where a float run may overflow
def alpha_bounds(spec: AutoencoderSpec, box: Box, semantics: str = "real") -> dict[str, np.ndarray] | None:
    """Optimised relaxation slopes (α-CROWN, `verifae.methods.alpha`) for a v1 spec: the
    layered method on its layers (`LayeredSpec.from_v1`), intersected with v1's "linear"
    (both sound, so is their intersection: "alpha" is never wider than "linear"), with
    v1's keys; None where a float run may overflow."""
    found = crown_bounds(LayeredSpec.from_v1(spec), box, semantics, alpha=True)
    fixed = linear_bounds(spec, box, semantics)
    if found is None or fixed is None:
        return None
    return intersect_bounds([fixed, {key: found[key] for key in ("output", "residual", "reconstruction_error")}])


TIGHTENINGS: dict[str, Callable[..., dict[str, np.ndarray] | None]] = {
    "linear": linear_bounds,
    "mean-value": mean_value_bounds,
    "bisect": bisect_bounds,
    "alpha": alpha_bounds,
}

METHOD_NAMES: tuple[str, ...] = ("interval", "linear", "alpha", "mean-value", "bisect", "auto")

#: methods "auto" leaves out: α-CROWN optimises slopes with PyTorch, about ten times the
#: time of "linear", for a few percent (measured in docs/benchmarks.md)
EXPENSIVE: frozenset[str] = frozenset({"alpha"})

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


# ---------------------------------------------------------------- layered models

#: the tightening methods of layered models that bound one box directly:
#: method(spec: LayeredSpec, box, semantics) -> bounds (..., 2) keyed
#: "layers.<name>.pre_activation", "layers.<name>.post_activation", "latent", "output",
#: "residual", "reconstruction_error" (each only where it bounds it; "gradients.<key>"
#: bounds hold for the MSE loss and are used only for it), or None where a float run
#: may overflow. "bisect" splits the box and bounds each part with all of
#: these; "auto" intersects all of them and bisection.
LAYERED_FORMS: dict[str, Callable[[LayeredSpec, Box, str], dict[str, np.ndarray] | None]] = {
    "linear": crown_bounds,
    "alpha": partial(crown_bounds, alpha=True),
    "mean-value": layered_mean_value_bounds,
}


def intersect_bounds(found: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Key by key, the intersection of the bounds that have the key (each contains every
    value, so their intersection does; a NaN end reads as unbounded, `as_bounds`)."""
    out: dict[str, np.ndarray] = {}
    for bounds in found:
        for key, b in bounds.items():
            b = as_bounds(b)
            out[key] = b if key not in out else np.stack(
                [np.maximum(out[key][..., 0], b[..., 0]), np.minimum(out[key][..., 1], b[..., 1])], axis=-1)
    return out


def layered_part_bounds(spec: LayeredSpec, box: Box, semantics: str) -> dict[str, np.ndarray] | None:
    """The intersection of every method of LAYERED_FORMS on one box (what bisection bounds
    each part with); None where none bounds anything (a float run may overflow)."""
    found = [b for b in (method(spec, box, semantics) for name, method in LAYERED_FORMS.items()
                         if name not in EXPENSIVE) if b is not None]
    return intersect_bounds(found) if found else None


def layered_methods(method: str, input_dim: int, max_parts: int | None = None) -> list[str]:
    """The members of a layered tightening `method`: the name itself, or for "auto" every
    method of LAYERED_FORMS and "bisect" where its `part_budget` is more than one part.
    A method name that is valid but not (yet) available for layered models is refused."""
    if method == "auto":
        return [*(name for name in LAYERED_FORMS if name not in EXPENSIVE),
                *(["bisect"] if part_budget(method, input_dim, max_parts) > 1 else [])]
    if method != "bisect" and method not in LAYERED_FORMS:
        raise UnsupportedError(f"method {method!r} is not available for layered models; use one of: interval, "
                               f"{', '.join(LAYERED_FORMS)}, bisect, auto")
    return [method]


def layered_tightening(
    spec: LayeredSpec, box: Box, method: str, semantics: str, max_parts: int | None = None
) -> list[dict[str, np.ndarray]]:
    """The bounds of each member of `method` (`layered_methods`) on `box`, those that bound
    anything (a member gives None where a float run may overflow)."""
    parts = part_budget(method, input_dim=spec.input_dim, max_parts=max_parts)
    found = []
    for name in layered_methods(method, spec.input_dim, max_parts):
        if name == "bisect":
            bounds = layered_bisect_bounds(spec, box, semantics, parts, part_bounds=layered_part_bounds)
        else:
            bounds = LAYERED_FORMS[name](spec, box, semantics)
        if bounds is not None:
            found.append({key: as_bounds(b) for key, b in bounds.items()})
    return found
