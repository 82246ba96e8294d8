"""The weight gradients of a batch of boxes (issue 14), without the B per-box outer products.

For a dense layer z = W a + b and incoming dz, box b's weight gradient is dz_b ⊗ a_b (an
out × in matrix per box) and its bias gradient dz_b. `enclose_many` offers the weight
gradients of B boxes in six forms (`WEIGHT_GRADIENTS`):

- "per-box": dz_b ⊗ a_b for every box, B × out × in (today's meaning), computed in chunks;
  `iter_enclose_many` streams them chunk by chunk, never all held at once.
- "sum": Σ_b dz_b ⊗ a_b = dzᵀ A, the gradient of the batch's summed loss Σ_b E_b: one
  interval matrix product (`Backend.outer_sum`). In a float semantics it encloses every
  float run that computes the rows dz_b and a_b as the per-box runs do and then the one
  matrix product dzᵀ A in any summation order, FMA or not: what PyTorch's backward of a
  batch computes (dW = Gᵀ A, one mm), with error at most γ_B Σ_b |dz_b ⊗ a_b| + B·eta
  (`FloatSemantics.outer_sum`).
- "mean": the gradient of the batch's mean loss (1/B) Σ_b E_b. For grad_output "mse" it is
  the summed gradient of the backward pass with g = 2 (x_hat − x)/(B·d), which is how
  PyTorch differentiates `F.mse_loss(x_hat, x)` (reduction "mean" over all B·d entries):
  in a float semantics the run is that one, with g rounded as `Backend.scale` says. For a
  grad_output box G it is the same with g = G/B. For real numbers it is exactly the sum
  divided by B, and is computed so.
- "hull": per entry, the smallest interval holding every box's enclosure of dz_b ⊗ a_b:
  elementwise min / max of the per-box enclosures, reduced chunk by chunk.
- "factor-hull": per entry, an interval holding every box's dz_b ⊗ a_b, formed as the one
  outer product of the factors' hulls over the boxes, [hull_b dz_b] ⊗ [hull_b a_b]
  (`Backend.batch_hull`, `Backend.outer`): each dz_b,i·a_b,j lies in the product of the
  intervals holding dz_b,i and a_b,j, so in their hulls' product. It holds "hull" and may be
  wider where the boxes that make a factor's ends are not the same for both factors (on the
  784-64-784 benchmark, 2% wider summed over W_enc's entries and 10% over W_dec's); it costs
  one outer product, where "hull" forms B. In a float semantics the product is widened by
  the one rounding of each run's dz_b,i·a_b,j (`FloatSemantics.outer`).
- "none": no weight gradients (bias gradients and dX still per box).

Bias gradients and dX are always per box and never need an outer product.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backends.base import Backend
from .errors import UnsupportedError
from .numbers import FORMATS

__all__ = ["WEIGHT_GRADIENTS", "check_weight_gradients", "products_may_overflow", "hull_update"]

WEIGHT_GRADIENTS: tuple[str, ...] = ("per-box", "sum", "mean", "hull", "factor-hull", "none")

#: the modes whose weight gradients have no batch axis
BATCH_WIDE: tuple[str, ...] = ("sum", "mean", "hull", "factor-hull")

#: the modes formed in one pass over the whole batch (one product over every box)
WHOLE_BATCH: tuple[str, ...] = ("sum", "mean", "factor-hull")


def check_weight_gradients(mode: str) -> None:
    if mode not in WEIGHT_GRADIENTS:
        raise UnsupportedError(f"unknown weight_gradients {mode!r}; valid: {', '.join(WEIGHT_GRADIENTS)}")


def products_may_overflow(backend: Backend, dz: Any, a: Any, semantics: str) -> np.ndarray:
    """Per box (the leading axis), whether a float run's weight gradient dz_b ⊗ a_b may
    overflow, for a product that is not formed per box (modes other than "per-box" and
    "hull").
    `may_overflow` would otherwise read it from the product's enclosure: each entry is one
    rounding, fl(dz_i a_j) = dz_i a_j (1 + δ) + η, so |fl| <= max|dz|·max|a|·(1 + u) + eta,
    and max|dz|·max|a| is formed here in float64 (one more rounding); the factor
    1 + 2^-20 covers all three for float32 and float64, eta is below any double that
    matters against realmax. An unbounded or NaN end counts as overflowing."""
    if semantics == "real":
        return np.zeros(backend.bounds(dz).shape[:1], dtype=bool)
    ends = [backend.bounds(t) for t in (dz, a)]
    largest = [np.abs(e).reshape(len(e), -1).max(axis=-1, initial=0.0) for e in ends]
    with np.errstate(over="ignore", invalid="ignore"):
        product = largest[0] * largest[1] * (1.0 + 2.0**-20)
    return ~(product < float(FORMATS[semantics].realmax))


def hull_update(hull: np.ndarray | None, per_box: np.ndarray) -> np.ndarray:
    """The hull so far joined with the enclosures of a chunk of boxes (leading axis):
    min of the lower ends, max of the upper ends. An unbounded box stays unbounded."""
    lo, hi = per_box[..., 0].min(axis=0), per_box[..., 1].max(axis=0)
    if hull is not None:
        lo, hi = np.minimum(hull[..., 0], lo), np.maximum(hull[..., 1], hi)
    return np.stack([lo, hi], axis=-1)
