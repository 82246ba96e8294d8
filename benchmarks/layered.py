"""Tightness and speed of each method on layered autoencoders.

    OMP_NUM_THREADS=1 python benchmarks/layered.py [--quick] [--models small,digits,large]

Models (each `LayeredSpec`, float32 weights as PyTorch holds them):

- `small`: 16-12-6-12-16, mixed activations (tanh, elu, leaky_relu, relu, sigmoid
  output), N(0,1)/sqrt(fan_in) weights;
- `digits`: 64-32-8-32-64, relu hidden layers and a sigmoid output, trained on
  scikit-learn's digits (`cases/digits-layered-64-32-8-32-64-eps0.02.json` when it
  exists, else random weights of that shape, said in the output);
- `large`: 784-256-64-256-784, relu hidden layers and a sigmoid output, random weights.

Boxes: L∞ radius eps around centres in [0, 1] (the digits model: its case's centre).
The true range of each output lies between an inner estimate and the enclosure; the
inner estimate is the hull of the float64 values at the centre, uniform samples,
corners of random faces and the points a projected sign-gradient ascent reaches
toward the maximum and minimum of some outputs and the maximum of E. Reported per
model, eps and method (real semantics): the median and worst output width ratio
(enclosure width / inner width, per coordinate), the ratio E upper bound / inner max
of E, and the time per box against a plain numpy float64 forward+backward of one
point, timed side by side in this process (medians).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from verifae import Box, LayeredSpec, enclose_layered
from verifae.cases import load_case
from verifae.errors import UnsupportedError

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("interval", "linear", "mean-value", "bisect", "auto")


def _f32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32).astype(np.float64)


def random_model(sizes: tuple[int, ...], acts: tuple[str | dict, ...], n_encoder: int, seed: int) -> LayeredSpec:
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        W = _f32(rng.normal(size=(n_out, n_in)) / np.sqrt(n_in))
        b = _f32(0.01 * rng.normal(size=n_out))
        layers.append((W, b, acts[k]))
    return LayeredSpec(layers[:n_encoder], layers[n_encoder:])


def float64_parameters(spec: LayeredSpec) -> list[tuple[np.ndarray, np.ndarray, object]]:
    return [(layer.float64("weight")[0], layer.float64("bias")[0], layer.activation) for layer in spec.layers]


def run(params, X: np.ndarray, g_out: np.ndarray | None = None):
    """Plain numpy float64 forward (batched over rows of X) and, if g_out is given, the
    gradient of sum(g_out · x_hat) with respect to x; else of E."""
    a, saved = X, []
    for W, b, act in params:
        z = a @ W.T + b
        saved.append(z)
        a = z if act is None else act.point(z, np.float64)
    x_hat = a
    g = g_out if g_out is not None else 2.0 * (x_hat - X) / X.shape[1]
    gy = g
    for (W, _, act), z in zip(reversed(params), reversed(saved)):
        dz = gy if act is None else gy * act.point_derivative(z, np.float64)
        gy = dz @ W
    if g_out is None:
        gy = gy - g  # E depends on x directly too
    return x_hat, gy


def inner_points(params, lo: np.ndarray, hi: np.ndarray, rng, samples: int, targets: int, steps: int) -> np.ndarray:
    d = len(lo)
    centre = (lo + hi) / 2
    pts = [centre[None, :], rng.uniform(lo, hi, (samples, d))]
    faces = rng.uniform(lo, hi, (samples // 4, d))
    axis = rng.integers(0, d, len(faces))
    faces[np.arange(len(faces)), axis] = np.where(rng.random(len(faces)) < 0.5, lo[axis], hi[axis])
    pts.append(faces)
    step = (hi - lo) / 8
    for i in rng.choice(d, min(targets, d), replace=False):
        for sign in (1.0, -1.0):
            x = centre.copy()
            g = np.zeros((1, d))
            g[0, i] = sign
            for _ in range(steps):
                _, grad = run(params, x[None, :], g)
                x = np.clip(x + step * np.sign(grad[0]), lo, hi)
            pts.append(x[None, :])
    x = centre.copy()
    for _ in range(steps):  # toward the maximum of E
        _, grad = run(params, x[None, :])
        x = np.clip(x + step * np.sign(grad[0]), lo, hi)
    pts.append(x[None, :])
    return np.concatenate(pts)


def timed(f, repeat: int) -> tuple[float, object]:
    result = f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def models(names: list[str]):
    if "small" in names:
        acts = ("tanh", {"name": "elu", "alpha": "1"}, {"name": "leaky_relu", "negative_slope": "0.1"}, "sigmoid")
        yield "small 16-12-6-12-16", random_model((16, 12, 6, 12, 16), acts, 2, 1), None
    if "digits" in names:
        path = ROOT / "cases" / "digits-layered-64-32-8-32-64-eps0.02.json"
        if path.exists():
            case = load_case(path, layered=True)
            yield "digits 64-32-8-32-64 (trained)", case.spec, np.array([float(q) for q in case.boxes[0].center])
        else:
            acts = ("relu", "relu", "relu", "sigmoid")
            yield "digits-shaped 64-32-8-32-64 (random)", random_model((64, 32, 8, 32, 64), acts, 2, 2), None
    if "large" in names:
        acts = ("relu", "relu", "relu", "sigmoid")
        yield "large 784-256-64-256-784", random_model((784, 256, 64, 256, 784), acts, 2, 3), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, one repeat")
    parser.add_argument("--models", default="small,digits,large")
    parser.add_argument("--eps", default="0.001,0.01,0.1")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    repeat = 1 if args.quick else 3
    for label, spec, centre in models(args.models.split(",")):
        params = float64_parameters(spec)
        d = spec.input_dim
        if centre is None:
            centre = rng.uniform(0.2, 0.8, d)
        point = centre[None, :]
        t_plain, _ = timed(lambda: run(params, point), 20)
        acts = ",".join(layer.activation_name for layer in spec.layers)
        print(f"\n## {label}  ({acts})  plain float64 forward+backward of one point: {t_plain * 1e6:.0f} µs")
        print("| eps | method | output width ratio median | worst | E upper / inner max | time per box | × plain |")
        print("|---|---|---|---|---|---|---|")
        for eps in map(float, args.eps.split(",")):
            lo, hi = centre - eps, centre + eps
            box = Box(lo, hi)
            X = inner_points(params, lo, hi, rng, 64 if args.quick else 512, 4 if args.quick else 16,
                             10 if args.quick else 30)
            x_hat, _ = run(params, X)
            inner = x_hat.max(axis=0) - x_hat.min(axis=0)
            e_max = float((((x_hat - X) ** 2).mean(axis=1)).max())
            for method in args.methods.split(","):
                try:
                    t, e = timed(lambda: enclose_layered(spec, box, method=method), repeat)
                except UnsupportedError as exc:
                    print(f"| {eps} | {method} | n/a: {exc} | | | | |")
                    continue
                width = e.output[:, 1] - e.output[:, 0]
                ok = inner > 0
                ratio = width[ok] / inner[ok]
                print(f"| {eps} | {method} | {np.median(ratio):.3g} | {ratio.max():.3g} | "
                      f"{e.reconstruction_error[1] / e_max:.3g} | {t * 1e3:.1f} ms | {t / t_plain:.0f} |")


if __name__ == "__main__":
    main()
