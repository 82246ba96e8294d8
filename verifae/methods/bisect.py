"""Bisection: split the input box, bound each part, take the union.

The parts cover the box, so the union of sound enclosures of the parts is a sound
enclosure of the whole. Each part is bounded with the linear relaxation (tighter on a
smaller box: relaxation gaps shrink with the square of the pre-activation width).
Refinement is best-first: the part whose outputs
are widest is split next, along its widest side weighted by how strongly that input
moves the outputs (the column sums of |W_dec| |W_enc|). It stops after `budget` parts.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import numpy as np

from ..box import Box
from ..model import AutoencoderSpec
from .linear import linear_bounds

__all__ = ["bisect_bounds", "best_first", "DEFAULT_BUDGET"]

#: parts at most: the method is meant for low dimensions, where a few hundred parts pay off
DEFAULT_BUDGET = 128


def best_first(box: Box, bound_part: Callable[[Box], dict[str, np.ndarray] | None], weight: np.ndarray,
               budget: int) -> dict[str, np.ndarray] | None:
    """The hull, key by key (the keys every part gives), of `bound_part` over at most
    `budget` parts of `box`: best-first, the part whose outputs are widest split next at
    the exact rational midpoint of its side widest after scaling by `weight`. None where
    a part is not bounded (`bound_part` gives None: a float run may overflow there).

    The parts cover the box, and in a float semantics the rounded inputs of the parts
    (split at exact rational midpoints) together are those of the whole box, so the
    hull holds for every float run too."""
    heap: list[tuple] = []
    order = itertools.count()  # ties never compare boxes

    def push(part: Box) -> bool:
        found = bound_part(part)
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


def bisect_bounds(
    spec: AutoencoderSpec, box: Box, semantics: str = "real", budget: int = DEFAULT_BUDGET
) -> dict[str, np.ndarray] | None:
    """Rigorous bounds of every quantity `linear_bounds` bounds, by best-first bisection
    (`best_first`) with each part bounded by `linear_bounds`. None where a float run may
    overflow (in any part)."""
    W_enc = np.abs(spec.float64("W_enc")[0])
    W_dec = np.abs(spec.float64("W_dec")[0])
    with np.errstate(over="ignore", invalid="ignore"):  # only a heuristic: inf and NaN are capped below
        influence = (W_dec @ W_enc).sum(axis=0)
    influence = np.nan_to_num(influence, nan=1.0, posinf=1e300) + 1.0  # the −x of the residual moves E too
    return best_first(box, lambda part: linear_bounds(spec, part, semantics), influence, budget)
