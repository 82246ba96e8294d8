"""The seed's autoencoder spec (design §1): the layered model's one-hidden-layer case.

    z     = W_enc x + b_enc                     pre-activation (h)
    hid   = act(z)                              hidden
    x_hat = W_dec hid + b_dec                   output
    E     = (1/d) Σ_i (x_hat_i − x_i)²          reconstruction error

Backward (VJP) for g = dL/dx_hat:

    dW_dec = g ⊗ hid    db_dec = g    dH = W_decᵀ g
    dZ = dH ⊙ act'(z)   dW_enc = dZ ⊗ x    db_enc = dZ    dX = W_encᵀ dZ

The functions below take a `Backend` and `Parameters` already converted to that
backend's tensors; they never ask which backend they run on. They are views: the
model is written once, in `verifae.layered`, and `forward` / `backward` run its
functions on the layers encoder [(W_enc, b_enc, act)] and decoder [(W_dec, b_dec)]
(no activation), the same operations in the same order. Every function maps over
leading batch axes of x, so `forward_batch` is `forward` on a (B, d) tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .activations import Activation, get_activation
from .backends.base import Backend
from .derived import Derived, frozen
from .errors import SpecError, VerifaeError
from .layered import (
    LayeredForward,
    LayeredParameters,
    LayerForward,
    LayerParameters,
    layered_backward,
    layered_forward,
    mse_grad_output,
    reconstruction_error,
    unrefined,
)
from .numbers import exact_array, float_or_inf, is_double

__all__ = [
    "AutoencoderSpec",
    "Parameters",
    "Forward",
    "Gradients",
    "GRADIENT_NAMES",
    "parameters",
    "forward",
    "forward_batch",
    "backward",
    "Refine",
    "unrefined",
    "mse_grad_output",
    "reconstruction_error",
    "compression_ratio",
]

#: the backward tuple's order and the keys of every gradient dict
GRADIENT_NAMES: tuple[str, ...] = ("W_enc", "b_enc", "W_dec", "b_dec", "input")


@dataclass(frozen=True, eq=False)
class AutoencoderSpec(Derived):
    """Exact weights of x_hat = W_dec·act(W_enc·x + b_enc) + b_dec.

    Every parameter is stored as an object array of `Fraction`s holding the exact
    value given: "0.1" is 1/10, a float is its exact binary value.

    `activation` is a registry name, an `Activation` entry or a configuration such as
    {"name": "leaky_relu", "negative_slope": "0.2"}. It is stored as the name when the
    activation is at its default configuration (so v1 code, results and comparisons
    with a name are unchanged), else as the configured entry; both are accepted by
    every backend and by `get_activation`. `activation_entry` is always the entry,
    `activation_name` always the name.
    """

    W_enc: np.ndarray
    b_enc: np.ndarray
    W_dec: np.ndarray
    b_dec: np.ndarray
    activation: str | Activation
    _derived: dict[Any, Any] = field(init=False, repr=False, compare=False)

    def __init__(self, W_enc: Any, b_enc: Any, W_dec: Any, b_dec: Any,
                 activation: str | Activation | Mapping[str, Any] = "relu") -> None:
        entry = get_activation(activation)  # SpecError listing the valid names for anything else
        stored: str | Activation = entry.name if entry == get_activation(entry.name) else entry
        arrays = {}
        for name, values in (("W_enc", W_enc), ("b_enc", b_enc), ("W_dec", W_dec), ("b_dec", b_dec)):
            try:
                arrays[name] = exact_array(values)
            except VerifaeError as exc:
                raise SpecError(f"{name}: {exc}") from None
        _check_shapes(arrays)
        for name, array in arrays.items():
            object.__setattr__(self, name, frozen(array))
        object.__setattr__(self, "activation", stored)
        object.__setattr__(self, "_derived", {})

    @property
    def activation_entry(self) -> Activation:
        """The activation's registry entry, configured by its parameters."""
        return get_activation(self.activation)

    @property
    def activation_name(self) -> str:
        """The activation's registry name (without its parameters)."""
        return self.activation_entry.name

    @property
    def activation_config(self) -> str | dict[str, Any]:
        """The activation as a case file and the result JSON write it: the name at the
        default configuration, else {"name": ..., parameter: exact value as a string}."""
        return self.activation if isinstance(self.activation, str) else self.activation.config()

    @property
    def input_dim(self) -> int:
        return int(self.b_dec.shape[0])

    @property
    def hidden_dim(self) -> int:
        return int(self.b_enc.shape[0])

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self)

    def float64(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(float(q), q is exactly that double) for parameter `name`, computed once: the
        starting point of every float conversion (nearest_floats, the fast backend)."""
        def compute():
            flat = getattr(self, name).ravel()
            f = np.array([float_or_inf(q) for q in flat], dtype=np.float64).reshape(getattr(self, name).shape)
            exact = np.fromiter((is_double(q) for q in flat), dtype=bool, count=flat.size)
            return f, exact.reshape(f.shape)

        return self.derived(("float64", name), compute)


    def __repr__(self) -> str:
        return (
            f"AutoencoderSpec(input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, "
            f"activation={self.activation!r})"
        )


def _check_shapes(a: dict[str, np.ndarray]) -> None:
    """Check every shape against W_enc (h × d), naming the offender and both shapes."""
    W_enc = a["W_enc"]
    if W_enc.ndim != 2:
        if W_enc.shape == (0,):  # [] : no rows at all
            raise SpecError("hidden_dim must be at least 1, but W_enc has no rows")
        raise SpecError(f"W_enc must be a matrix of shape (hidden_dim, input_dim), got shape {W_enc.shape}")
    h, d = W_enc.shape
    # A model without hidden units is no autoencoder: x_hat = b_dec does not depend on x.
    if h == 0:
        raise SpecError(f"hidden_dim must be at least 1, but W_enc has shape {W_enc.shape}")
    if d == 0:
        raise SpecError(f"input_dim must be at least 1, but W_enc has shape {W_enc.shape}")
    expected = {"b_enc": (h,), "W_dec": (d, h), "b_dec": (d,)}
    for name, shape in expected.items():
        got = a[name].shape
        if got != shape:
            raise SpecError(
                f"{name} has shape {got} but W_enc has shape {W_enc.shape} "
                f"(hidden_dim {h}, input_dim {d}), so {name} must have shape {shape}"
            )


def compression_ratio(spec: AutoencoderSpec) -> float:
    """d / h as a float; infinity when h = 0 (for display only)."""
    if spec.hidden_dim == 0:
        return math.inf
    return spec.input_dim / spec.hidden_dim


class Parameters(NamedTuple):
    """The spec's parameters as tensors of one backend."""

    W_enc: Any
    b_enc: Any
    W_dec: Any
    b_dec: Any
    activation: str | Activation
    input_dim: int


class Forward(NamedTuple):
    pre_activation: Any
    hidden: Any
    output: Any


class Gradients(NamedTuple):
    """The backward tuple (dW_enc, db_enc, dW_dec, db_dec, dX)."""

    W_enc: Any
    b_enc: Any
    W_dec: Any
    b_dec: Any
    input: Any


def parameters(backend: Backend, spec: AutoencoderSpec) -> Parameters:
    """Convert the spec's exact parameters into `backend` tensors."""
    backend.check_supports(spec.activation)
    return Parameters(*backend.convert_parameters(spec), spec.activation, spec.input_dim)


def _layers(p: Parameters) -> LayeredParameters:
    """The v1 parameters as the layered model's: encoder [(W_enc, b_enc, act)], decoder
    [(W_dec, b_dec)] with no activation (`LayeredSpec.from_v1`)."""
    return LayeredParameters((LayerParameters("encoder.0", p.W_enc, p.b_enc, get_activation(p.activation)),
                              LayerParameters("decoder.0", p.W_dec, p.b_dec, None)), 1, p.input_dim)


def forward(backend: Backend, p: Parameters, x: Any) -> Forward:
    """z = W_enc x + b_enc, hid = act(z), x_hat = W_dec hid + b_dec: the layered model's
    forward pass (`verifae.layered`, written once) on the v1 layers."""
    encoder, decoder = layered_forward(backend, _layers(p), x).layers
    return Forward(encoder.pre_activation, encoder.post_activation, decoder.post_activation)


def forward_batch(backend: Backend, p: Parameters, X: Any) -> Forward:
    """`forward` over a leading batch axis: X has shape (B, d)."""
    return forward(backend, p, X)


#: refine(name, tensor) -> tensor: as `verifae.layered.Refine`, with v1's names
#: "residual" (x_hat − x), "dH" (W_decᵀ g) and "dX" (W_encᵀ dZ)
Refine = Callable[[str, Any], Any]

_V1_NAMES = {"decoder.0.input_gradient": "dH", "encoder.0.input_gradient": "dX"}


def backward(backend: Backend, p: Parameters, x: Any, fwd: Forward, g: Any, refine: Refine = unrefined,
             weights: bool = True) -> Gradients:
    """The manual VJP of design §1 for incoming gradient g = dL/dx_hat: the layered
    model's (`layered_backward`) on the v1 layers, in v1's tuple order. act' is evaluated
    at z, never at hid (design §1). With weights=False the outer products are not formed
    (the weight gradients are None; their factors are the bias gradients and the inputs)."""
    layers = _layers(p)
    found = LayeredForward((LayerForward("encoder.0", fwd.pre_activation, fwd.hidden),
                            LayerForward("decoder.0", fwd.output, fwd.output)), fwd.hidden, fwd.output)
    grads = layered_backward(backend, layers, x, found, g, lambda name, t: refine(_V1_NAMES[name], t), weights)
    return Gradients(grads.get("encoder.0.weight"), grads["encoder.0.bias"], grads.get("decoder.0.weight"),
                     grads["decoder.0.bias"], grads["input"])
