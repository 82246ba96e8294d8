"""`verifae case`: model files and boxes in, an exact v2 case out; bad input exits 2."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from verifae.cases import load_case
from verifae.cli import main
from verifae.importers import load_model_and_boxes, load_model_case
from verifae.importers.cli import dump_case

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
safetensors_torch = pytest.importorskip("safetensors.torch")
nn = torch.nn

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "cases" / "models"
DIGITS = "digits-layered-64-32-8-32-64"
ACTS = "relu,relu,relu,sigmoid"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def same_case(path: Path, spec, boxes) -> None:
    case = load_case(path, layered=True)
    for a, b in zip(case.spec.layers, spec.layers, strict=True):
        assert (a.weight == b.weight).all() and (a.bias == b.bias).all()
        assert a.activation == b.activation and a.name == b.name
    assert len(case.spec.encoder) == len(spec.encoder)
    assert len(case.boxes) == len(boxes)
    for x, y in zip(case.boxes, boxes):
        assert (x.lower == y.lower).all() and (x.upper == y.upper).all()


@pytest.mark.parametrize("model, extra", [(f"{DIGITS}.onnx", []), (f"{DIGITS}.safetensors", ["--activations", ACTS])])
def test_a_case_reloads_to_the_same_rationals(tmp_path, model, extra):
    out = tmp_path / "case.json"
    args = [MODELS / model, *extra, "--center", MODELS / "digits-test.npy", "--radius", "0.02", "--clip", "0", "1"]
    result = run("case", *args, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output == (f"wrote {out}: 64 -> 32 -> 8 -> 32 -> 64 (relu, relu, relu, sigmoid), encoder 2 layers, "
                             "4 boxes\n")
    spec, boxes = load_model_and_boxes(MODELS / model, activations=ACTS if extra else None,
                                       center=MODELS / "digits-test.npy", radius="0.02", clip=("0", "1"))
    same_case(out, spec, boxes)
    assert load_case(out, layered=True).name == "case"
    # the same case without the file (what `verifae bound --model` bounds)
    direct = load_model_case(MODELS / model, activations=ACTS if extra else None,
                             center=MODELS / "digits-test.npy", radius="0.02", clip=("0", "1"))
    same_case(out, direct.spec, direct.boxes)
    assert direct.name == DIGITS and direct.grad_output == "mse"


def test_the_committed_digits_cases_are_what_verifae_case_writes_from_the_committed_files(tmp_path):
    """cases/scripts/train_digits_layered.py's commands, rerun on the committed model files."""
    np.save(tmp_path / "first.npy", np.load(MODELS / "digits-test.npy")[:1])
    for name, model, extra, center in [
        (f"{DIGITS}-eps0.02", f"{DIGITS}.onnx", [], tmp_path / "first.npy"),
        (f"{DIGITS}-four-boxes", f"{DIGITS}.safetensors", ["--activations", ACTS], MODELS / "digits-test.npy"),
    ]:
        committed = ROOT / "cases" / f"{name}.json"
        description = load_case(committed, layered=True).description
        out = tmp_path / f"{name}.json"
        result = run("case", MODELS / model, *extra, "--center", center, "--radius", "0.02", "--clip", "0", "1",
                     "--description", description, "-o", out)
        assert result.exit_code == 0, result.output
        expected = committed.read_text()
        if name.endswith("four-boxes"):  # the script then appends the report's "verify" object (add_verify)
            data = json.loads(expected)
            del data["verify"]
            expected = dump_case(data)
        assert out.read_text() == expected


