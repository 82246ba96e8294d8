"""ONNX files in (design §7), read with the `onnx` package; nothing is executed.

The graph must be one chain from its one input to its one output, each node taking the
previous node's output (and constants):

- a dense layer: `Gemm(x, W, b)` with transA = 0, alpha = 1 and beta = 1 (transB either
  way; a Gemm that scales its product is refused: folding alpha into W is exact in real
  arithmetic but a different float program), or `MatMul(x, W)` optionally followed by
  `Add(·, b)` (W in ONNX's in × out layout, transposed here to PyTorch's out × in);
- an activation right after a dense layer: an op that a registry entry names as its
  `onnx_op`, its attributes mapped to the entry's parameters (read exactly: an ONNX float
  attribute is a float32, and that float32 is the parameter). An attribute the entry does
  not model must hold the op's default (`Gelu(approximate="tanh")` is refused), and an
  entry parameter that the op cannot express is refused too (the op computes something
  else);
- `Identity` anywhere, `Flatten(axis=1)` and `Reshape` before the first or after the last
  dense layer (they reshape x and x_hat only).

Any other node is refused by name and op type. Initializers (and `Constant` nodes) are
read with `onnx.numpy_helper.to_array`, so a float32 weight is its exact rational.
Layers are named after their weight initializer ("encoder.0" for "encoder.0.weight", as
PyTorch's exporter names them), else after their node.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import REGISTRY, Activation, get_activation
from ..errors import SpecError, VerifaeError
from ..layered import Layer, LayeredSpec
from ._exact import exact_parameter, require
from .torch_module import split_layers

__all__ = ["from_onnx", "onnx_activation_ops", "onnx_expressible"]

#: ONNX attribute names that differ from the registry entry's parameter name; every
#: other attribute has the entry's name (Elu's alpha is elu's alpha). One line per op.
_ATTRIBUTE_NAMES: dict[tuple[str, str], str] = {("LeakyRelu", "alpha"): "negative_slope"}

#: ops that reshape the samples without changing a value
_RESHAPES = ("Flatten", "Reshape")


def onnx_activation_ops() -> dict[str, Activation]:
    """ONNX op -> registry entry, from each entry's `onnx_op` (Identity is a no-op here)."""
    return {entry.onnx_op: entry for entry in REGISTRY.values() if entry.onnx_op != "Identity"}


def onnx_expressible(entry: Activation) -> bool:
    """Whether an ONNX file can hold this activation: every parameter of the entry is an
    attribute of its op (softplus's beta and threshold are not attributes of ONNX's
    Softplus, so such a node is refused rather than read with made-up parameters)."""
    onnx = require("onnx", "onnx")
    try:
        schema = onnx.defs.get_schema(entry.onnx_op)
    except Exception:
        return False
    names = {_ATTRIBUTE_NAMES.get((entry.onnx_op, a), a) for a in schema.attributes}
    return all(k in names for k in entry.config() if k != "name")


def _label(node: Any, index: int) -> str:
    return f"node {node.name!r} ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


def _schema_defaults(onnx: Any, op: str, opset: int) -> dict[str, Any]:
    """The default value of every attribute of `op` (at the model's opset) that has one."""
    try:
        schema = onnx.defs.get_schema(op, opset)
    except Exception:  # an op this onnx version does not know: no defaults
        return {}
    out = {}
    for name, attr in schema.attributes.items():
        if attr.default_value.name:
            v = onnx.helper.get_attribute_value(attr.default_value)
            out[name] = v.decode() if isinstance(v, bytes) else v
    return out


def _attributes(onnx: Any, node: Any, opset: int) -> dict[str, Any]:
    """Every attribute of the node: as set on the node, else the schema's default."""
    values = _schema_defaults(onnx, node.op_type, opset)
    for attr in node.attribute:
        v = onnx.helper.get_attribute_value(attr)
        values[attr.name] = v.decode() if isinstance(v, bytes) else v
    return values


