"""verifae.importers.runs: the user's own module, or its ONNX file in onnxruntime, run
next to the enclosures of the spec imported from it (zero tolerance)."""

from __future__ import annotations

import importlib.util
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from verifae import Box, from_torch
from verifae.importers import from_onnx, load_model_and_boxes
from verifae.importers.runs import check_source, sample_points
from verifae.layered import Layer, LayeredSpec

torch = pytest.importorskip("torch")
nn = torch.nn

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "cases" / "models"
DIGITS = MODELS / "digits-layered-64-32-8-32-64"


def digits_module() -> nn.Module:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    spec = importlib.util.spec_from_file_location("train", ROOT / "cases" / "scripts" / "train_digits_layered.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    model = train.build()
    model.load_state_dict(safetensors_torch.load_file(f"{DIGITS}.safetensors"))
    return model


def test_sample_points_are_float_runs_started_in_the_box():
    box = Box([Fraction(1, 10), 0, Fraction(-1, 3)], [Fraction(1, 5), 0, Fraction(-1, 3)])
    X = sample_points(box, 20, "float32", np.random.default_rng(0))
    assert X.dtype == np.float32 and X.shape == (20, 3)
    for x in X:  # fl32 of a point of the box: within one float32 rounding of it
        for v, lo, hi in zip(x, box.lower, box.upper):
            q = Fraction(float(v))
            assert lo - abs(lo) * Fraction(1, 2**23) <= q <= hi + abs(hi) * Fraction(1, 2**23)
    assert (X[:, 1] == 0).all() and (X[:, 2] == np.float32(-1 / 3)).all()


def test_the_users_module_runs_inside_the_float32_enclosures():
    module = digits_module()
    spec = from_torch(module)
    for radius in ("0", "1/256"):
        _, boxes = load_model_and_boxes(f"{DIGITS}.safetensors", activations="relu,relu,relu,sigmoid",
                                        center=MODELS / "digits-test.npy", radius=radius, clip=("0", "1"))
        result = check_source(spec, boxes, module, points=8)
        assert result.runtime == "torch" and result.semantics == "float32"
        assert result.points == 4 * 8 and result.entries == 4 * 8 * 64
        assert result.outside == 0 and not result.failed, result.worst


def test_a_spec_that_is_not_the_users_model_is_caught():
    module = digits_module()
    spec = from_torch(module)
    last = spec.decoder[-1]
    bias = last.bias.copy()
    bias[5] += Fraction(1, 1024)  # sigmoid' > 0: output 5 moves by more than the rounding
    wrong = LayeredSpec(spec.encoder, [*spec.decoder[:-1], Layer(last.weight, bias, last.activation, last.name)])
    _, boxes = load_model_and_boxes(f"{DIGITS}.safetensors", activations="relu,relu,relu,sigmoid",
                                    center=MODELS / "digits-test.npy", radius="0", clip=("0", "1"))
    result = check_source(wrong, boxes, module, points=1)
    assert result.failed and result.worst["output"] == 5 and result.worst["distance"] > 0
    lo, hi = result.worst["enclosure"]
    assert not lo <= result.worst["value"] <= hi


def test_onnxruntime_runs_of_a_piecewise_linear_graph_are_inside(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2), nn.LeakyReLU(0.25), nn.Linear(2, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, 5),), str(tmp_path / "m.onnx"), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    spec = from_onnx(tmp_path / "m.onnx", split=2)
    boxes = [Box.around([Fraction(k, 7)] * 5, r) for k, r in ((1, 0), (-3, Fraction(1, 64)), (5, 1))]
    result = check_source(spec, boxes, tmp_path / "m.onnx", points=16)
    assert result.runtime == "onnxruntime" and result.points == 48
    assert result.outside == 0, result.worst


def test_onnxruntimes_sigmoid_is_outside_the_float32_library_model():
    """onnxruntime's CPU Sigmoid (MLAS's rational approximation) is off by about 1e-7
    absolutely near 0, far beyond K ulps of the tiny true value, so its runs of the digits
    model at the test digits fall outside the float32 enclosures: the check says so
    (docs/import.md). PyTorch's runs of the same model are inside (above)."""
    pytest.importorskip("onnxruntime")
    spec, boxes = load_model_and_boxes(f"{DIGITS}.onnx", center=MODELS / "digits-test.npy", radius="0",
                                       clip=("0", "1"))
    result = check_source(spec, boxes, f"{DIGITS}.onnx", points=1)
    assert result.runtime == "onnxruntime" and result.failed
    worst = result.worst
    assert worst["value"] < 1e-5 and 0 < worst["distance"] < 2e-7  # near 0, by MLAS's absolute error
