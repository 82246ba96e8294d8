"""The activations by name: an explicit registry, no import side effects.

Adding an activation means adding its module (an `Activation` subclass) and one line
here.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from .base import Activation
from .identity import Identity
from .relu import Relu
from .sigmoid import Sigmoid
from .tanh import Tanh

__all__ = ["REGISTRY", "ACTIVATIONS", "TRANSCENDENTAL", "get_activation", "validate_activation"]

#: name -> the activation (its default configuration, for activations with parameters)
REGISTRY: dict[str, Activation] = {
    "relu": Relu(),
    "sigmoid": Sigmoid(),
    "tanh": Tanh(),
    "identity": Identity(),
}

#: the valid names, in the order error messages list them
ACTIVATIONS: tuple[str, ...] = tuple(REGISTRY)

#: activations whose value or derivative involves exp: no finite rational arithmetic
#: computes them exactly
TRANSCENDENTAL: frozenset[str] = frozenset(name for name, act in REGISTRY.items() if act.transcendental)


def _unknown(name: Any) -> SpecError:
    valid = ", ".join(ACTIVATIONS)
    return SpecError(f"unknown activation {name!r}; valid activations are: {valid}")


def get_activation(name: str | Activation) -> Activation:
    """The activation called `name` (an `Activation` is returned as it is); `SpecError`
    listing the valid names for anything else."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name not in REGISTRY:
        raise _unknown(name)
    return REGISTRY[name]


def validate_activation(name: Any) -> str:
    """Return `name` if it is a known activation, else raise `SpecError` listing them."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise _unknown(name)
    return name