def _activation(onnx: Any, node: Any, label: str, entry: Activation, opset: int) -> Activation:
    attrs = _attributes(onnx, node, opset)
    defaults = _schema_defaults(onnx, node.op_type, opset)
    keys = [k for k in entry.config() if k != "name"]
    params: dict[str, Fraction] = {}
    for attr, value in attrs.items():
        key = _ATTRIBUTE_NAMES.get((node.op_type, attr), attr)
        if key in keys:
            if not isinstance(value, (int, float)) or not np.isfinite(value):
                raise SpecError(f"{label}: attribute {attr}={value!r} is not a finite number")
            params[key] = Fraction(value)  # a float32 attribute, exactly as the file holds it
        elif attr not in defaults or defaults[attr] != value:
            raise SpecError(f"{label} has {attr}={value!r}, which computes something else than verifae's "
                            f"{entry.name}" + (f" (which is {node.op_type} with {attr}={defaults[attr]!r})"
                                               if attr in defaults else ""))
    missing = [k for k in keys if k not in params]
    if missing:
        raise SpecError(f"{label}: ONNX's {node.op_type} has no parameter {missing[0]!r}, which verifae's "
                        f"{entry.name} has; read the model from PyTorch or from its weights with --activations")
    try:
        return get_activation({"name": entry.name, **params}) if params else entry
    except VerifaeError as exc:
        raise SpecError(f"{label}: {exc}") from None


def _swish_pairs(nodes: list[Any]) -> dict[int, int]:
    """{index of Sigmoid: index of Mul} for each Sigmoid(X) followed at once by Mul(X, Sigmoid(X))
    (either order): x·sigmoid(x), which is ONNX's Swish (alpha = 1, opset 24) and PyTorch's
    SiLU as the TorchScript exporter writes it."""
    pairs = {}
    for i, (a, b) in enumerate(zip(nodes, nodes[1:])):
        if (a.op_type == "Sigmoid" and b.op_type == "Mul" and len(a.input) == 1 and len(a.output) == 1
                and sorted(b.input) == sorted([a.input[0], a.output[0]])):
            pairs[i] = i + 1
    return pairs


def _reshape_width(shape: np.ndarray, label: str) -> int:
    """The per-sample width of a Reshape target (-1/0/1, n1, n2, ...): n1·n2·..."""
    dims = [int(v) for v in np.asarray(shape).ravel()]
    if len(dims) < 2 or dims[0] not in (-1, 0, 1) or any(v <= 0 for v in dims[1:]):
        raise SpecError(f"{label} reshapes to {dims}; verifae reads a Reshape that keeps the batch axis first "
                        "(-1, 0 or 1) and fixes every other axis")
    return int(np.prod(dims[1:]))


