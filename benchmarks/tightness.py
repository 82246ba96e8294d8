"""Tightness of each method: enclosure width over the width of the true range.

    pip install '.[cases]' && python benchmarks/tightness.py [--centres 3] [--quick]

Models: 8-3-8 (random), 64-16-64 (trained on scikit-learn's digits by
cases/scripts/train_digits.py, one per activation) and 784-64-784 (N(0,1)/sqrt(fan_in)
weights), each with relu, sigmoid and tanh. Boxes: L∞ radius eps = 0.001, 0.01, 0.1
around several centres. The true range lies between an inner estimate and the
enclosure; the inner estimate is the hull of the values at uniform samples, corners
(d <= 10) and the points a projected sign-gradient ascent reaches toward each
output's maximum and minimum and the error's maximum (verifae.check's sampler).

Reported per model, activation, eps and method (real semantics): the median and
worst output width ratio (enclosure width / inner width, per coordinate), the ratio
of the reconstruction-error upper bound to the inner maximum, the median width ratio
of each MSE gradient (db_dec = g, db_enc = dZ, dX, dW_enc, dW_dec; their inner
estimate adds an ascent toward each coordinate's extremes of g, dZ and dX), and the
time per box.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np

from verifae import AutoencoderSpec, Box, enclose
from verifae.backends import get_backend
from verifae.check import _ascent_points, sample_points
from verifae.methods import MSE, interval_propagation
from verifae.model import GRADIENT_NAMES, forward, parameters, reconstruction_error

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("interval", "linear", "mean-value", "bisect", "auto")
EPS = (0.001, 0.01, 0.1)


def random_model(d: int, h: int, act: str, seed: int) -> AutoencoderSpec:
    rng = np.random.default_rng(seed)
    f = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731 - float32 weights, as PyTorch holds them
    return AutoencoderSpec(f(rng.normal(size=(h, d)) / np.sqrt(d)), f(0.01 * rng.normal(size=h)),
                           f(rng.normal(size=(d, h)) / np.sqrt(h)), f(0.01 * rng.normal(size=d)), act)


def digits_models(quick: bool):
    spec_ = importlib.util.spec_from_file_location("train_digits", ROOT / "cases" / "scripts" / "train_digits.py")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    from sklearn.datasets import load_digits

    X = load_digits().data / 16.0
    for act in ("relu", "sigmoid", "tanh"):
        p = module.train(X[:1500], act, steps=300 if quick else 1500)
        yield act, AutoencoderSpec(p["W_enc"], p["b_enc"], p["W_dec"], p["b_dec"], act), X[1500:]


def inner_ranges(spec: AutoencoderSpec, box: Box, samples: int) -> tuple[np.ndarray, float]:
    """Per-output [min, max] and the max error over sampled and ascent points (float64):
    an ascent toward every output's maximum and minimum, and the error's maximum."""
    B = get_backend("float64")
    p = parameters(B, spec)
    sampled, _ = sample_points(spec, box, samples, seed=1, p64=p)
    lo = np.array([float(q) for q in box.lower])
    hi = np.array([float(q) for q in box.upper])
    ascent = _ascent_points(spec, p, lo, hi, 2 * spec.input_dim + 1, np.random.default_rng(2))
    points = np.concatenate([sampled, ascent])
    out = forward(B, p, points).output
    err = reconstruction_error(B, out, points)
    return np.stack([out.min(0), out.max(0)], -1), float(err.max())


def _second_derivative(act: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """act''(z) from a = act(z) (relu: 0 almost everywhere)."""
    if act == "tanh":
        return -2 * a * (1 - a * a)
    if act == "sigmoid":
        return a * (1 - a) * (1 - 2 * a)
    return np.zeros_like(z)


def _gradient_targets(spec: AutoencoderSpec, p, X: np.ndarray, kind: np.ndarray, index: np.ndarray) -> np.ndarray:
    """At each row of X, the gradient with respect to x of one coordinate of one MSE
    gradient: kind 0 = g_i (db_dec), 1 = dZ_i (db_enc), 2 = dX_i (input)."""
    d = spec.input_dim
    B = get_backend("float64")
    Z = X @ p.W_enc.T + p.b_enc
    A = B.activation(spec.activation, Z)
    a1 = B.activation_derivative(spec.activation, Z)
    a2 = _second_derivative(spec.activation, Z, A)
    r = A @ p.W_dec.T + p.b_dec - X
    dH = (2 / d) * r @ p.W_dec
    C = p.W_dec.T @ p.W_dec
    # every target as a weight vector v over the hidden units (and an identity part for g)
    V = np.zeros((len(X), spec.hidden_dim))
    rows = np.arange(len(X))
    g_rows, z_rows, x_rows = rows[kind == 0], rows[kind == 1], rows[kind == 2]
    # ∇g_i = (2/d)((W_dec[i] ∘ act') W_enc − e_i)
    grad = np.zeros((len(X), d))
    grad[g_rows] = (2 / d) * ((p.W_dec[index[g_rows]] * a1[g_rows]) @ p.W_enc)
    grad[g_rows, index[g_rows]] -= 2 / d
    # ∇(vᵀdZ) = (v∘act''∘dH) W_enc + (2/d)(((v∘act') C) ∘ act') W_enc − (2/d)(v∘act') W_decᵀ,
    # with v = e_i for dZ_i and v = W_enc[:, i] for dX_i
    V[z_rows, index[z_rows]] = 1.0
    V[x_rows] = p.W_enc[:, index[x_rows]].T
    both = np.concatenate([z_rows, x_rows])
    v, s1, s2, h = V[both], a1[both], a2[both], dH[both]
    grad[both] = ((v * s2 * h) + (2 / d) * ((v * s1) @ C) * s1) @ p.W_enc - (2 / d) * (v * s1) @ p.W_dec.T
    return grad


def inner_gradient_ranges(spec: AutoencoderSpec, box: Box, samples: int) -> dict[str, np.ndarray]:
    """Per-entry [min, max] of every MSE gradient over sampled points and a projected
    sign-gradient ascent toward each coordinate's maximum and minimum of db_dec, db_enc
    and dX (6 steps, halving); the weight gradients (outer products of those with x and
    hid) take their hull over all of these points."""
    B = get_backend("float64")
    p = parameters(B, spec)
    d, h = spec.input_dim, spec.hidden_dim
    lo = np.array([float(q) for q in box.lower])
    hi = np.array([float(q) for q in box.upper])
    sampled, _ = sample_points(spec, box, samples, seed=1, p64=p)
    kind = np.repeat([0, 1, 2], [d, h, d])
    index = np.concatenate([np.arange(d), np.arange(h), np.arange(d)])
    kind, index = np.tile(kind, 2), np.tile(index, 2)
    sign = np.repeat([1.0, -1.0], len(kind) // 2)
    X = np.tile((lo + hi) / 2, (len(kind), 1))
    step = (hi - lo) / 2
    with np.errstate(all="ignore"):
        for _ in range(6):
            grad = sign[:, None] * _gradient_targets(spec, p, X, kind, index)
            X = np.clip(X + step * np.sign(np.nan_to_num(grad)), lo, hi)
            step = step / 2
    points = np.concatenate([sampled, X])
    q = interval_propagation(B, p, points, MSE)
    return {name: np.stack([t.min(0), t.max(0)], -1) for name, t in zip(GRADIENT_NAMES, q.gradients)}


GRADIENT_COLUMNS = ("b_dec", "b_enc", "input", "W_enc", "W_dec")


def _median_ratio(enclosure: np.ndarray, inner: np.ndarray) -> float:
    inner_width = inner[..., 1] - inner[..., 0]
    keep = inner_width > 1e-12
    return float(np.median((enclosure[..., 1] - enclosure[..., 0])[keep] / inner_width[keep])) if keep.any() else 1.0


def measure(spec: AutoencoderSpec, box: Box, samples: int) -> dict[str, tuple]:
    inner, err_max = inner_ranges(spec, box, samples)
    inner_grads = inner_gradient_ranges(spec, box, samples) if spec.hidden_dim else None
    inner_width = inner[:, 1] - inner[:, 0]
    keep = inner_width > 1e-12
    found = {}
    for method in METHODS:
        if method == "bisect" and spec.input_dim > 64:
            continue  # bisection is for low dimensions
        start = time.perf_counter()
        e = enclose(spec, box, method=method)
        seconds = time.perf_counter() - start
        ratio = (e.output[:, 1] - e.output[:, 0])[keep] / inner_width[keep]
        grads = tuple(_median_ratio(e.gradients[n], inner_grads[n]) for n in GRADIENT_COLUMNS) if inner_grads else ()
        found[method] = (float(np.median(ratio)), float(ratio.max()), e.reconstruction_error[1] / err_max, seconds,
                         grads)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=3)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="fewer training steps, one centre")
    args = parser.parse_args()
    centres = 1 if args.quick else args.centres
    rng = np.random.default_rng(0)
    models = []
    for act in ("relu", "sigmoid", "tanh"):
        models.append(("8-3-8", act, random_model(8, 3, act, 8), rng.random((centres, 8))))
    for act, spec, held_out in digits_models(args.quick):
        models.append(("64-16-64", act, spec, held_out[:centres]))
    for act in ("relu", "sigmoid", "tanh"):
        models.append(("784-64-784", act, random_model(784, 64, act, 784), rng.random((centres, 784))))
    print("| model | act | eps | method | output median | output worst | error upper / inner max "
          "| db_dec | db_enc | dX | dW_enc | dW_dec | ms/box |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, act, spec, centre_points in models:
        for eps in EPS:
            rows: dict[str, list[tuple]] = {m: [] for m in METHODS if m != "bisect" or spec.input_dim <= 64}
            for c in centre_points:
                box = Box(np.clip(c - eps, 0, 1), np.clip(c + eps, 0, 1))
                for method, values in measure(spec, box, args.samples).items():
                    rows[method].append(values)
            for method, values in rows.items():
                med = statistics.median(v[0] for v in values)
                worst = max(v[1] for v in values)
                err = statistics.median(v[2] for v in values)
                ms = 1000 * statistics.median(v[3] for v in values)
                grads = " | ".join(f"{statistics.median(v[4][k] for v in values):.2f}"
                                   for k in range(len(GRADIENT_COLUMNS)))
                print(f"| {name} | {act} | {eps} | {method} | {med:.3f} | {worst:.3f} | {err:.3f} | {grads} "
                      f"| {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
