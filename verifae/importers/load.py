"""One entry for every model file and box source: what `verifae case` and
`verifae bound --model` call, and the v2 case it writes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..box import Box
from ..cases import LayeredCase
from ..errors import BoxError, SpecError
from ..layered import LayeredSpec
from ._exact import exact_string
from .boxes import load_boxes
from .onnx_model import from_onnx
from .weights import from_safetensors, from_state_dict

__all__ = ["MODEL_SUFFIXES", "load_model", "load_model_and_boxes", "load_model_case", "case_data"]

#: file suffix -> format: ONNX carries its activations, the others only weights
MODEL_SUFFIXES: dict[str, str] = {
    ".onnx": "onnx",
    ".safetensors": "safetensors",
    ".pt": "state_dict",
    ".pth": "state_dict",
    ".bin": "state_dict",
}


def load_model(path: str | Path, *, activations: str | Sequence[Any] | None = None,
               split: int | None = None) -> LayeredSpec:
    """The layered spec of a model file, by its suffix: .onnx (activations from the
    graph), .safetensors or a state_dict (.pt, .pth, .bin; activations given, one per
    dense layer)."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"{path}: no such file")
    kind = MODEL_SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise SpecError(f"{path}: unknown model file type {p.suffix or '(none)'!r}; verifae reads "
                        f"{', '.join(MODEL_SUFFIXES)}")
    if kind == "onnx":
        if activations is not None:
            raise SpecError(f"{path}: an ONNX file holds its activations; --activations is for weight-only files "
                            "(.safetensors, .pt)")
        return from_onnx(p, split=split)
    if activations is None:
        raise SpecError(f"{path}: a {kind} file holds weights only: give the activations, one per dense layer, "
                        "e.g. --activations relu,relu,sigmoid")
    if kind == "safetensors":
        return from_safetensors(p, activations, split=split)
    return from_state_dict(p, activations, split=split)


def load_model_and_boxes(model: str | Path, *, activations: str | Sequence[Any] | None = None,
                         split: int | None = None, center: str | Path | None = None, radius: Any = None,
                         clip: Sequence[Any] | None = None, lower: str | Path | None = None,
                         upper: str | Path | None = None,
                         vnnlib: str | Path | None = None) -> tuple[LayeredSpec, tuple[Box, ...]]:
    """The model file's layered spec and the input boxes (see `load_model` and
    `verifae.importers.boxes.load_boxes`), each box of the model's input_dim; SpecError
    or BoxError (exit 2 on the command line) for every bad input."""
    spec = load_model(model, activations=activations, split=split)
    boxes = load_boxes(center=center, radius=radius, clip=clip, lower=lower, upper=upper, vnnlib=vnnlib,
                       dim=spec.input_dim)
    if not boxes:
        raise BoxError("no input box")
    return spec, boxes


def load_model_case(model: str | Path, *, name: str | None = None, **options: Any) -> LayeredCase:
    """The `LayeredCase` that `verifae case` would write, without the file: the model file's
    spec, the boxes (options as for `load_model_and_boxes`), grad_output "mse", named after
    the model file. What `verifae bound --model MODEL BOX` can bound directly."""
    spec, boxes = load_model_and_boxes(model, **options)
    return LayeredCase(name or Path(model).stem, "", spec, boxes, "mse")


def _activation(layer: Any) -> Any:
    if layer.activation is None:
        return None
    config = layer.activation.config()
    return config["name"] if len(config) == 1 else config


def case_data(spec: LayeredSpec, boxes: Sequence[Box], *, name: str | None = None,
              description: str = "") -> dict[str, Any]:
    """A v2 case (design §6) as JSON data: every number an exact string (a terminating
    decimal, or p/q), so `verifae.cases.load_case(..., layered=True)` reads back exactly
    these rationals."""
    def vector(values: Any) -> list[str]:
        return [exact_string(q) for q in values]

    model = {
        part: [{"name": layer.name, "activation": _activation(layer), "weight": [vector(r) for r in layer.weight],
                "bias": vector(layer.bias)} for layer in layers]
        for part, layers in (("encoder", spec.encoder), ("decoder", spec.decoder))
    }
    inputs = [{"lower": vector(b.lower), "upper": vector(b.upper)} for b in boxes]
    data: dict[str, Any] = {}
    if name:
        data["name"] = name
    if description:
        data["description"] = description
    data["model"] = model
    data["input"] = inputs[0] if len(inputs) == 1 else inputs
    return data
