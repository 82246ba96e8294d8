"""Models and boxes from the ecosystem (design §7), read exactly and without running
foreign code: PyTorch modules (`from_torch`), ONNX files (`from_onnx`), state_dicts and
safetensors files with the activations given (`from_state_dict`, `from_safetensors`),
and input boxes from data files and VNN-LIB (`load_boxes`). `load_model_and_boxes` is
the one call behind `verifae case` (and `verifae bound --model`); `check_source` runs
the user's own module or ONNX file (onnxruntime) against the imported spec's enclosures."""

from __future__ import annotations

from .boxes import load_boxes
from .load import case_data, load_model, load_model_and_boxes, load_model_case
from .onnx_model import from_onnx
from .runs import SourceCheck, check_source
from .torch_module import from_torch, to_torch
from .weights import from_safetensors, from_state_dict, from_tensors, parse_activations

__all__ = [
    "SourceCheck",
    "case_data",
    "check_source",
    "from_onnx",
    "from_safetensors",
    "from_state_dict",
    "from_tensors",
    "from_torch",
    "load_boxes",
    "load_model",
    "load_model_and_boxes",
    "load_model_case",
    "parse_activations",
    "to_torch",
]
