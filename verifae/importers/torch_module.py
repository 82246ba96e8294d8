"""Live PyTorch modules in (design §7): `from_torch(module)` reads an `nn.Sequential`.

Accepted shapes, and why only these: verifae's model is a chain of dense layers
y = act(W x + b) (design §6). An `nn.Sequential` runs its children one after the other
and nothing else, so a Sequential of `nn.Linear` and activation modules *is* such a
chain. A custom `nn.Module` computes whatever its `forward` says, which verifae cannot
read; it is refused, with the way to wrap its parts in a Sequential.

- `nn.Sequential` of `nn.Linear` (with or without bias) and activation modules, each
  activation right after a Linear; nested plain Sequentials are their concatenation;
- its top-level children named `encoder` and `decoder` (two Sequentials) give the split;
  otherwise `split=N` says the encoder is the first N Linear layers;
- `nn.Flatten()` before the first layer and `nn.Unflatten(1 or -1, shape)` after the
  last reshape the input and output only; `nn.Identity()` is a no-op anywhere.

The activation modules are the registry's: an entry's `torch_module()` gives the class
(`nn.ReLU`, `nn.LeakyReLU`, ...), and its configuration keys are the module's attribute
names (`negative_slope`, `alpha`, `beta`, `threshold`), read exactly. The entry's own
module rebuilt from that configuration must agree with the user's on every other
attribute (`GELU(approximate="tanh")` is not verifae's gelu, so it is refused);
`inplace=True` is accepted: an activation overwriting the Linear's output changes no
value, as nothing else in a Sequential reads it.

Modules are matched by their exact type, never `isinstance`: a subclass may override
`forward`. Modules with forward hooks are refused for the same reason.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from ..activations import REGISTRY, Activation, get_activation
from ..errors import SpecError, VerifaeError
from ..layered import Layer, LayeredSpec
from ..numbers import FORMATS, nearest_floats, to_exact
from ._exact import exact_parameter, require

__all__ = ["from_torch", "to_torch", "torch_activation", "split_layers"]


def _torch() -> Any:
    return require("torch", "torch")


def _activation_types() -> dict[type, Activation]:
    """torch class -> registry entry, derived from each entry's own `torch_module()`.
    nn.Identity (the identity entry's module) is not among them: it is a no-op anywhere."""
    torch = _torch()
    types: dict[type, Activation] = {}
    for entry in REGISTRY.values():
        cls = type(entry.torch_module(np.float64))
        if cls is not torch.nn.Identity:
            types[cls] = entry
    return types


def _describe(module: Any) -> str:
    where = type(module).__module__
    where = "torch.nn" if where.startswith("torch.nn.modules") else where
    return f"{where}.{type(module).__qualname__}"


def _public_attributes(module: Any) -> dict[str, Any]:
    """The attributes a module's constructor set (negative_slope, inplace, approximate...)."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}


def _exact_attribute(value: Any, where: str) -> Fraction:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        raise SpecError(f"{where} is {value!r}, not a finite number")
    try:
        return to_exact(value)
    except VerifaeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def torch_activation(module: Any, path: str = "") -> Activation:
    """The registry entry (configured exactly) that a PyTorch activation module computes;
    SpecError naming `path` and the type for any module that is not one of them, or that
    differs from the entry's own module in any attribute but `inplace`."""
    label = f"module {path!r}" if path else "the module"
    entry = _activation_types().get(type(module))
    if entry is None:
        raise SpecError(f"{label} ({_describe(module)}) is not an activation verifae supports")
    keys = [k for k in entry.config() if k != "name"]
    attrs = _public_attributes(module)
    params = {}
    for key in keys:
        if key not in attrs:  # an entry whose parameter names are not PyTorch's: a verifae bug
            raise SpecError(f"{label} ({_describe(module)}) has no attribute {key!r}, the parameter of "
                            f"verifae's {entry.name}")
        params[key] = _exact_attribute(attrs[key], f"{label} ({_describe(module)}): {key}")
    try:
        act = get_activation({"name": entry.name, **params}) if params else entry
    except VerifaeError as exc:
        raise SpecError(f"{label} ({_describe(module)}): {exc}") from None
    rebuilt = _public_attributes(act.torch_module(np.float64))
    for key, value in attrs.items():
        if key in params or key == "inplace":
            continue
        if key not in rebuilt or rebuilt[key] != value:
            expected = f"{key}={rebuilt[key]!r}" if key in rebuilt else f"no attribute {key!r}"
            raise SpecError(f"{label} ({_describe(module)}) has {key}={value!r}, which computes something else "
                            f"than verifae's {entry.name} ({expected})")
    return act


def _check_hooks(module: Any, label: str) -> None:
    for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
        if getattr(module, kind, None):
            raise SpecError(f"{label} ({_describe(module)}) has {kind.strip('_').replace('_', ' ')}, which can "
                            "change what it computes; remove them first")


def _children(seq: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(path, module) of the modules a Sequential runs, nested plain Sequentials flattened."""
    torch = _torch()
    for name, child in seq.named_children():
        path = f"{prefix}.{name}" if prefix else name
        _check_hooks(child, f"module {path!r}")
        if type(child) is torch.nn.Sequential:
            yield from _children(child, path)
        else:
            yield path, child


def _layers(items: list[tuple[str, Any]]) -> list[Layer]:
    """The dense layers of a chain of Linear and activation modules, named by the Linear's
    path (so gradients are keyed as PyTorch's `named_parameters`)."""
    torch = _torch()
    types = _activation_types()
    layers: list[list[Any]] = []  # [weight, bias, activation or None, name, activation path]
    for path, module in items:
        cls = type(module)
        if cls is torch.nn.Identity:
            continue
        if cls is torch.nn.Linear:
            W = module.weight.detach().cpu()
            where = f"{path}.weight"
            weight = exact_parameter(W.double().numpy() if W.is_floating_point() else W.numpy(), where)
            if module.bias is None:
                bias = np.array([Fraction(0)] * weight.shape[0], dtype=object)
            else:
                b = module.bias.detach().cpu()
                bias = exact_parameter(b.double().numpy() if b.is_floating_point() else b.numpy(), f"{path}.bias")
            layers.append([weight, bias, None, path, None])
            continue
        if cls in types:
            if not layers:
                raise SpecError(f"module {path!r} ({_describe(module)}) comes before any nn.Linear; verifae's "
                                "layers are act(W x + b), an activation after a Linear")
            if layers[-1][2] is not None:
                raise SpecError(f"module {path!r} ({_describe(module)}) follows the activation "
                                f"{layers[-1][4]!r} of the same Linear {layers[-1][3]!r}; a layer has one activation")
            layers[-1][2] = torch_activation(module, path)
            layers[-1][4] = path
            continue
        hint = ""
        if cls in (torch.nn.Flatten, torch.nn.Unflatten):
            hint = " (Flatten is accepted only before the first layer, Unflatten only after the last)"
        elif cls.__name__.startswith("Dropout"):
            hint = " (Dropout changes nothing in eval mode: build the Sequential without it)"
        raise SpecError(f"module {path!r} ({_describe(module)}) is not supported: verifae reads nn.Linear, "
                        f"nn.Identity and the activations {', '.join(sorted(c.__name__ for c in types))}{hint}")
    if not layers:
        raise SpecError("the module has no nn.Linear layer")
    out = []
    for weight, bias, act, name, _ in layers:
        try:
            out.append(Layer(weight, bias, act, name))
        except VerifaeError as exc:
            raise SpecError(str(exc)) from None
    return out


def split_layers(layers: list[Layer], split: int | None, where: str = "split") -> LayeredSpec:
    """The LayeredSpec whose encoder is the first `split` layers (1 <= split < len(layers))."""
    n = len(layers)
    usage = f"{where} N" if where.startswith("--") else f"{where}=N"
    if split is None:
        raise SpecError(f"the model has {n} dense layers and nothing names its encoder and decoder: say where the "
                        f"encoder ends with {usage}, the number of layers in the encoder (1 to {n - 1})")
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or not 1 <= split < n:
        raise SpecError(f"{where} must be a whole number from 1 to {n - 1} (the model has {n} dense layers: the "
                        f"encoder takes at least one, the decoder at least one), got {split!r}")
    try:
        return LayeredSpec(layers[:split], layers[split:])
    except VerifaeError as exc:
        raise SpecError(str(exc)) from None


def from_torch(module: Any, *, split: int | None = None) -> LayeredSpec:
    """The layered spec (design §6) of a PyTorch `nn.Sequential`, its parameters exactly.

    Accepted: an `nn.Sequential` of `nn.Linear` and activation modules (ReLU, LeakyReLU,
    ELU, Sigmoid, Tanh and any further activation in `verifae.activations`), its
    children named `encoder` and `decoder` (two Sequentials) or `split` = the number of
    Linear layers in the encoder; `nn.Flatten()` first and `nn.Unflatten` last; no-op
    `nn.Identity`. Layers are named by their Linear's path ("encoder.0"). Anything else
    is refused with a SpecError naming the module's path and type.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise SpecError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if type(module) is not torch.nn.Sequential:
        names = {name for name, _ in module.named_children()}
        hint = ""
        if {"encoder", "decoder"} <= names:
            hint = (": its forward is code verifae does not read. If it runs encoder then decoder, pass "
                    "nn.Sequential(OrderedDict(encoder=model.encoder, decoder=model.decoder))")
        raise SpecError(f"the model ({_describe(module)}) is not an nn.Sequential{hint}")
    _check_hooks(module, "the model")
    if torch.nn.modules.module._global_forward_hooks or torch.nn.modules.module._global_forward_pre_hooks:
        raise SpecError("global forward hooks are registered (torch.nn.modules.module.register_module_forward_hook),"
                        " which can change what every module computes; remove them first")
    children = list(module.named_children())
    # Flatten before the first layer and Unflatten after the last only reshape x and x_hat.
    while children and type(children[0][1]) is torch.nn.Flatten:
        path, flatten = children.pop(0)
        if (flatten.start_dim, flatten.end_dim) != (1, -1):
            raise SpecError(f"module {path!r} (torch.nn.Flatten) has start_dim={flatten.start_dim}, "
                            f"end_dim={flatten.end_dim}; only nn.Flatten() (start_dim=1, end_dim=-1: each sample "
                            "to one vector) is accepted")
    unflatten = None
    while children and type(children[-1][1]) is torch.nn.Unflatten:
        path, unflatten = children.pop()
        if unflatten.dim not in (1, -1):
            raise SpecError(f"module {path!r} (torch.nn.Unflatten) has dim={unflatten.dim}; only dim 1 or -1 (the "
                            "output vector of each sample) is accepted")
    child_names = [name for name, _ in children]
    if child_names == ["encoder", "decoder"] and all(type(c) is torch.nn.Sequential for _, c in children):
        for name, child in children:
            _check_hooks(child, f"module {name!r}")
        parts = {name: _layers(list(_children(child, name))) for name, child in children}
        n_enc = len(parts["encoder"])
        if split is not None and split != n_enc:
            raise SpecError(f"split={split!r}, but the module's encoder has {n_enc} Linear layers")
        spec = split_layers(parts["encoder"] + parts["decoder"], n_enc)
    else:
        spec = split_layers(_layers(list(_children(torch.nn.Sequential(OrderedDict(children)), ""))), split)
    if unflatten is not None:
        size = int(np.prod(unflatten.unflattened_size))
        if size != spec.input_dim:
            raise SpecError(f"the last module (torch.nn.Unflatten) makes {tuple(unflatten.unflattened_size)} of "
                            f"{size} values, but the decoder gives {spec.input_dim}")
    return spec


def to_torch(spec: LayeredSpec, dtype: str = "float32") -> Any:
    """An `nn.Sequential(encoder=..., decoder=...)` computing `spec` in `dtype`: each
    parameter rounded to nearest in that format (exactly itself when it came from such a
    model), each activation the entry's own module (its parameters rounded to `dtype` as
    a run holds them). `from_torch(to_torch(spec))` has the spec's weights, activations
    and split when they are exact in `dtype`; its layers are named by their paths in
    this Sequential ("encoder.0", "decoder.2")."""
    torch = _torch()
    fmt = FORMATS[dtype]
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    parts = OrderedDict()
    for part, layers in (("encoder", spec.encoder), ("decoder", spec.decoder)):
        modules: list[Any] = []
        for layer in layers:
            linear = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch_dtype)
            with torch.no_grad():
                for tensor, values in ((linear.weight, layer.weight), (linear.bias, layer.bias)):
                    rounded, overflow = nearest_floats(values, fmt)
                    if overflow.any():
                        raise SpecError(f"{layer.name}: a parameter overflows {dtype}")
                    tensor.copy_(torch.from_numpy(rounded.astype(fmt.dtype)))
            modules.append(linear)
            if layer.activation is not None:
                modules.append(layer.activation.torch_module(fmt.dtype))
        parts[part] = torch.nn.Sequential(*modules)
    return torch.nn.Sequential(parts)
