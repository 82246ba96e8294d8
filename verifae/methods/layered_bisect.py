"""Bisection for layered models: split the input box, bound each part, take the hull.

The parts cover the box, so the hull of sound enclosures of the parts is a sound
enclosure of the whole, key by key. Each part is bounded by `part_bounds` (the
intersection of the other tightening methods, `verifae.methods.layered_part_bounds`):
on a smaller box the mean-value form's remainder |J|ρ shrinks with ρ and with the
width of act'(Z), and a relaxation's gaps shrink with the square of the pre-activation
widths. Refinement is best-first, as `bisect.py`: the part whose outputs are widest is
split next, at the exact rational midpoint of its widest side weighted by how strongly
that input moves the outputs (the column sums of |W_K| ··· |W_1|, plus one for the −x
of the residual). It stops after `budget` parts.

In a float semantics a run rounds its input to nearest, and the rounded inputs of the
parts (split at exact rational midpoints) together are those of the whole box, so the
hull holds for every float run too.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import numpy as np

from ..box import Box
from ..layered import LayeredSpec
from .bisect import DEFAULT_BUDGET

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
    part gives), by best-first bisection; None where a part's bounds are None (a float
    run may overflow there)."""
    weight = influence(spec)
    heap: list[tuple] = []
    order = itertools.count()  # ties never compare boxes

    def push(part: Box) -> bool:
        found = part_bounds(spec, part, semantics)
        if found is None or "output" not in found:
            return False
        width = float((found["output"][..., 1] - found["output"][..., 0]).sum())
        heapq.heappush(heap, (-np.nan_to_num(width, nan=np.inf), next(order), part, found))
        return True

    if not push(box):
        return None
    while len(heap) < budget:
        _, _, part, _ = heap[0]
        sides = np.array([float(hi - lo) for lo, hi in zip(part.lower, part.upper)]) * weight
        k = int(np.argmax(sides))
        if sides[k] <= 0:
            break  # a point: nothing left to split
        heapq.heappop(heap)
        middle = (part.lower[k] + part.upper[k]) / 2  # exact rational midpoint
        left_upper, right_lower = part.upper.copy(), part.lower.copy()
        left_upper[k], right_lower[k] = middle, middle
        if not (push(Box(part.lower, left_upper)) and push(Box(right_lower, part.upper))):
            return None
    keys = set.intersection(*(set(found) for _, _, _, found in heap))
    out = {}
    for name in sorted(keys):
        stacked = np.stack([found[name] for _, _, _, found in heap])
        out[name] = np.stack([stacked[..., 0].min(axis=0), stacked[..., 1].max(axis=0)], axis=-1)
    return out
