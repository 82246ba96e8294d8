"""Checking the user's own model (issue 15, part 5): float runs of the code the user
deploys, next to the enclosures of the spec imported from it.

verifae's Float-run check runs verifae's own rebuilt model (numpy loops, PyTorch built
from the layers). A user deploys something else: the very `nn.Module` the spec came
from, or the ONNX file in onnxruntime. `check_source` runs that at points of each box
and counts the output entries outside the spec's enclosure in the runtime's format
(float32 for a float32 module or graph), with zero tolerance.

The semantics covers every IEEE run of the spec in that format with library functions
within K ulps (docs/float-semantics.md). A runtime whose kernels are less accurate is
outside that contract, and this check is how it shows: onnxruntime's CPU `Sigmoid`
(MLAS's rational approximation) has an absolute error of about 1e-7 near 0, millions of
ulps of the tiny true value there, and its runs of a sigmoid-output model fall outside
float32 enclosures by that much (measured on the committed digits model: see
docs/import.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..box import Box
from ..errors import SpecError, UnsupportedError
from ..layered import LayeredSpec
from ..numbers import FORMATS, nearest_floats, round_down, round_up
from ._exact import require

__all__ = ["SourceCheck", "source_outputs", "check_source", "sample_points"]


@dataclass(frozen=True)
class SourceCheck:
    """The outcome of `check_source`: entries of the runtime's outputs outside the
    enclosure of `semantics`, and the worst one (by distance) if any."""

    runtime: str
    semantics: str
    points: int
    entries: int
    outside: int
    worst: dict[str, Any] | None

    @property
    def failed(self) -> bool:
        return self.outside > 0


def _torch_dtype_name(module: Any) -> str:
    params = list(module.parameters())
    name = str(params[0].dtype).removeprefix("torch.") if params else "float32"
    if name not in FORMATS:
        raise UnsupportedError(f"the module's parameters are {name}; the Float-run check knows float32 and float64")
    return name


def _session(path: Path) -> tuple[Any, str]:
    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    kind = session.get_inputs()[0].type
    formats = {"tensor(float)": "float32", "tensor(double)": "float64"}
    if kind not in formats:
        raise UnsupportedError(f"{path}: the graph's input is {kind}; the Float-run check knows float and double")
    return session, formats[kind]


def source_format(source: Any) -> str:
    """The float format the user's model runs in: its parameters' dtype (a module) or its
    input type (an ONNX file)."""
    if isinstance(source, (str, Path)):
        return _session(Path(source))[1]
    return _torch_dtype_name(source)


def source_outputs(source: Any, X: np.ndarray) -> tuple[np.ndarray, str, str]:
    """(outputs, runtime, format): the user's model run at the rows of X, which must be
    values of the model's format. `source` is an `nn.Module` (run by PyTorch, as it is)
    or the path of an ONNX file (run by onnxruntime's CPU provider)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() != ".onnx":
            raise SpecError(f"{path}: only ONNX files can be run (by onnxruntime); weight files hold no program")
        session, fmt = _session(path)
        graph_input = session.get_inputs()[0]
        X = X.astype(FORMATS[fmt].dtype)
        if graph_input.shape and graph_input.shape[0] == 1:  # exported for one sample: run them one by one
            out = np.concatenate([session.run(None, {graph_input.name: X[i:i + 1]})[0] for i in range(X.shape[0])])
        else:
            out = session.run(None, {graph_input.name: X})[0]
        return np.asarray(out, dtype=np.float64).reshape(X.shape[0], -1), "onnxruntime", fmt
    torch = require("torch", "torch")
    if not isinstance(source, torch.nn.Module):
        raise SpecError(f"expected an nn.Module or the path of an ONNX file, got {type(source).__name__}")
    fmt = _torch_dtype_name(source)
    with torch.no_grad():
        out = source(torch.from_numpy(np.ascontiguousarray(X.astype(FORMATS[fmt].dtype))))
    return out.double().numpy().reshape(X.shape[0], -1), "torch", fmt


def sample_points(box: Box, count: int, fmt: str, rng: np.random.Generator) -> np.ndarray:
    """Inputs of float runs started in the box: fl(x) for x = the center, the two extreme
    corners and uniform points of the box (as the float semantics rounds an input to the
    format, design §2)."""
    lower, _ = nearest_floats(box.lower, FORMATS[fmt])
    upper, _ = nearest_floats(box.upper, FORMATS[fmt])
    center, _ = nearest_floats(box.center, FORMATS[fmt])
    rows = [center, lower, upper]
    lo = np.array([round_up(Fraction(q)) for q in box.lower])  # doubles inside the box
    hi = np.array([round_down(Fraction(q)) for q in box.upper])
    inside = lo <= hi
    for _ in range(max(count - 3, 0)):
        with np.errstate(invalid="ignore"):  # lo > hi where no double lies in the box: the center there
            x = np.clip(lo + (hi - lo) * rng.random(box.dim), lo, hi)
        rows.append(np.where(inside, x, center))
    return np.array(rows[:max(count, 1)], dtype=np.float64).astype(FORMATS[fmt].dtype)


def check_source(spec: LayeredSpec, boxes: Sequence[Box], source: Any, *, points: int = 64, seed: int = 0,
                 backend: str = "auto") -> SourceCheck:
    """Run the user's own model (`source`: the `nn.Module` or ONNX file that `spec` was
    imported from) at `points` points per box and count its output entries outside the
    spec's enclosure in the model's format (zero tolerance)."""
    from ..api import enclose_layered

    fmt = source_format(source)
    rng = np.random.default_rng(seed)
    total = outside = entries = 0
    worst: dict[str, Any] | None = None
    runtime = ""
    for k, box in enumerate(boxes):
        X = sample_points(box, points, fmt, rng)
        Y, runtime, _ = source_outputs(source, X)
        if Y.shape[1] != spec.input_dim:
            raise SpecError(f"the model gives {Y.shape[1]} outputs per sample, the spec {spec.input_dim}")
        e = enclose_layered(spec, box, semantics=fmt, backend=backend)
        lo, hi = e.output[:, 0], e.output[:, 1]
        distance = np.maximum(lo - Y, Y - hi)
        bad = ~((lo <= Y) & (Y <= hi))  # NaN outputs count as outside
        distance = np.where(np.isnan(Y), np.inf, distance)
        total += X.shape[0]
        entries += Y.size
        outside += int(bad.sum())
        if bad.any():
            i, j = np.unravel_index(int(np.argmax(np.where(bad, distance, -np.inf))), Y.shape)
            if worst is None or distance[i, j] > worst["distance"]:
                worst = {"box": k, "point": X[i].astype(np.float64).tolist(), "output": int(j),
                         "value": float(Y[i, j]), "enclosure": (float(lo[j]), float(hi[j])),
                         "distance": float(distance[i, j])}
    return SourceCheck(runtime, fmt, total, entries, outside, worst)
