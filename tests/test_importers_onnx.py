"""verifae.importers.onnx_model and .weights: ONNX, state_dict and safetensors files in.

The three import paths of one model give the same exact spec; an import's float32
enclosures contain PyTorch's float32 runs of the original module (zero tolerance);
every node or file this reader does not accept is refused by name.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import Box, LayeredSpec, SpecError, enclose_layered, from_torch
from verifae.activations import REGISTRY, get_activation
from verifae.importers import from_onnx, from_safetensors, from_state_dict, from_tensors, parse_activations
from verifae.importers.onnx_model import onnx_expressible

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
safetensors_torch = pytest.importorskip("safetensors.torch")
nn = torch.nn
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "cases" / "models"
DIGITS = "digits-layered-64-32-8-32-64"


def same_spec(a: LayeredSpec, b: LayeredSpec, names: bool = True) -> None:
    assert len(a.encoder) == len(b.encoder) and len(a.decoder) == len(b.decoder)
    for x, y in zip(a.layers, b.layers):
        assert x.weight.shape == y.weight.shape and (x.weight == y.weight).all() and (x.bias == y.bias).all()
        assert x.activation == y.activation
        if names:
            assert x.name == y.name


def export_onnx(module: nn.Module, d: int, path: Path) -> Path:
    """The TorchScript exporter at opset 20 (GELU as one Gelu node; SiLU as Mul(x, Sigmoid(x)))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, d),), str(path), dynamo=False, opset_version=20)
    return path


def activation_string(module: nn.Sequential) -> str:
    """--activations for a flat Sequential of Linear[, act] pairs, from the spec of the module."""
    return ",".join("none" if la.activation is None else ":".join(
        [la.activation.name, *(v for k, v in la.activation.config().items() if k != "name")])
        for la in from_torch(module, split=1).layers)


# ---------------------------------------------------------------- the digits model


