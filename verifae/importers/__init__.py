"""Models and boxes from the ecosystem (design §7): PyTorch modules, ONNX, state_dict and
safetensors files in, as exact `LayeredSpec`s; boxes from data files and VNN-LIB."""

from __future__ import annotations

from .torch_module import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
