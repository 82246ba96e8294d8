"""CROWN for layered models: tightness and time per box, fixed slopes against α.

    OMP_NUM_THREADS=1 python benchmarks/crown.py [--quick] [--no-large]

Models (seeded, weights N(0, 1)/sqrt(fan_in), biases N(0, 0.1²)):

- 784-64-784, relu then no activation (one hidden layer, MNIST scale): the case the
  issue quotes "3–11% tighter with optimised slopes" for;
- 64-32-8-32-64, relu, relu, relu, no activation;
- 784-256-64-256-784, relu, relu, relu, sigmoid output (time per box).

Boxes: L∞ radius eps around a centre uniform in [0, 1]^d. For each model and eps, in
the real semantics: the median output width of interval propagation, CROWN and α-CROWN
(`crown_bounds(..., alpha=True)`), each over the sampled inner range (the hull of the
float64 outputs at the centre, uniform points and random corners of the box), the upper
bound of E over the sampled maximum, how often CROWN is tighter than interval
propagation (output coordinates), and the median CPU time per box of each (process_time: the
machine may be shared; interleaved runs, one process, one thread).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from fractions import Fraction  # noqa: E402

import numpy as np  # noqa: E402

from verifae import Box, LayeredSpec  # noqa: E402
from verifae.methods.crown import crown_bounds, prepare_network  # noqa: E402


def random_model(sizes: list[int], acts: list[str | None], seed: int) -> tuple[LayeredSpec, list]:
    rng = np.random.default_rng(seed)
    layers, floats = [], []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts):
        W = rng.normal(0.0, 1.0, (n_out, n_in)) / np.sqrt(n_in)
        b = rng.normal(0.0, 0.1, n_out)
        layers.append((W.astype(object), b.astype(object), act))
        floats.append((W, b, act))
    k = len(layers) // 2 if len(layers) > 2 else 1
    return LayeredSpec(layers[:k], layers[k:]), floats


def forward(floats: list, x: np.ndarray) -> np.ndarray:
    a = x
    for W, b, act in floats:
        z = a @ W.T + b
        a = {None: lambda v: v, "relu": lambda v: np.maximum(v, 0.0),
             "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "tanh": np.tanh}[act](z)
    return a


def inner_range(floats: list, centre: np.ndarray, eps: float, samples: int, seed: int) -> tuple[np.ndarray, float]:
    """The hull of the outputs and the largest E over sampled points of the box."""
    rng = np.random.default_rng(seed)
    d = len(centre)
    points = [centre[None, :], centre + eps * rng.uniform(-1, 1, (samples, d)),
              centre + eps * rng.choice([-1.0, 1.0], (samples, d))]
    x = np.concatenate(points)
    out = forward(floats, x)
    hull = np.stack([out.min(axis=0), out.max(axis=0)], axis=-1)
    return hull, float(np.mean((out - x) ** 2, axis=1).max())


def width(b: np.ndarray) -> np.ndarray:
    return b[..., 1] - b[..., 0]


def run(name: str, sizes: list[int], acts: list[str | None], eps_list: list[float], repeats: int, samples: int,
        alpha: bool = True) -> None:
    spec, floats = random_model(sizes, acts, seed=sum(sizes))
    rng = np.random.default_rng(7)
    centre = rng.uniform(0.0, 1.0, sizes[0])
    for eps in eps_list:
        box = Box.around([Fraction(v) for v in centre], Fraction(eps))
        hull, e_max = inner_range(floats, centre, eps, samples, seed=11)
        inner = np.maximum(width(hull), 1e-300)
        times: dict[str, list[float]] = {"interval": [], "crown": [], "alpha": []}
        results: dict[str, dict] = {}
        crown_bounds(spec, box)  # parameters converted once, outside the timings
        for _ in range(repeats):
            t = time.process_time()
            net = prepare_network(spec, box, "real")
            times["interval"].append(time.process_time() - t)
            assert net is not None
            results["interval"] = {"output": net.B.bounds(net.interval_post[-1]),
                                   "reconstruction_error": net.B.bounds(net.interval_error)}
            for method in ("crown", "alpha") if alpha else ("crown",):
                t = time.process_time()
                r = crown_bounds(spec, box, alpha=(method == "alpha"))
                times[method].append(time.process_time() - t)
                assert r is not None
                results[method] = r
        print(f"\n{name}  eps={eps}  (inner estimate: {2 * samples + 1} points)")
        print(f"  {'method':<9} {'out width / inner (median)':>27} {'E upper / inner max':>20} {'CPU s/box':>13}")
        for method, r in results.items():
            ratio = np.median(width(r["output"]) / inner)
            e_up = float(np.asarray(r["reconstruction_error"]).reshape(-1)[-1])
            print(f"  {method:<9} {ratio:>27.4f} {e_up / e_max:>20.4f} {statistics.median(times[method]):>13.4f}")
        if "alpha" in results:
            w0, w1 = width(results["crown"]["output"]), width(results["alpha"]["output"])
            r0, r1 = width(results["crown"]["residual"]), width(results["alpha"]["residual"])
            e0, e1 = results["crown"]["reconstruction_error"][1], results["alpha"]["reconstruction_error"][1]
            print(f"  alpha vs fixed: output widths {100 * (1 - np.median(w1 / w0)):.1f}% tighter (median), "
                  f"{100 * (1 - w1.sum() / w0.sum()):.1f}% (total); residual {100 * (1 - r1.sum() / r0.sum()):.1f}% "
                  f"(total); E upper {100 * (1 - e1 / e0):.1f}%")
        wi, wc = width(results["interval"]["output"]), width(results["crown"]["output"])
        print(f"  CROWN tighter than interval on {np.mean(wc < wi) * 100:.0f}% of output coordinates, "
              f"median width ratio CROWN / interval {np.median(wc / np.maximum(wi, 1e-300)):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    parser.add_argument("--no-large", action="store_true", help="skip 784-256-64-256-784")
    args = parser.parse_args()
    repeats, samples = (1, 200) if args.quick else (3, 2000)
    run("64-32-8-32-64 relu", [64, 32, 8, 32, 64], ["relu", "relu", "relu", None], [0.01, 0.1], repeats, samples)
    run("784-64-784 relu", [784, 64, 784], ["relu", None], [0.01, 0.1], repeats, samples)
    if not args.no_large:
        run("784-256-64-256-784 relu/sigmoid", [784, 256, 64, 256, 784], ["relu", "relu", "relu", "sigmoid"],
            [0.01, 0.1], repeats, samples)


if __name__ == "__main__":
    main()
