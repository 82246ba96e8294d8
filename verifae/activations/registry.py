"""The activations by name: an explicit registry, no import side effects.

Adding an activation means adding its module (an `Activation` subclass) and one line
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SpecError
from .base import Activation
from .elu import Elu
from .gelu import Gelu
from .identity import Identity
from .leaky_relu import LeakyRelu
from .relu import Relu
from .sigmoid import Sigmoid
from .silu import Silu
from .softplus import Softplus
from .tanh import Tanh

__all__ = ["REGISTRY", "ACTIVATIONS", "TRANSCENDENTAL", "get_activation", "validate_activation"]

#: name -> the activation (its default configuration, for activations with parameters)
REGISTRY: dict[str, Activation] = {
    "relu": Relu(),
    "sigmoid": Sigmoid(),
    "tanh": Tanh(),
    "identity": Identity(),
    "leaky_relu": LeakyRelu(),  # negative_slope 0.01 unless configured
    "elu": Elu(),  # alpha 1 unless configured
    "softplus": Softplus(),  # beta 1, threshold 20 unless configured
    "silu": Silu(),
    "gelu": Gelu(),
}

#: the valid names, in the order error messages list them
ACTIVATIONS: tuple[str, ...] = tuple(REGISTRY)

#: activations whose value or derivative involves exp: no finite rational arithmetic
#: computes them exactly
TRANSCENDENTAL: frozenset[str] = frozenset(name for name, act in REGISTRY.items() if act.transcendental)


def _unknown(name: Any) -> SpecError:
    valid = ", ".join(ACTIVATIONS)
    return SpecError(f"unknown activation {name!r}; valid activations are: {valid}")


def get_activation(name: str | Activation | Mapping[str, Any]) -> Activation:
    """The activation called `name`: a registry name, an `Activation` (returned as it is)
    or a configuration such as {"name": "leaky_relu", "negative_slope": "0.2"}; `SpecError`
    listing the valid names for anything else."""
    if isinstance(name, Activation):
        return name
    if isinstance(name, Mapping):
        params = dict(name)
        entry = get_activation(params.pop("name", None))
        return type(entry).from_config(params) if params else entry
    if not isinstance(name, str) or name not in REGISTRY:
        raise _unknown(name)
    return REGISTRY[name]


def validate_activation(name: Any) -> str:
    """Return `name` if it is a known activation, else raise `SpecError` listing them."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise _unknown(name)
    return name