def test_vnnlib_and_lower_upper_boxes(tmp_path):
    lines = [f"(declare-const X_{i} Real)" for i in range(64)]
    lines += [f"(assert (and (>= X_{i} 0.25) (<= X_{i} 0.5)))" for i in range(64)]
    (tmp_path / "p.vnnlib").write_text("\n".join(lines))
    result = run("case", MODELS / f"{DIGITS}.onnx", "--vnnlib", tmp_path / "p.vnnlib", "-o", tmp_path / "v.json")
    assert result.exit_code == 0, result.output
    (box,) = load_case(tmp_path / "v.json", layered=True).boxes
    assert set(box.lower) == {0.25} and set(box.upper) == {0.5}
    np.save(tmp_path / "lo.npy", np.zeros(64))
    np.save(tmp_path / "hi.npy", np.full(64, 0.125))
    result = run("case", MODELS / f"{DIGITS}.onnx", "--lower", tmp_path / "lo.npy", "--upper", tmp_path / "hi.npy",
                 "-o", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    assert set(load_case(tmp_path / "b.json", layered=True).box.upper) == {0.125}


@pytest.fixture
def files(tmp_path):
    """Small model files with something wrong, and centers."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 3))
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    torch.save(module, tmp_path / "whole.pt")
    with torch.no_grad():
        module[2].bias[0] = float("nan")
    safetensors_torch.save_file(module.state_dict(), str(tmp_path / "nan.safetensors"))
    conv = nn.Sequential(nn.Conv1d(1, 1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(conv, (torch.zeros(1, 1, 3),), str(tmp_path / "conv.onnx"), dynamo=False)
    np.save(tmp_path / "c3.npy", np.zeros(3, dtype=np.float32))
    np.save(tmp_path / "c4.npy", np.zeros(4, dtype=np.float32))
    (tmp_path / "model.h5").write_bytes(b"")
    return tmp_path


CLI_REFUSALS = [
    (["missing.onnx", "--center", "c3.npy", "--radius", "0.1"], "error: missing.onnx: no such file"),
    (["conv.onnx", "--center", "c3.npy", "--radius", "0.1"],
     r"error: conv.onnx: node '/0/Conv' \(Conv\) is not supported; verifae reads Gemm, MatMul, Add"),
    (["sd.pt", "--activations", "relu", "--split", "1", "--center", "c3.npy", "--radius", "0.1"],
     r"error: sd.pt: got 1 activations for 2 dense layers \(0, 2\); give one per layer, 'none' for no activation"),
    (["sd.pt", "--activations", "relu,none", "--split", "1", "--center", "c4.npy", "--radius", "0.1"],
     r"error: --center c4.npy has 4 values per row, but the model's input_dim is 3"),
    (["whole.pt", "--activations", "relu,none", "--split", "1", "--center", "c3.npy", "--radius", "0.1"],
     r"error: whole.pt: torch.load\(weights_only=True\) refused the file \(Unsupported global: GLOBAL "
     r"torch.nn.modules.container.Sequential\); verifae reads state_dicts"),
    (["nan.safetensors", "--activations", "relu,none", "--split", "1", "--center", "c3.npy", "--radius", "0.1"],
     r"error: nan.safetensors: 2.bias\[0\] is nan: NaN and infinite weights describe no model"),
    (["sd.pt", "--center", "c3.npy", "--radius", "0.1"],
     r"error: sd.pt: a state_dict file holds weights only: give the activations, one per dense layer"),
    (["sd.pt", "--activations", "relu,none", "--center", "c3.npy", "--radius", "0.1"],
     r"error: sd.pt: the model has 2 dense layers and nothing names its encoder and decoder: say where the "
     r"encoder ends with --split N"),
    (["sd.pt", "--activations", "relu,none", "--split", "0", "--center", "c3.npy", "--radius", "0.1"],
     r"error: --split must be at least 1, got 0"),
    (["sd.pt", "--activations", "relu,none", "--split", "1"], r"error: give the input box one way"),
    (["model.h5", "--center", "c3.npy", "--radius", "0.1"],
     r"error: model.h5: unknown model file type '.h5'; verifae reads .onnx, .safetensors, .pt, .pth, .bin"),
    (["conv.onnx", "--activations", "relu", "--center", "c3.npy", "--radius", "0.1"],
     r"error: conv.onnx: an ONNX file holds its activations; --activations is for weight-only files"),
]


@pytest.mark.parametrize("args, message", CLI_REFUSALS)
def test_bad_input_exits_2_with_one_clear_line(files, monkeypatch, args, message):
    monkeypatch.chdir(files)
    result = run("case", *args, "-o", "out.json")
    assert result.exit_code == 2, result.output
    assert re.match(message, result.output), result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not (files / "out.json").exists()


def test_the_output_folder_must_exist(files, monkeypatch):
    monkeypatch.chdir(files)
    result = run("case", "sd.pt", "--activations", "relu,none", "--split", "1", "--center", "c3.npy", "--radius",
                 "0.1", "-o", "nowhere/out.json")
    assert result.exit_code == 2 and result.output == ("error: cannot write nowhere/out.json: folder nowhere does "
                                                       "not exist\n")


def test_a_missing_package_exits_5(files, monkeypatch):
    import sys

    monkeypatch.chdir(files)
    shutil.copy(MODELS / f"{DIGITS}.safetensors", files / "m.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import safetensors raises ImportError
    result = run("case", "m.safetensors", "--activations", ACTS, "--center", "c3.npy", "--radius", "0.1",
                 "-o", "out.json")
    assert result.exit_code == 5
    assert result.output == ("error: reading this model needs the 'safetensors' package: "
                             "pip install 'verifae[safetensors]'\n")
