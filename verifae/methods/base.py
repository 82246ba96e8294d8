"""What every tightening method returns."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..model import Forward, Gradients

__all__ = ["MSE", "Quantities"]

#: grad_output sentinel: g = (2/d)(x_hat − x) at the same x
MSE = "mse"


class Quantities(NamedTuple):
    """Every quantity of the spec as backend tensors."""

    forward: Forward
    reconstruction_error: Any
    gradients: Gradients
