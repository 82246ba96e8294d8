"""Tightening methods by name: an explicit registry."""

from __future__ import annotations

from typing import Callable

from .base import MSE, Quantities
from .interval import interval_propagation

__all__ = ["METHODS", "MSE", "Quantities"]

#: name -> method(backend, parameters, x, grad_output) -> Quantities
METHODS: dict[str, Callable[..., Quantities]] = {
    "interval": interval_propagation,
}