def from_onnx(path: str | Path, *, split: int | None = None) -> LayeredSpec:
    """The layered spec of the dense autoencoder in an ONNX file, its parameters exactly.

    The split into encoder and decoder: initializer names starting with "encoder." and
    "decoder." (as PyTorch exports a Sequential with such children), else `split` = the
    number of dense layers in the encoder. SpecError naming the node (name and op type)
    for anything this reader does not accept."""
    onnx = require("onnx", "onnx")
    from onnx import numpy_helper

    file = str(path)
    if not Path(path).is_file():
        raise SpecError(f"{file}: no such file" if not Path(path).exists() else f"{file}: not a file")
    try:
        model = onnx.load(file)
    except Exception as exc:
        raise SpecError(f"{file}: not a readable ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    consts: dict[str, np.ndarray] = {}
    try:
        for init in graph.initializer:
            consts[init.name] = numpy_helper.to_array(init)
    except Exception as exc:
        raise SpecError(f"{file}: cannot read an initializer ({type(exc).__name__}: {str(exc)[:200]})") from None
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise SpecError(f"{file}: the graph has {len(inputs)} inputs and {len(graph.output)} outputs; verifae reads "
                        "an autoencoder with one input and one output")
    ops = onnx_activation_ops()
    current = inputs[0]
    layers: list[dict[str, Any]] = []  # weight, bias, activation, name, label, open (MatMul awaiting Add)
    width_before: int | None = None  # a Reshape before the first layer fixes the input width
    reshaped_before = False
    width_after: int | None = None
    after_last: str | None = None  # the reshape seen after a dense layer, if any

    def close_matmul() -> None:
        if layers and layers[-1]["open"]:
            layers[-1]["open"] = False

    nodes = list(graph.node)
    swish = _swish_pairs(nodes) if "Swish" in ops else {}
    for index, node in enumerate(nodes):
        if index in swish.values():  # the Mul of a Mul(X, Sigmoid(X)) read as its Swish
            continue
        label = _label(node, index)
        if node.domain not in ("", "ai.onnx"):
            raise SpecError(f"{file}: {label} of domain {node.domain!r} is not supported")
        op = node.op_type
        if op == "Constant":
            attrs = {a.name: a for a in node.attribute}
            if "value" not in attrs:
                raise SpecError(f"{file}: {label}: only Constant nodes with a tensor 'value' are read")
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"].t)
            continue
        data = [name for name in node.input if name and name not in consts]
        if data != [current]:
            raise SpecError(f"{file}: {label} takes {list(node.input)}, not (only) the output of the node before it "
                            f"({current!r}); verifae reads a chain of dense layers")
        if len(node.output) != 1:
            raise SpecError(f"{file}: {label} has {len(node.output)} outputs; verifae reads nodes with one")
        if after_last is not None and op not in ("Identity", *_RESHAPES):
            raise SpecError(f"{file}: {label} comes after {after_last}, which reshapes the output; verifae reads "
                            "Flatten/Reshape only before the first and after the last dense layer")
        if op == "Gemm":
            close_matmul()
            a = _attributes(onnx, node, opset)
            if a.get("transA", 0) != 0 or a.get("alpha", 1.0) != 1.0:
                raise SpecError(f"{file}: {label} has transA={a.get('transA', 0)}, alpha={a.get('alpha', 1.0)}; "
                                "verifae reads Gemm(x, W, b) = x·Wᵀ + b or x·W + b (transA = 0, alpha = 1)")
            if node.input[0] != current:
                raise SpecError(f"{file}: {label} multiplies a constant by the data; verifae reads x·W")
            W = consts[node.input[1]]
            if W.ndim != 2:
                raise SpecError(f"{file}: {label}: the weight {node.input[1]!r} has shape {W.shape}, not a matrix")
            W = W if a.get("transB", 0) else W.T
            weight = exact_parameter(W, f"{file}: {node.input[1]}")
            out = weight.shape[0]
            if len(node.input) > 2 and node.input[2]:
                if a.get("beta", 1.0) != 1.0:
                    raise SpecError(f"{file}: {label} has beta={a['beta']}; verifae reads Gemm with beta = 1")
                C = consts[node.input[2]]
                if C.size not in (1, out) or C.ndim > 2 or (C.ndim == 2 and C.shape[0] != 1):
                    raise SpecError(f"{file}: {label}: the bias {node.input[2]!r} has shape {C.shape}, which does "
                                    f"not broadcast to ({out},)")
                bias = exact_parameter(np.broadcast_to(C.reshape(-1), (out,)).copy(), f"{file}: {node.input[2]}")
            else:
                bias = np.array([Fraction(0)] * out, dtype=object)
            layers.append({"weight": weight, "bias": bias, "activation": None, "label": label, "open": False,
                           "name": _layer_name(node.input[1], node.name, len(layers))})
        elif op == "MatMul":
            close_matmul()
            if node.input[0] != current:
                raise SpecError(f"{file}: {label} multiplies a constant by the data; verifae reads x·W")
            W = consts[node.input[1]]
            if W.ndim != 2:
                raise SpecError(f"{file}: {label}: the weight {node.input[1]!r} has shape {W.shape}, not a matrix")
            weight = exact_parameter(W.T, f"{file}: {node.input[1]}")
            layers.append({"weight": weight, "bias": np.array([Fraction(0)] * weight.shape[0], dtype=object),
                           "activation": None, "label": label, "open": True,
                           "name": _layer_name(node.input[1], node.name, len(layers))})
        elif op == "Add":
            if not layers or not layers[-1]["open"]:
                raise SpecError(f"{file}: {label} is not the bias of a MatMul; verifae reads Add only there")
            other = next(name for name in node.input if name != current)
            C = consts[other]
            out = layers[-1]["weight"].shape[0]
            if C.size != out or (C.ndim == 2 and C.shape[0] != 1) or C.ndim > 2:
                raise SpecError(f"{file}: {label}: the bias {other!r} has shape {C.shape}, not ({out},)")
            layers[-1]["bias"] = exact_parameter(C.reshape(-1), f"{file}: {other}")
            layers[-1]["open"] = False
        elif op in ops:
            close_matmul()
            if not layers:
                raise SpecError(f"{file}: {label} comes before any dense layer; verifae's layers are act(W x + b)")
            if layers[-1]["activation"] is not None:
                raise SpecError(f"{file}: {label} follows the activation {layers[-1]['activation_label']} of the "
                                f"same dense layer; a layer has one activation")
            if index in swish:  # Mul(X, Sigmoid(X)): ONNX's Swish with alpha = 1, as exporters before opset 24 write it
                mul = nodes[swish[index]]
                label = f"{label} with {_label(mul, swish[index])}"
                node = onnx.helper.make_node("Swish", list(node.input), list(mul.output), name=node.name)
            layers[-1]["activation"] = _activation(onnx, node, f"{file}: {label}", ops[node.op_type], opset)
            layers[-1]["activation_label"] = label
        elif op == "Identity":
            pass
        elif op in _RESHAPES:
            close_matmul()
            if op == "Flatten":
                axis = _attributes(onnx, node, opset).get("axis", 1)
                if axis != 1:
                    raise SpecError(f"{file}: {label} has axis={axis}; verifae reads Flatten(axis=1), each sample "
                                    "to one vector")
                width = None
            else:
                width = _reshape_width(consts[node.input[1]], f"{file}: {label}")
            if layers:
                after_last, width_after = label, width if width is not None else width_after
            else:
                reshaped_before = True
                width_before = width if width is not None else width_before
        else:
            known = ", ".join(["Gemm", "MatMul", "Add", *sorted(ops), "Identity", *_RESHAPES])
            hint = ""
            if op in ("Div", "Erf", "Mul", "Pow", "Sqrt"):
                hint = (" (an activation the exporter wrote as arithmetic? From opset 20 on, GELU is one Gelu node: "
                        "torch.onnx.export(..., opset_version=20))")
            raise SpecError(f"{file}: {label} is not supported; verifae reads {known}{hint}")
        current = node.output[0]
    if current != graph.output[0].name:
        raise SpecError(f"{file}: the graph's output {graph.output[0].name!r} is not the end of the chain "
                        f"({current!r})")
    if not layers:
        raise SpecError(f"{file}: the graph has no dense layer (Gemm or MatMul)")
    try:
        dense = [Layer(la["weight"], la["bias"], la["activation"], la["name"]) for la in layers]
    except VerifaeError as exc:
        raise SpecError(f"{file}: {exc}") from None
    checks = (("before the first layer", width_before, "the first layer takes", dense[0].in_features),
              ("after the last layer", width_after, "the last layer gives", dense[-1].out_features))
    for where, width, what, expected in checks:
        if width is not None and width != expected:
            raise SpecError(f"{file}: the Reshape {where} gives {width} values per sample, but {what} {expected}")
    _check_graph_input(graph.input, inputs[0], dense[0].in_features, file, reshaped_before)
    in_encoder = [la.name.startswith("encoder.") for la in dense]
    named = all(la.name.startswith(("encoder.", "decoder.")) for la in dense)
    try:
        # encoder.* layers first, then decoder.* ones: the names give the split
        if named and any(in_encoder) and not all(in_encoder) and in_encoder == sorted(in_encoder, reverse=True):
            n_enc = sum(in_encoder)
            if split is not None and split != n_enc:
                raise SpecError(f"split={split!r}, but the file's encoder has {n_enc} dense layers")
            spec = split_layers(dense, n_enc)
        else:
            spec = split_layers(dense, split)
    except SpecError as exc:
        raise SpecError(f"{file}: {exc}") from None
    return spec


def _check_graph_input(graph_inputs: Any, name: str, d: int, file: str, reshaped: bool) -> None:
    """A fixed last axis of the graph's input must be input_dim (unless a reshape comes first)."""
    if reshaped:
        return
    for value in graph_inputs:
        if value.name == name and value.type.HasField("tensor_type"):
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 2 and dims[-1].HasField("dim_value") and dims[-1].dim_value != d:
                raise SpecError(f"{file}: the graph's input {name!r} has {dims[-1].dim_value} values per sample, "
                                f"but the first dense layer takes {d}")


def _layer_name(weight_name: str, node_name: str, index: int) -> str:
    if weight_name.endswith(".weight") and len(weight_name) > len(".weight"):
        return weight_name[: -len(".weight")]
    # PyTorch's exporter names a node "/<scope>/<module path>/<Op>": the module path
    parts = node_name.strip("/").split("/")
    if len(parts) >= 2 and parts[-2]:
        return parts[-2]
    return node_name or f"layer.{index}"
