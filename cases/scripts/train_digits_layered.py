"""Train a layered 64-32-8-32-64 autoencoder on scikit-learn's 8×8 digits with PyTorch,
export it to ONNX and safetensors, and write two cases from the files with `verifae case`.

    pip install 'verifae[torch,onnx,safetensors,cases]'
    python cases/scripts/train_digits_layered.py

`sklearn.datasets.load_digits` reads a file shipped inside scikit-learn (no download);
pixels are scaled to [0, 1] (k/16, exact in float32). The model is
`nn.Sequential(encoder=[Linear(64, 32), ReLU, Linear(32, 8), ReLU],
decoder=[Linear(8, 32), ReLU, Linear(32, 64), Sigmoid])`, trained by full-batch Adam on
the mean squared error, seeded, on one CPU thread with deterministic algorithms, so the
weights (and the committed files) are reproducible. Written:

- cases/models/digits-layered-64-32-8-32-64.onnx (PyTorch's TorchScript-based exporter,
  which needs no further package; opset 17) and .safetensors (the state_dict);
- cases/models/digits-test.npy: the first four held-out digits (float32, 4 × 64);
- cases/digits-layered-64-32-8-32-64-eps0.02.json: the first held-out digit, L∞ radius
  0.02 clipped to [0, 1], from the ONNX file;
- cases/digits-layered-64-32-8-32-64-four-boxes.json: the four digits, same radius, from
  the safetensors file with --activations, with a "verify" object (`VERIFY`): the
  verification section of `verifae report` decides `error<=0.05` over the four boxes
  and over the boxes of radius 0.005, 0.01 and 0.02 around the four digits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

CASES = Path(__file__).resolve().parent.parent
MODELS = CASES / "models"
NAME = "digits-layered-64-32-8-32-64"
ACTIVATIONS = "relu,relu,relu,sigmoid"
SEED, STEPS, LR, N_TRAIN = 0, 1000, 0.01, 1500
#: the four-box case's "verify" object, without its centers (the four digits)
VERIFY = {"properties": ["error<=0.05"], "semantics": ["real"], "timeout": "10", "max_parts": 20,
          "eps": ["0.005", "0.01", "0.02"], "clip": ["0", "1"]}


def build() -> torch.nn.Sequential:
    nn = torch.nn
    return nn.Sequential(OrderedDict(
        encoder=nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU()),
        decoder=nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid()),
    ))


def train(X: torch.Tensor, steps: int = STEPS) -> torch.nn.Sequential:
    torch.manual_seed(SEED)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), X)
        loss.backward()
        opt.step()
        if step % 500 == 0:
            print(f"step {step}: mean squared error {loss.item():.5f}")
    return model.eval()


def digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels in [0, 1] as float32, labels)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target


def main() -> None:
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    X, labels = digits()
    start = time.perf_counter()
    model = train(torch.from_numpy(X[:N_TRAIN]))
    print(f"trained in {time.perf_counter() - start:.1f} s")
    MODELS.mkdir(exist_ok=True)
    onnx_path, st_path = MODELS / f"{NAME}.onnx", MODELS / f"{NAME}.safetensors"
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 64),), str(onnx_path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["x_hat"])
    save_file(model.state_dict(), str(st_path))
    test = X[N_TRAIN:N_TRAIN + 4]
    np.save(MODELS / "digits-test.npy", test)
    shown = ", ".join(str(int(v)) for v in labels[N_TRAIN:N_TRAIN + 4])
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "first.npy"
        np.save(first, test[:1])
        verifae = [sys.executable, "-m", "verifae", "case"]
        box = ["--radius", "0.02", "--clip", "0", "1"]
        subprocess.run([*verifae, str(onnx_path), "--center", str(first), *box,
                        "--description", f"A 64-32-8-32-64 relu autoencoder with a sigmoid output, trained with "
                        f"PyTorch on sklearn's 8×8 digits (cases/scripts/train_digits_layered.py), read from its "
                        f"ONNX export; L∞ box of radius 0.02, clipped to [0, 1], around a held-out digit "
                        f"{labels[N_TRAIN]}.",
                        "-o", str(CASES / f"{NAME}-eps0.02.json")], check=True)
        subprocess.run([*verifae, str(st_path), "--activations", ACTIVATIONS,
                        "--center", str(MODELS / "digits-test.npy"), *box,
                        "--description", f"The 64-32-8-32-64 digits autoencoder of "
                        f"cases/scripts/train_digits_layered.py, read from its safetensors file; four L∞ boxes of "
                        f"radius 0.02, clipped to [0, 1], around held-out digits {shown}.",
                        "-o", str(CASES / f"{NAME}-four-boxes.json")], check=True)
    add_verify(CASES / f"{NAME}-four-boxes.json", test)


def add_verify(case: Path, centers: np.ndarray) -> None:
    """Append `VERIFY` with the centers (exact decimals of the float32 pixels) to a case file."""
    from decimal import Decimal

    from verifae.importers.cli import dump_case

    data = json.loads(case.read_text())
    data["verify"] = {**VERIFY, "centers": [[str(Decimal(float(v))) for v in row] for row in centers]}
    case.write_text(dump_case(data))


if __name__ == "__main__":
    main()
