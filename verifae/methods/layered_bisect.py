"""Bisection for layered models: split the input box, bound each part, take the hull.

The parts cover the box, so the hull of sound enclosures of the parts is a sound
enclosure of the whole, key by key. Each part is bounded by `part_bounds` (the
intersection of the other tightening methods, `verifae.methods.layered_part_bounds`):
on a smaller box the mean-value form's remainder |J|ρ shrinks with ρ and with the
width of act'(Z), and a relaxation's gaps shrink with the square of the pre-activation
widths. Refinement is best-first, as for v1 (`bisect.best_first`, shared): the part
whose outputs are widest is split next, at the exact rational midpoint of its widest
side weighted by how strongly that input moves the outputs (the column sums of
|W_K| ··· |W_1|, plus one for the −x of the residual). It stops after `budget` parts.

In a float semantics a run rounds its input to nearest, and the rounded inputs of the
parts (split at exact rational midpoints) together are those of the whole box, so the
hull holds for every float run too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..box import Box
from ..layered import LayeredSpec
from .bisect import DEFAULT_BUDGET, best_first

__all__ = ["layered_bisect_bounds", "influence"]

#: part_bounds(spec, part, semantics) -> bounds by key, or None where a float run may overflow
PartBounds = Callable[[LayeredSpec, Box, str], "dict[str, np.ndarray] | None"]


def influence(spec: LayeredSpec) -> np.ndarray:
    """A heuristic weight per input: 1 + the column sums of |W_K| ··· |W_1| (float64,
    inf and NaN capped: only the order of the sides matters)."""
    with np.errstate(over="ignore", invalid="ignore"):
        M = np.eye(spec.input_dim)
        for layer in spec.layers:
            M = np.abs(layer.float64("weight")[0]) @ M
        total = M.sum(axis=0)
    return np.nan_to_num(total, nan=1.0, posinf=1e300) + 1.0


def layered_bisect_bounds(
    spec: LayeredSpec, box: Box, semantics: str = "real", budget: int = DEFAULT_BUDGET, *, part_bounds: PartBounds
) -> dict[str, np.ndarray] | None:
    """The hull over at most `budget` parts of `part_bounds` of each part (the keys every
    part gives), by best-first bisection (`verifae.methods.bisect.best_first`); None
    where a part's bounds are None (a float run may overflow there)."""
    return best_first(box, lambda part: part_bounds(spec, part, semantics), influence(spec), budget)
