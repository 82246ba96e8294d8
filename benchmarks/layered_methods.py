"""Tightness and time per box of the methods for layered models (real semantics).

    OMP_NUM_THREADS=1 python benchmarks/layered_methods.py [--centres 3] [--samples 3000]

Models: seeded 64-32-8-32-64 (N(0,1)/sqrt(fan_in) weights, float32 values as PyTorch
holds them), relu hidden layers with a sigmoid output, and tanh throughout with a
bare linear output. Boxes: L∞ radius eps = 0.01 and 0.1 around centres uniform in
[0, 1]^64. The inner estimate is the hull of float64 runs at uniform samples and at
random vertices of the box (the true range lies between it and the enclosure).

Per model, eps and method: the median output width over the interval method's and
over the inner estimate's, the E upper bound over the inner maximum, the median dX
(MSE gradient of the input) width over the interval method's and over the inner
estimate's, and the median CPU time per box (`time.process_time`, so that a shared
machine's load does not count; runs interleaved, one process, OMP_NUM_THREADS=1).

Then v1 specs viewed as layered ones (`LayeredSpec.from_v1`): layered "auto" (CROWN,
the mean-value form over layers and bisection for d <= 16) against v1's "auto" (linear
relaxation, mean-value form, bisection), the median ratio layered/v1 of the output,
E upper bound and dX widths.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from verifae import AutoencoderSpec, Box, LayeredSpec, enclose, enclose_layered

METHODS = ("interval", "linear", "mean-value", "bisect", "auto")


def layered_model(sizes: list[int], acts: list[str | None], seed: int) -> LayeredSpec:
    rng = np.random.default_rng(seed)
    f = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    layers = [(f(rng.normal(size=(o, i)) / np.sqrt(i)), f(0.01 * rng.normal(size=o)), a)
              for i, o, a in zip(sizes[:-1], sizes[1:], acts)]
    n = len(layers) // 2
    return LayeredSpec(layers[:n], layers[n:])


def numpy_runs(spec: LayeredSpec, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(output, E, dX for the MSE loss) of float64 runs at the rows of X."""
    a, zs, ws = X, [], []
    for layer in spec.layers:
        W, b = layer.float64("weight")[0], layer.float64("bias")[0]
        z = a @ W.T + b
        zs.append(z)
        ws.append(W)
        a = z if layer.activation is None else layer.activation.point(z, np.float64)
    r = a - X
    E = np.mean(r * r, axis=-1)
    gy = 2 * r / X.shape[-1]
    for layer, z, W in zip(reversed(spec.layers), reversed(zs), reversed(ws)):
        dz = gy if layer.activation is None else gy * layer.activation.point_derivative(z, np.float64)
        gy = dz @ W
    return a, E, gy


def inner(spec: LayeredSpec, c: np.ndarray, eps: float, n: int, rng) -> tuple[np.ndarray, float, np.ndarray]:
    X = np.concatenate([c + eps * rng.uniform(-1, 1, (n, len(c))), c + eps * rng.choice([-1.0, 1.0], (n, len(c)))])
    out, E, dX = numpy_runs(spec, X)
    width = lambda v: v.max(axis=0) - v.min(axis=0)  # noqa: E731
    return width(out), float(E.max()), width(dX)


def width(b: np.ndarray) -> np.ndarray:
    return b[..., 1] - b[..., 0]


def layered_table(centres: int, samples: int) -> None:
    models = {"relu+sigmoid": layered_model([64, 32, 8, 32, 64], ["relu", "relu", "relu", "sigmoid"], 0),
              "tanh": layered_model([64, 32, 8, 32, 64], ["tanh", "tanh", "tanh", None], 1)}
    rng = np.random.default_rng(7)
    print("model         eps   method      out/int  out/inner  E_up/inner  dX/int  dX/inner  ms/box")
    for name, spec in models.items():
        for eps in (0.01, 0.1):
            rows: dict[str, list] = {m: [] for m in METHODS}
            times: dict[str, list[float]] = {m: [] for m in METHODS}
            for _ in range(centres):
                c = rng.uniform(0, 1, 64)
                box = Box.around(c.tolist(), eps)
                in_out, in_E, in_dX = inner(spec, c, eps, samples, rng)
                found = {}
                for m in METHODS:  # interleaved per box
                    t = time.process_time()
                    found[m] = enclose_layered(spec, box, backend="fast", method=m,
                                               max_parts=16 if m == "bisect" else None)
                    times[m].append(time.process_time() - t)
                base = found["interval"]
                for m, e in found.items():
                    rows[m].append((np.median(width(e.output) / width(base.output)),
                                    np.median(width(e.output) / in_out),
                                    e.reconstruction_error[1] / in_E,
                                    np.median(width(e.gradients["input"]) / width(base.gradients["input"])),
                                    np.median(width(e.gradients["input"]) / in_dX)))
            for m in METHODS:
                cols = [statistics.median(v) for v in zip(*rows[m])]
                label = "bisect(16)" if m == "bisect" else m
                print(f"{name:13s} {eps:<5} {label:11s} {cols[0]:7.3f}  {cols[1]:9.3f}  {cols[2]:10.3f}  "
                      f"{cols[3]:6.3f}  {cols[4]:8.3f}  {1e3 * statistics.median(times[m]):6.1f}")


def v1_model(d: int, h: int, act: str, seed: int) -> AutoencoderSpec:
    rng = np.random.default_rng(seed)
    f = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    return AutoencoderSpec(f(rng.normal(size=(h, d)) / np.sqrt(d)), f(0.01 * rng.normal(size=h)),
                           f(rng.normal(size=(d, h)) / np.sqrt(h)), f(0.01 * rng.normal(size=d)), act)


def v1_table(centres: int) -> None:
    rng = np.random.default_rng(11)
    print("\nv1 spec as layers: layered auto / v1 auto (median over coordinates and centres)")
    print("model        act      eps   output  E_upper  dX")
    for d, h in ((8, 3), (64, 16)):
        for act in ("relu", "sigmoid", "tanh"):
            spec = v1_model(d, h, act, d + h)
            layered = LayeredSpec.from_v1(spec)
            for eps in (0.01, 0.1):
                ratios = []
                for _ in range(centres):
                    box = Box.around(rng.uniform(0, 1, d).tolist(), eps)
                    a = enclose(spec, box, backend="fast")
                    b = enclose_layered(layered, box, backend="fast")
                    ratios.append((np.median(width(b.output) / width(a.output)),
                                   b.reconstruction_error[1] / a.reconstruction_error[1],
                                   np.median(width(b.gradients["input"]) / width(a.gradients["input"]))))
                cols = [statistics.median(v) for v in zip(*ratios)]
                print(f"{d}-{h}-{d}{'':6s} {act:8s} {eps:<5} {cols[0]:6.3f}  {cols[1]:7.3f}  {cols[2]:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args()
    layered_table(args.centres, args.samples)
    v1_table(args.centres)


if __name__ == "__main__":
    main()
