"""Weight-only files in (design §7): PyTorch state_dicts and safetensors.

Such a file holds tensors by name and nothing about the computation, so the user gives
the activations (`--activations relu,relu,sigmoid`, one per dense layer) and, unless the
names say it, the split. The file must hold dense layers only: `<prefix>.weight` (a
matrix, PyTorch's out × in) and optionally `<prefix>.bias`; any other key is refused.
Layers are in the natural order of their prefixes ("2" before "10"), the encoder's
before the decoder's when the prefixes start with "encoder." and "decoder.".

State_dicts are read with `torch.load(path, weights_only=True, map_location="cpu")`
only: PyTorch's restricted unpickler, which builds tensors and containers and runs no
code from the file. A pickle it refuses (a whole pickled model, say) is refused here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS, Activation, get_activation
from ..errors import SpecError, VerifaeError
from ..layered import Layer, LayeredSpec
from ._exact import exact_parameter, require
from .torch_module import split_layers

__all__ = ["parse_activations", "from_tensors", "from_state_dict", "from_safetensors"]


def parse_activations(text: str | Sequence[Any]) -> list[Activation | None]:
    """Activations from "relu,leaky_relu:0.2,none": a registry name per layer, its
    parameters after colons in the order of the entry's configuration (`softplus:2:10`)
    or by name (`softplus:beta=2`), "none" for a bare Linear. A list may also hold
    entries, configurations or None."""
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    out: list[Activation | None] = []
    for i, item in enumerate(items):
        if item is None or (isinstance(item, str) and item.lower() == "none"):
            out.append(None)
            continue
        if not isinstance(item, str):
            try:
                out.append(get_activation(item))
            except VerifaeError as exc:
                raise SpecError(f"activation {i + 1}: {exc}") from None
            continue
        name, *args = item.split(":")
        if not name:
            raise SpecError(f"activation {i + 1} is empty; give one per dense layer, e.g. relu,relu,sigmoid "
                            f"(valid: {', '.join(ACTIVATIONS)}, or none)")
        try:
            entry = get_activation(name)
        except VerifaeError as exc:
            raise SpecError(f"activation {i + 1}: {exc} (or none for no activation)") from None
        keys = [k for k in entry.config() if k != "name"]
        params: dict[str, str] = {}
        for position, arg in enumerate(args):
            key, sep, value = arg.partition("=")
            if not sep:
                if position >= len(keys):
                    takes = f"its parameters are {', '.join(keys)}" if keys else "it takes no parameters"
                    raise SpecError(f"activation {i + 1} ({item!r}): too many parameters; {takes}")
                key, value = keys[position], arg
            params[key.strip()] = value.strip()
        try:
            out.append(get_activation({"name": name, **params}) if params else entry)
        except VerifaeError as exc:
            raise SpecError(f"activation {i + 1} ({item!r}): {exc}") from None
    return out


def _natural(prefix: str) -> tuple[Any, ...]:
    parts = prefix.split(".")
    rank = {"encoder": 0, "decoder": 1}.get(parts[0], 0)
    return (rank, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def from_tensors(tensors: Mapping[str, np.ndarray], activations: str | Sequence[Any], *,
                 split: int | None = None, source: str = "the weights") -> LayeredSpec:
    """The layered spec of named float arrays ("<prefix>.weight", "<prefix>.bias"), with
    the given activations (one per dense layer) and split (from "encoder."/"decoder."
    prefixes when all have one, else `split` = the number of encoder layers)."""
    prefixes: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        prefix, _, part = key.rpartition(".")
        if part not in ("weight", "bias") or not prefix:
            raise SpecError(f"{source}: key {key!r} is not the weight or bias of a dense layer; verifae reads files "
                            "holding nn.Linear parameters only (<prefix>.weight, <prefix>.bias)")
        prefixes.setdefault(prefix, {})[part] = value
    if not prefixes:
        raise SpecError(f"{source}: no tensors")
    order = sorted(prefixes, key=_natural)
    acts = parse_activations(activations)
    if len(acts) != len(order):
        raise SpecError(f"{source}: got {len(acts)} activations for {len(order)} dense layers "
                        f"({', '.join(order)}); give one per layer, 'none' for no activation")
    layers = []
    for prefix, act in zip(order, acts):
        parts = prefixes[prefix]
        if "weight" not in parts:
            raise SpecError(f"{source}: {prefix}.bias has no {prefix}.weight")
        W = np.asarray(parts["weight"])
        if W.ndim != 2:
            raise SpecError(f"{source}: {prefix}.weight has shape {W.shape}; a dense layer's weight is a matrix "
                            "(out × in)")
        weight = exact_parameter(W, f"{source}: {prefix}.weight")
        if "bias" in parts:
            b = np.asarray(parts["bias"])
            if b.shape != (W.shape[0],):
                raise SpecError(f"{source}: {prefix}.bias has shape {b.shape} but {prefix}.weight has shape "
                                f"{W.shape}, so it must have shape ({W.shape[0]},)")
            bias = exact_parameter(b, f"{source}: {prefix}.bias")
        else:
            bias = np.array([Fraction(0)] * W.shape[0], dtype=object)
        layers.append(Layer(weight, bias, act, prefix))
    named = [p.split(".")[0] for p in order]
    try:
        if set(named) == {"encoder", "decoder"}:
            n_enc = named.count("encoder")
            if split is not None and split != n_enc:
                raise SpecError(f"--split {split}, but the keys give the encoder {n_enc} dense layers")
            return split_layers(layers, n_enc)
        return split_layers(layers, split, "--split")
    except VerifaeError as exc:
        raise SpecError(f"{source}: {exc}") from None


def _check_file(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise SpecError(f"{path}: no such file")
    if not p.is_file():
        raise SpecError(f"{path}: not a file")
    return str(path)


def _tensor_array(t: Any, where: str) -> np.ndarray:
    t = t.detach().cpu()
    if not t.is_floating_point():
        raise SpecError(f"{where} has dtype {t.dtype}; dense-layer parameters are floating point")
    return t.double().numpy()  # every float16/bfloat16/float32 value is exactly a double


def from_state_dict(path: str | Path, activations: str | Sequence[Any], *, split: int | None = None) -> LayeredSpec:
    """The layered spec of a PyTorch state_dict file (`torch.save(model.state_dict())`),
    loaded with `torch.load(weights_only=True)` only."""
    file = _check_file(path)
    torch = require("torch", "torch")
    try:
        data = torch.load(file, weights_only=True, map_location="cpu")
    except Exception as exc:
        # PyTorch's message goes on to say how to load the file unsafely: only the reason is kept
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "Unsupported global" in ln or "Unsupported operand" in ln),
                      lines[0] if lines else type(exc).__name__)
        reason = reason.split(" was not an allowed global")[0].removeprefix("WeightsUnpickler error: ")
        raise SpecError(f"{file}: torch.load(weights_only=True) refused the file ({reason[:300]}); verifae reads "
                        "state_dicts (torch.save(model.state_dict(), path)) and never unpickles code") from None
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        keys = list(data)[:5] if isinstance(data, Mapping) else []
        hint = f" (its keys start {keys}: a checkpoint? save model.state_dict() alone)" if keys else ""
        raise SpecError(f"{file}: expected a state_dict, a mapping of names to tensors, got "
                        f"{type(data).__name__}{hint}")
    arrays = {key: _tensor_array(t, f"{file}: {key}") for key, t in data.items()}
    return from_tensors(arrays, activations, split=split, source=file)


def from_safetensors(path: str | Path, activations: str | Sequence[Any], *,
                     split: int | None = None) -> LayeredSpec:
    """The layered spec of a safetensors file, read with the `safetensors` package."""
    file = _check_file(path)
    safetensors = require("safetensors", "safetensors")
    arrays: dict[str, np.ndarray] = {}
    try:
        with safetensors.safe_open(file, framework="numpy") as f:
            for key in f.keys():
                arrays[key] = f.get_tensor(key)
    except Exception as exc:
        if "bf16" in str(exc).lower() or "bfloat16" in str(exc).lower():
            torch = require("torch", "torch")  # numpy has no bfloat16: read those through torch, exactly
            with safetensors.safe_open(file, framework="pt") as f:
                arrays = {key: _tensor_array(f.get_tensor(key), f"{file}: {key}") for key in f.keys()}
            del torch
        else:
            raise SpecError(f"{file}: not a readable safetensors file ({str(exc)[:300]})") from None
    return from_tensors(arrays, activations, split=split, source=file)