def digits_module() -> nn.Sequential:
    """The committed model rebuilt: cases/scripts/train_digits_layered.py's architecture
    with the weights of the safetensors file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train", ROOT / "cases" / "scripts" / "train_digits_layered.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    model = train.build()
    model.load_state_dict(safetensors_torch.load_file(str(MODELS / f"{DIGITS}.safetensors")))
    return model


def test_the_three_import_paths_of_the_digits_model_give_one_spec(tmp_path):
    module = digits_module()
    from_module = from_torch(module)
    from_file = from_onnx(MODELS / f"{DIGITS}.onnx")
    from_st = from_safetensors(MODELS / f"{DIGITS}.safetensors", "relu,relu,relu,sigmoid")
    torch.save(module.state_dict(), tmp_path / "digits.pt")
    from_pt = from_state_dict(tmp_path / "digits.pt", "relu,relu,relu,sigmoid")
    assert from_module.layer_sizes == (64, 32, 8, 32, 64) and len(from_module.encoder) == 2
    for other in (from_file, from_st, from_pt):
        same_spec(from_module, other)


# ---------------------------------------------------------------- random modules


PARAMETERS = {"negative_slope": ["0.25", "0.5", "0.125"], "alpha": ["0.5", "1", "2"]}


@st.composite
def sequentials(draw):
    """A flat nn.Sequential of 2 or 3 Linear layers (split after the first), each followed
    by a registry activation (or none), with float32-exact parameters (an ONNX attribute
    is a float32) and small float32 weights."""
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    d = draw(st.integers(1, 4))
    widths = [d, *sizes, d]
    seed = draw(st.integers(0, 2**16))
    torch.manual_seed(seed)
    modules: list[nn.Module] = []
    for n_in, n_out in zip(widths, widths[1:]):
        modules.append(nn.Linear(n_in, n_out))
        name = draw(st.sampled_from(["none", *sorted(n for n in REGISTRY if n != "identity")]))
        if name != "none":
            entry = REGISTRY[name]
            params = {k: draw(st.sampled_from(PARAMETERS.get(k, [v]))) for k, v in entry.config().items()
                      if k != "name"}
            act = get_activation({"name": name, **params}) if params else entry
            modules.append(act.torch_module(np.float32))
    return nn.Sequential(*modules), d


@settings(max_examples=25, deadline=None)
@given(sequentials(), st.data())
def test_imports_agree_and_their_float32_enclosures_contain_torch_runs_of_the_module(tmp_path_factory, built, data):
    module, d = built
    tmp = tmp_path_factory.mktemp("model")
    spec = from_torch(module, split=1)
    safetensors_torch.save_file(module.state_dict(), str(tmp / "m.safetensors"))
    from_st = from_safetensors(tmp / "m.safetensors", activation_string(module), split=1)
    same_spec(spec, from_st)
    imported = [from_st]
    path = export_onnx(module, d, tmp / "m.onnx")
    if all(la.activation is None or onnx_expressible(la.activation) for la in spec.layers):
        imported.append(from_onnx(path, split=1))
        same_spec(spec, imported[-1])
    else:  # an activation ONNX cannot hold (softplus's beta and threshold): refused, never guessed
        with pytest.raises(SpecError, match="has no parameter"):
            from_onnx(path, split=1)
    # a box around a float32 point, radius 2^-6: float32 points inside it, run by PyTorch
    center = np.array(data.draw(st.lists(st.integers(-64, 64), min_size=d, max_size=d)), dtype=np.float32) / 32
    radius = Fraction(1, 64)
    box = Box.around([Fraction(float(c)) for c in center], radius)
    offsets = np.array([-1, -0.5, 0, 0.25, 1], dtype=np.float32) * np.float32(radius)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    X = (center + rng.choice(offsets, size=(16, d))).astype(np.float32)
    with torch.no_grad():
        out_t = module(torch.from_numpy(X))
        error = torch.nn.functional.mse_loss(out_t, torch.from_numpy(X), reduction="none").mean(dim=1).numpy()
        out = out_t.numpy()
        encoder = module[: 1 if isinstance(module[1], nn.Linear) else 2]  # the first Linear and its activation
        latent = encoder(torch.from_numpy(X)).numpy()
    for spec_imported in imported:
        e = enclose_layered(spec_imported, box, semantics="float32", backend="arb")
        assert (e.output[:, 0] <= out).all() and (out <= e.output[:, 1]).all()
        assert (e.latent[:, 0] <= latent).all() and (latent <= e.latent[:, 1]).all()
        assert (e.reconstruction_error[0] <= error).all() and (error <= e.reconstruction_error[1]).all()


# ---------------------------------------------------------------- hand-made graphs


def graph_file(tmp_path: Path, nodes, initializers, d: int = 2, out: str = "y", opset: int = 17,
               name: str = "m.onnx") -> Path:
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) if not isinstance(v, np.ndarray)
             or v.dtype.kind == "f" else numpy_helper.from_array(v, k) for k, v in initializers.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, d])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


W1 = [[0.5, -0.25], [1.0, 0.1]]  # 0.1 is read as the float32 nearest to it, exactly
W2 = [[2.0, 0.0], [0.75, -1.5]]


def test_matmul_add_and_gemm_without_transposition_read_weights_in_pytorchs_layout(tmp_path):
    path = graph_file(tmp_path, [
        helper.make_node("MatMul", ["x", "enc.weight_t"], ["z"], name="mm"),
        helper.make_node("Add", ["z", "enc.bias"], ["a"], name="add"),
        helper.make_node("LeakyRelu", ["a"], ["h"], name="act"),
        helper.make_node("Gemm", ["h", "dec.w", "dec.b"], ["y"], name="gemm"),
    ], {"enc.weight_t": np.array(W1, dtype=np.float32).T, "enc.bias": [0.5, -1],
        "dec.w": np.array(W2, dtype=np.float32).T, "dec.b": [[1, 2]]})
    spec = from_onnx(path, split=1)
    (enc,), (dec,) = spec.encoder, spec.decoder
    assert enc.weight[1, 1] == Fraction(float(np.float32(0.1))) and enc.weight[0, 1] == Fraction(-1, 4)
    assert (dec.weight == np.array([[Fraction(2), 0], [Fraction(3, 4), Fraction(-3, 2)]], dtype=object)).all()
    assert list(dec.bias) == [1, 2] and list(enc.bias) == [Fraction(1, 2), -1]
    # LeakyRelu without an alpha attribute: ONNX's default, the float32 nearest 0.01
    assert enc.activation == get_activation({"name": "leaky_relu",
                                             "negative_slope": Fraction(float(np.float32(0.01)))})
    assert dec.activation is None and [la.name for la in spec.layers] == ["mm", "gemm"]


def test_float32_activation_attributes_are_read_as_the_float32_they_are(tmp_path):
    """torch's LeakyReLU(0.2) holds the double 0.2; its ONNX export holds float32(0.2), and
    the ONNX import is that float32 (a float32 run of either rounds to the same value)."""
    module = nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(0.2), nn.Linear(2, 2))
    from_file = from_onnx(export_onnx(module, 2, tmp_path / "m.onnx"), split=1)
    assert from_file.encoder[0].activation.negative_slope == Fraction(float(np.float32(0.2)))
    assert from_torch(module, split=1).encoder[0].activation.negative_slope == Fraction(0.2)


def test_reshapes_around_the_layers_and_identity_are_no_ops(tmp_path):
    path = graph_file(tmp_path, [
        helper.make_node("Flatten", ["x"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "a.weight", "a.bias"], ["z"], name="g1", transB=1),
        helper.make_node("Identity", ["z"], ["i"], name="id"),
        helper.make_node("Gemm", ["i", "b.weight"], ["o"], name="g2", transB=1),
        helper.make_node("Reshape", ["o", "shape"], ["y"], name="unflat"),
    ], {"a.weight": W1, "a.bias": [0, 0], "b.weight": W2, "shape": np.array([-1, 1, 2], dtype=np.int64)})
    spec = from_onnx(path, split=1)
    assert [la.name for la in spec.layers] == ["a", "b"] and spec.layer_sizes == (2, 2, 2)


def gemm(**attrs):
    return helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dense", transB=1, **attrs)


ONNX_REFUSALS = [
    ([gemm(alpha=2.0)], {}, r"node 'dense' \(Gemm\) has transA=0, alpha=2.0; verifae reads Gemm"),
    ([gemm(transA=1)], {}, r"node 'dense' \(Gemm\) has transA=1"),
    ([gemm(beta=0.5)], {}, r"node 'dense' \(Gemm\) has beta=0.5; verifae reads Gemm with beta = 1"),
    ([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], {},
     r"node 'conv1' \(Conv\) is not supported; verifae reads Gemm, MatMul, Add, .*Relu"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
      helper.make_node("Mul", ["z", "x"], ["y"], name="skip")], {},
     r"node 'skip' \(Mul\) takes \['z', 'x'\], not \(only\) the output of the node before it"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
      helper.make_node("Softmax", ["z"], ["y"], name="sm")], {}, r"node 'sm' \(Softmax\) is not supported"),
    ([helper.make_node("Relu", ["x"], ["y"], name="r")], {}, r"node 'r' \(Relu\) comes before any dense layer"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
      helper.make_node("Relu", ["z"], ["r"], name="r1"), helper.make_node("Tanh", ["r"], ["y"], name="t")], {},
     r"node 't' \(Tanh\) follows the activation node 'r1' \(Relu\) of the same dense layer"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
      helper.make_node("Elu", ["z"], ["y"], name="e", alpha=-1.0)], {}, r"node 'e' \(Elu\): elu: alpha must be > 0"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
      helper.make_node("Flatten", ["z"], ["f"], name="fl"),
      helper.make_node("Gemm", ["f", "w", "b"], ["y"], name="g2", transB=1)], {},
     r"node 'g2' \(Gemm\) comes after node 'fl' \(Flatten\), which reshapes the output"),
    ([gemm()], {"w": [[1.0, float("nan")], [0.0, 1.0]]}, r"w\[0, 1\] is nan: NaN and infinite weights"),
    ([gemm()], {"b": [1.0, 2.0, 3.0]}, r"the bias 'b' has shape \(3,\), which does not broadcast to \(2,\)"),
    ([gemm()], {"w": [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]},
     r"the graph's input 'x' has 2 values per sample, but the first dense layer takes 3"),
]


@pytest.mark.parametrize("nodes, inits, message", ONNX_REFUSALS)
def test_onnx_refusals_name_the_node_and_its_op(tmp_path, nodes, inits, message):
    initializers = {"w": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 0.0], **inits}
    path = graph_file(tmp_path, nodes, initializers)
    with pytest.raises(SpecError, match=message):
        spec = from_onnx(path, split=1)
        if len(spec.layers) == 1:  # a one-layer chain is no autoencoder either
            raise AssertionError("accepted")


def test_a_one_layer_graph_has_no_encoder_and_decoder(tmp_path):
    path = graph_file(tmp_path, [gemm()], {"w": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 0.0]})
    with pytest.raises(SpecError, match="m.onnx: split must be a whole number from 1 to 0"):
        from_onnx(path, split=1)


def test_gelu_tanh_in_onnx_is_refused(tmp_path):
    path = graph_file(tmp_path, [
        helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
        helper.make_node("Gelu", ["z"], ["h"], name="gelu", approximate="tanh"),
        helper.make_node("Gemm", ["h", "w", "b"], ["y"], name="g2", transB=1),
    ], {"w": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 0.0]}, opset=20)
    message = (r"node 'gelu' \(Gelu\) has approximate='tanh', which computes something else than verifae's gelu"
               if any(e.onnx_op == "Gelu" for e in REGISTRY.values()) else r"node 'gelu' \(Gelu\) is not supported")
    with pytest.raises(SpecError, match=message):
        from_onnx(path, split=1)


def test_x_times_sigmoid_x_is_read_as_swish(tmp_path):
    """Mul(X, Sigmoid(X)), either operand order, is ONNX's Swish (how the TorchScript
    exporter writes SiLU): the registry entry whose op is Swish, when there is one."""
    path = graph_file(tmp_path, [
        helper.make_node("Gemm", ["x", "w", "b"], ["z"], name="g", transB=1),
        helper.make_node("Sigmoid", ["z"], ["s"], name="sig"),
        helper.make_node("Mul", ["s", "z"], ["h"], name="mul"),
        helper.make_node("Gemm", ["h", "w", "b"], ["y"], name="g2", transB=1),
    ], {"w": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 0.0]})
    swish = [e for e in REGISTRY.values() if e.onnx_op == "Swish"]
    if swish:
        spec = from_onnx(path, split=1)
        assert spec.encoder[0].activation == swish[0] and spec.decoder[0].activation is None
    else:
        with pytest.raises(SpecError, match=r"node 'mul' \(Mul\) takes \['s', 'z'\]"):
            from_onnx(path, split=1)


def test_files_that_are_not_onnx_models(tmp_path):
    with pytest.raises(SpecError, match="nothing.onnx: no such file"):
        from_onnx(tmp_path / "nothing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not protobuf at all\xff" * 10)
    with pytest.raises(SpecError, match="junk.onnx: not a readable ONNX model"):
        from_onnx(tmp_path / "junk.onnx")


# ---------------------------------------------------------------- weight-only files


def test_weight_files_are_read_in_natural_key_order_with_the_split_from_the_names():
    rng = np.random.default_rng(0)
    widths = [3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]
    tensors = {}
    for i, (a, b) in enumerate(zip(widths, widths[1:])):  # keys 0 ... 10: "10" sorts after "9"
        tensors[f"{i}.weight"] = rng.standard_normal((b, a)).astype(np.float32)
    spec = from_tensors(dict(reversed(list(tensors.items()))), ["none"] * 11, split=3)
    assert [la.name for la in spec.layers] == [str(i) for i in range(11)] and len(spec.encoder) == 3
    named = {"decoder.0.weight": np.ones((3, 2), np.float32), "encoder.0.weight": np.ones((2, 3), np.float32),
             "encoder.0.bias": np.zeros(2, np.float32)}
    spec = from_tensors(named, "relu,sigmoid")
    assert [la.name for la in spec.layers] == ["encoder.0", "decoder.0"] and len(spec.encoder) == 1


def test_activations_from_the_command_line():
    acts = parse_activations("relu, leaky_relu:0.2,elu:alpha=2,none,sigmoid")
    assert acts[0] is REGISTRY["relu"] and acts[3] is None and acts[4] is REGISTRY["sigmoid"]
    assert acts[1].negative_slope == Fraction(1, 5) and acts[2].alpha == 2
    for text, message in [
        ("relu,swish", r"activation 2: unknown activation 'swish'; valid activations are: relu, .* \(or none"),
        ("relu:1", r"activation 1 \('relu:1'\): too many parameters; it takes no parameters"),
        ("leaky_relu:0.1:2", r"too many parameters; its parameters are negative_slope"),
        ("leaky_relu:2", r"activation 1 \('leaky_relu:2'\): leaky_relu: negative_slope must lie in \[0, 1\]"),
        ("relu,,relu", r"activation 2 is empty"),
    ]:
        with pytest.raises(SpecError, match=message):
            parse_activations(text)


WEIGHT_REFUSALS = [
    ({"0.weight": np.ones((2, 3)), "1.weight": np.ones((3, 2)), "bn.running_mean": np.ones(2)}, "relu,none", 1,
     r"key 'bn.running_mean' is not the weight or bias of a dense layer"),
    ({"0.weight": np.ones((2, 3)), "1.weight": np.ones((3, 2))}, "relu", 1,
     r"got 1 activations for 2 dense layers \(0, 1\); give one per layer"),
    ({"0.weight": np.ones((2, 3)), "1.weight": np.ones((3, 2))}, "relu,none", None,
     r"nothing names its encoder and decoder: say where the encoder ends with --split N"),
    ({"0.weight": np.ones((2, 3)), "0.bias": np.ones(3), "1.weight": np.ones((3, 2))}, "relu,none", 1,
     r"0.bias has shape \(3,\) but 0.weight has shape \(2, 3\), so it must have shape \(2,\)"),
    ({"0.weight": np.ones((2, 3)), "1.weight": np.ones((4, 2))}, "relu,none", 1,
     r"the decoder must end with input_dim = 3 values"),
    ({"0.weight": np.ones((2, 3)), "1.weight": np.full((3, 2), np.inf)}, "relu,none", 1,
     r"1.weight\[0, 0\] is inf: NaN and infinite weights describe no model \(6 of 6 entries are not finite\)"),
    ({"0.weight": np.ones((2, 3, 1)), "1.weight": np.ones((3, 2))}, "relu,none", 1,
     r"0.weight has shape \(2, 3, 1\); a dense layer's weight is a matrix"),
    ({"encoder.0.weight": np.ones((2, 3)), "decoder.0.weight": np.ones((3, 2))}, "relu,none", 2,
     r"--split 2, but the keys give the encoder 1 dense layers"),
]


@pytest.mark.parametrize("tensors, acts, split, message", WEIGHT_REFUSALS)
def test_weight_file_refusals(tensors, acts, split, message):
    with pytest.raises(SpecError, match=message):
        from_tensors(tensors, acts, split=split, source="w.safetensors")


def test_state_dicts_load_only_through_weights_only(tmp_path):
    module = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 3))
    torch.save(module, tmp_path / "whole.pt")  # a pickled module: code, refused
    with pytest.raises(SpecError, match=r"whole.pt: torch.load\(weights_only=True\) refused the file \(Unsupported "
                                        r"global: GLOBAL torch.nn.modules.container.Sequential\); verifae reads "
                                        r"state_dicts"):
        from_state_dict(tmp_path / "whole.pt", "relu,none", split=1)
    torch.save({"model": module.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pt")
    with pytest.raises(SpecError, match=r"checkpoint.pt: expected a state_dict, a mapping of names to tensors, got "
                                        r"dict \(its keys start \['model', 'epoch'\]"):
        from_state_dict(tmp_path / "checkpoint.pt", "relu,none", split=1)
    torch.save(OrderedDict(module.state_dict()), tmp_path / "sd.pt")
    same_spec(from_state_dict(tmp_path / "sd.pt", "relu,none", split=1), from_torch(module, split=1))
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(SpecError, match="bad.safetensors: not a readable safetensors file"):
        from_safetensors(tmp_path / "bad.safetensors", "relu,none", split=1)


def test_bfloat16_and_float16_initializers_are_exact():
    from verifae.importers._exact import exact_parameter

    for dtype in ("bfloat16", "float16"):
        tensor = numpy_helper.from_array(np.array([[0.1, -2.5]], dtype=np.float32), "w")
        tensor = helper.make_tensor("w", getattr(TensorProto, dtype.upper()), [1, 2],
                                    numpy_helper.to_array(tensor).astype(np.float32).tolist())
        values = numpy_helper.to_array(tensor)
        exact = exact_parameter(values, "w")
        assert exact.tolist() == [[Fraction(float(v)) for v in values.astype(np.float64).ravel()]]
        assert exact[0, 0] != Fraction(float(np.float32(0.1)))  # rounded to the small format, then exact
