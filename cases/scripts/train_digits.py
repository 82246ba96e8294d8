"""Train the 64-16-64 tanh autoencoder of cases/ on scikit-learn's 8×8 digits.

    pip install scikit-learn && python cases/scripts/train_digits.py

`sklearn.datasets.load_digits` reads a file that ships inside scikit-learn (no
download). Pixels are scaled to [0, 1]. Plain numpy: full-batch Adam on the mean
squared reconstruction error, with the manual backward pass of design §1, seeded,
so the weights are reproducible. The weights are rounded to float32 (as a PyTorch
model holds them) and written into two cases: L∞ boxes of radius 0.01 and 0.05,
clipped to [0, 1], around the first held-out digit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

CASES = Path(__file__).resolve().parent.parent
SEED, HIDDEN, STEPS, LR = 0, 16, 3000, 0.01


ACT = {
    "tanh": (np.tanh, lambda H: 1 - H**2),
    "sigmoid": (lambda Z: 1 / (1 + np.exp(-Z)), lambda H: H * (1 - H)),
    "relu": (lambda Z: np.maximum(Z, 0), lambda H: (H > 0).astype(float)),
}


def train(X: np.ndarray, activation: str = "tanh", steps: int = STEPS) -> dict[str, np.ndarray]:
    """Full-batch Adam on the mean squared error; act' is computed from hid (valid for these three)."""
    act, dact = ACT[activation]
    rng = np.random.default_rng(SEED)
    n, d = X.shape
    p = {
        "W_enc": rng.normal(size=(HIDDEN, d)) / np.sqrt(d),
        "b_enc": np.zeros(HIDDEN),
        "W_dec": rng.normal(size=(d, HIDDEN)) / np.sqrt(HIDDEN),
        "b_dec": np.zeros(d),
    }
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    for step in range(1, steps + 1):
        Z = X @ p["W_enc"].T + p["b_enc"]
        H = act(Z)
        X_hat = H @ p["W_dec"].T + p["b_dec"]
        G = 2 * (X_hat - X) / (n * d)  # d(mean over samples of E)/d x_hat
        dZ = (G @ p["W_dec"]) * dact(H)
        grads = {"W_dec": G.T @ H, "b_dec": G.sum(0), "W_enc": dZ.T @ X, "b_enc": dZ.sum(0)}
        for k in p:  # Adam
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            p[k] -= LR * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
        if step % 500 == 0 and __name__ == "__main__":
            print(f"step {step}: mean squared error {np.mean((X_hat - X) ** 2):.5f}")
    return {k: val.astype(np.float32) for k, val in p.items()}


def main() -> None:
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float64)
    train_X, held_out = X[:1500], X[1500:]
    params = train(train_X)
    model = {"activation": "tanh", **{k: v.astype(np.float64).tolist() for k, v in params.items()}}
    center = held_out[0]
    label = int(digits.target[1500])
    for eps in ("0.01", "0.05"):
        lower = np.clip(center - float(eps), 0, 1)
        upper = np.clip(center + float(eps), 0, 1)
        case = {
            "name": f"digits-64-16-64-eps{eps}",
            "description": f"A 64-16-64 tanh autoencoder trained on sklearn's 8×8 digits "
            f"(cases/scripts/train_digits.py); L∞ box of radius {eps}, clipped to [0, 1], "
            f"around a held-out digit {label}.",
            "model": model,
            "input": {"lower": lower.tolist(), "upper": upper.tolist()},
            "grad_output": "mse",
        }
        (CASES / f"{case['name']}.json").write_text(json.dumps(case, indent=1) + "\n")


if __name__ == "__main__":
    main()
