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

import numpy as np

from ..box import Box
from ..model import AutoencoderSpec
from .linear import linear_bounds

__all__ = ["bisect_bounds", "DEFAULT_BUDGET"]

#: parts at most: the method is meant for low dimensions, where a few hundred parts pay off
DEFAULT_BUDGET = 128


def bisect_bounds(
    spec: AutoencoderSpec, box: Box, semantics: str = "real", budget: int = DEFAULT_BUDGET
) -> dict[str, np.ndarray] | None:
    """Rigorous bounds of every quantity `linear_bounds` bounds, by best-first bisection.

    Also in a float semantics: a float run rounds its input to nearest, and the
    rounded inputs of the parts (split at exact rational midpoints) together are those
    of the whole box. None where a float run may overflow (in any part)."""
    W_enc = np.abs(spec.float64("W_enc")[0])
    W_dec = np.abs(spec.float64("W_dec")[0])
    with np.errstate(over="ignore", invalid="ignore"):  # only a heuristic: inf and NaN are capped below
        influence = (W_dec @ W_enc).sum(axis=0) if spec.hidden_dim else np.ones(spec.input_dim)
    influence = np.nan_to_num(influence, nan=1.0, posinf=1e300) + 1.0  # the −x of the residual moves E too
    heap: list[tuple] = []
    order = itertools.count()  # ties never compare boxes

    def push(part: Box) -> bool:
        found = linear_bounds(spec, part, semantics)
        if found is None:
            return False
        width = float((found["output"][:, 1] - found["output"][:, 0]).sum())
        heapq.heappush(heap, (-width, next(order), part, found))
        return True

    if not push(box):
        return None
    while len(heap) < budget:
        _, _, part, _ = heap[0]
        sides = np.array([float(hi - lo) for lo, hi in zip(part.lower, part.upper)]) * influence
        k = int(np.argmax(sides))
        if sides[k] <= 0:
            break  # a point: nothing left to split
        heapq.heappop(heap)
        middle = (part.lower[k] + part.upper[k]) / 2  # exact rational midpoint
        left_upper, right_lower = part.upper.copy(), part.lower.copy()
        left_upper[k], right_lower[k] = middle, middle
        if not (push(Box(part.lower, left_upper)) and push(Box(right_lower, part.upper))):
            return None
    out = {}
    for name in heap[0][3]:  # every part has the same keys
        stacked = np.stack([found[name] for _, _, _, found in heap])
        out[name] = np.stack([stacked[..., 0].min(axis=0), stacked[..., 1].max(axis=0)], axis=-1)
    return out
