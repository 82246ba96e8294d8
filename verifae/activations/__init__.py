"""Activations as objects: one module per activation, an explicit registry.

`get_activation(name)` returns the `Activation` entry that holds everything about one
activation (see `verifae.activations.base`); every other module reaches activation
behaviour only through it.
"""

from __future__ import annotations

from typing import Any

from .base import Activation, FastKit, FloatKit, IntervalKit
from .registry import ACTIVATIONS, REGISTRY, TRANSCENDENTAL, get_activation, validate_activation

__all__ = [
    "ACTIVATIONS",
    "REGISTRY",
    "TRANSCENDENTAL",
    "Activation",
    "FastKit",
    "FloatKit",
    "IntervalKit",
    "get_activation",
    "validate_activation",
    "interval_activation",
    "interval_activation_derivative",
]


def interval_activation(kit: IntervalKit, name: str | Activation, x: Any) -> Any:
    """The range of activation `name` over interval x, rounded outward."""
    return get_activation(name).interval(kit, x)


def interval_activation_derivative(kit: IntervalKit, name: str | Activation, x: Any) -> Any:
    """The range of act' over interval x (act' of the spec: relu'(0) = 0), rounded outward."""
    return get_activation(name).interval_derivative(kit, x)
