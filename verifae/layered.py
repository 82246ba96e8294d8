"""Layered autoencoders (issue 13): an encoder and a decoder, each a list of dense layers.

    z_k = W_k a_{k−1} + b_k      pre-activation of layer k (a_0 = x)
    a_k = act_k(z_k)             post-activation of layer k
    latent = the encoder's last a_k,  x_hat = the decoder's last a_k
    E = (1/d) Σ_i (x_hat_i − x_i)²

W_k has PyTorch's `nn.Linear` layout (out × in). Backward (VJP) for g = dL/dx_hat,
layer by layer from the last, with incoming gy (g for the last layer):

    dz = gy ⊙ act'(z)    dW = dz ⊗ a_{k−1}    db = dz    gx = Wᵀ dz

and dX is the first layer's gx (through the network only). Like `verifae.model`, the
functions below are written once against the `Backend` interface and map over leading
batch axes of x.

A layer's activation is a registry entry, evaluated through the backend like every
other ("identity" too: v1 evaluates an identity encoder that way), or None: no
activation at all, a bare `nn.Linear`, where a_k = z_k and dz = gy with no operation.
v1's decoder is such a layer, so a v1 spec as a layered one (`LayeredSpec.from_v1`)
runs the very operations of `verifae.model`, in the same order, and gives the same
enclosures bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .activations import Activation, get_activation
from .backends.base import Backend
from .derived import Derived, frozen
from .errors import SpecError, VerifaeError
from .numbers import exact_array, float_or_inf, is_double

if TYPE_CHECKING:  # model.py builds on this module: its spec is only a type here
    from .model import AutoencoderSpec

__all__ = [
    "Layer",
    "LayeredSpec",
    "LayerParameters",
    "LayeredParameters",
    "LayerForward",
    "LayeredForward",
    "layered_parameters",
    "layered_forward",
    "layered_backward",
    "gradient_names",
    "Refine",
    "unrefined",
    "mse_grad_output",
    "reconstruction_error",
]


@dataclass(frozen=True, eq=False)
class Layer(Derived):
    """One dense layer y = act(W x + b): exact `weight` (out × in) and `bias` (out,) as
    object arrays of Fractions, the activation's registry entry (or None for no
    activation) and the layer's name."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation | None
    name: str
    _derived: dict[Any, Any] = field(init=False, repr=False, compare=False)

    def __init__(self, weight: Any, bias: Any, activation: Any = "identity", name: str = "") -> None:
        arrays = {}
        for part, values in (("weight", weight), ("bias", bias)):
            try:
                arrays[part] = exact_array(values)
            except VerifaeError as exc:
                raise SpecError(f"{name or 'layer'}.{part}: {exc}") from None
        W, b = arrays["weight"], arrays["bias"]
        label = name or "layer"
        if W.ndim != 2 or 0 in W.shape:
            raise SpecError(f"{label}: weight must be a matrix (out × in) with at least one row and column, "
                            f"got shape {W.shape}")
        if b.shape != (W.shape[0],):
            raise SpecError(f"{label}: bias has shape {b.shape} but weight has shape {W.shape}, "
                            f"so bias must have shape {(W.shape[0],)}")
        object.__setattr__(self, "weight", frozen(W))
        object.__setattr__(self, "bias", frozen(b))
        object.__setattr__(self, "activation", None if activation is None else get_activation(activation))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_derived", {})

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def float64(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(float(q), q is exactly that double) for "weight" or "bias", computed once (as
        `AutoencoderSpec.float64`)."""
        def compute():
            values = getattr(self, name)
            flat = values.ravel()
            f = np.array([float_or_inf(q) for q in flat], dtype=np.float64).reshape(values.shape)
            exact = np.fromiter((is_double(q) for q in flat), dtype=bool, count=flat.size)
            return f, exact.reshape(f.shape)

        return self.derived(("float64", name), compute)


    def __repr__(self) -> str:
        return f"Layer({self.name!r}, {self.in_features} -> {self.out_features}, {self.activation!r})"

    @property
    def activation_name(self) -> str:
        """The activation's registry name, or "none"."""
        return "none" if self.activation is None else self.activation.name


def _layer(item: Any, default_name: str) -> Layer:
    if isinstance(item, Layer):
        if item.name:
            return item
        return Layer(item.weight, item.bias, item.activation, default_name)
    if isinstance(item, Mapping):
        unknown = [k for k in item if k not in ("weight", "bias", "activation", "name")]
        if unknown:
            raise SpecError(f"{default_name}: unknown key {unknown[0]!r}; expected weight, bias, activation, name")
        return Layer(item["weight"], item["bias"], item.get("activation"), item.get("name") or default_name)
    if isinstance(item, (tuple, list)) and len(item) in (2, 3, 4):
        W, b, act, name = (*item, None, "")[:4] if len(item) == 2 else (*item, "")[:4]
        return Layer(W, b, act, name or default_name)
    raise SpecError(f"{default_name}: expected a Layer, a mapping or a tuple (weight, bias, activation[, name]), "
                    f"got {type(item).__name__}")


@dataclass(frozen=True, eq=False)
class LayeredSpec(Derived):
    """An autoencoder of dense layers: `encoder` then `decoder`, tuples of `Layer`.

    Each layer is a `Layer`, a mapping {"weight", "bias", "activation", "name"} or a tuple
    (weight, bias[, activation[, name]]), the activation None (no activation) when not
    given; unnamed layers are called "encoder.<i>" and
    "decoder.<i>". Shapes must chain: every layer takes as many values as the one before
    it gives, and the decoder ends with input_dim values.
    """

    encoder: tuple[Layer, ...]
    decoder: tuple[Layer, ...]
    _derived: dict[Any, Any] = field(init=False, repr=False, compare=False)

    def __init__(self, encoder: Sequence[Any], decoder: Sequence[Any]) -> None:
        parts = {}
        for part, items in (("encoder", encoder), ("decoder", decoder)):
            if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
                raise SpecError(f"{part} must be a non-empty list of layers")
            parts[part] = tuple(_layer(item, f"{part}.{i}") for i, item in enumerate(items))
        layers = parts["encoder"] + parts["decoder"]
        names = [layer.name for layer in layers]
        for name in names:
            if names.count(name) > 1:
                raise SpecError(f"two layers are called {name!r}; layer names must be unique")
        previous = layers[0]
        for layer in layers[1:]:
            if layer.in_features != previous.out_features:
                raise SpecError(
                    f"{layer.name}: weight has shape {layer.weight.shape} but the previous layer "
                    f"{previous.name} (weight shape {previous.weight.shape}) gives {previous.out_features} values, "
                    f"so the weight must have {previous.out_features} columns"
                )
            previous = layer
        d = layers[0].in_features
        if layers[-1].out_features != d:
            raise SpecError(
                f"{layers[-1].name}: weight has shape {layers[-1].weight.shape} but the first layer "
                f"{layers[0].name} (weight shape {layers[0].weight.shape}) takes {d} values: "
                f"the decoder must end with input_dim = {d} values"
            )
        object.__setattr__(self, "encoder", parts["encoder"])
        object.__setattr__(self, "decoder", parts["decoder"])
        object.__setattr__(self, "_derived", {})

    @classmethod
    def from_v1(cls, spec: AutoencoderSpec) -> LayeredSpec:
        """The v1 spec as layers: encoder [(W_enc, b_enc, act)], decoder [(W_dec, b_dec)]
        with no activation (identity without an operation, as v1 decodes)."""
        return cls([Layer(spec.W_enc, spec.b_enc, spec.activation, "encoder.0")],
                   [Layer(spec.W_dec, spec.b_dec, None, "decoder.0")])

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.encoder + self.decoder

    @property
    def input_dim(self) -> int:
        return self.encoder[0].in_features

    @property
    def latent_dim(self) -> int:
        return self.encoder[-1].out_features

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(input_dim, out of each layer ...): the widths along the network."""
        return (self.input_dim, *(layer.out_features for layer in self.layers))

    @property
    def n_weights(self) -> int:
        return sum(layer.weight.size + layer.bias.size for layer in self.layers)


    def __repr__(self) -> str:
        sizes = " -> ".join(map(str, self.layer_sizes))
        acts = ", ".join(layer.activation_name for layer in self.layers)
        return f"LayeredSpec({sizes}; {acts})"


def gradient_names(spec: LayeredSpec) -> tuple[str, ...]:
    """The gradient keys in order: "<name>.weight", "<name>.bias" per layer, then "input"."""
    return (*(f"{layer.name}.{part}" for layer in spec.layers for part in ("weight", "bias")), "input")


class LayerParameters(NamedTuple):
    name: str
    weight: Any
    bias: Any
    activation: Activation | None


class LayeredParameters(NamedTuple):
    """The spec's layers as tensors of one backend."""

    layers: tuple[LayerParameters, ...]
    n_encoder: int
    input_dim: int


class LayerForward(NamedTuple):
    name: str
    pre_activation: Any
    post_activation: Any


class LayeredForward(NamedTuple):
    layers: tuple[LayerForward, ...]
    latent: Any
    output: Any


def layered_parameters(backend: Backend, spec: LayeredSpec) -> LayeredParameters:
    """Convert every layer's exact parameters into `backend` tensors."""
    out = []
    for layer in spec.layers:
        if layer.activation is not None:
            backend.check_supports(layer.activation)
        W, b = backend.convert_layer(layer)
        out.append(LayerParameters(layer.name, W, b, layer.activation))
    return LayeredParameters(tuple(out), len(spec.encoder), spec.input_dim)


def layered_forward(backend: Backend, p: LayeredParameters, x: Any) -> LayeredForward:
    a = x
    found = []
    for layer in p.layers:
        z = backend.affine(layer.weight, a, layer.bias)
        a = z if layer.activation is None else backend.activation(layer.activation, z)
        found.append(LayerForward(layer.name, z, a))
    return LayeredForward(tuple(found), found[p.n_encoder - 1].post_activation, a)


#: refine(name, tensor) -> tensor: a hook through which a tightening method replaces an
#: intermediate enclosure by a tighter one that still contains every value: "residual"
#: (x_hat − x, in `mse_grad_output`) and "<name>.input_gradient" (gx = Wᵀ dz of layer
#: <name>, the gradient reaching its input); the identity for plain evaluation
Refine = Callable[[str, Any], Any]


def unrefined(name: str, t: Any) -> Any:
    return t


def layered_backward(backend: Backend, p: LayeredParameters, x: Any, fwd: LayeredForward, g: Any,
                     refine: Refine = unrefined, weights: bool = True) -> dict[str, Any]:
    """The VJP for incoming gradient g = dL/dx_hat: {"<name>.weight", "<name>.bias", ...,
    "input"}, layer gradients in layer order. With weights=False the outer products
    dz ⊗ a_{k−1} are not formed and "<name>.weight" is absent: its factors are the bias
    gradient dz and the layer's input (`verifae.batch` sums them over a batch)."""
    grads: dict[str, Any] = {}
    gy = g
    inputs = [x, *(f.post_activation for f in fwd.layers[:-1])]
    for layer, f, a_in in reversed(list(zip(p.layers, fwd.layers, inputs))):
        if layer.activation is None:  # no activation: dz = gy, no operation
            dz = gy
        else:  # act' is evaluated at z, never at act(z)
            dz = backend.activation_vjp(layer.activation, gy, f.pre_activation)
        if weights:
            grads[f"{layer.name}.weight"] = backend.outer(dz, a_in)
        grads[f"{layer.name}.bias"] = dz
        gy = refine(f"{layer.name}.input_gradient", backend.rmatvec(layer.weight, dz))
    ordered = {}
    for layer in p.layers:
        for part in ("weight", "bias"):
            if f"{layer.name}.{part}" in grads:
                ordered[f"{layer.name}.{part}"] = grads[f"{layer.name}.{part}"]
    ordered["input"] = gy
    return ordered


def residual(backend: Backend, x_hat: Any, x: Any) -> Any:
    """x_hat − x, which E and g_mse share: pass it to both as `r` to subtract once."""
    return backend.sub(x_hat, x)


def mse_grad_output(backend: Backend, x_hat: Any, x: Any, d: int, refine: Refine = unrefined,
                    r: Any = None) -> Any:
    """g_mse = (2/d)(x_hat − x), the gradient of E with respect to x_hat (`r`: that
    residual, already computed)."""
    return backend.scale(refine("residual", residual(backend, x_hat, x) if r is None else r), 2, d)


def reconstruction_error(backend: Backend, x_hat: Any, x: Any, r: Any = None) -> Any:
    """E = (1/d) Σ (x_hat − x)², with the square's range (not a product of two copies)
    (`r`: that residual, already computed)."""
    return backend.mean(backend.square(residual(backend, x_hat, x) if r is None else r))
