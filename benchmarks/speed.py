"""Speed of the rigorous backends against a plain numpy float64 run, side by side.

    python benchmarks/speed.py [CASE.json] [--boxes 1000]

On the case's model (default: the 784-64-784 tanh case): the plain float64 forward
and backward pass of one point and of a batch; `enclose` of one box with arb at 53 bits
(all quantities; real, float64 and float32 semantics), mpmath (all quantities, real
semantics) and fast (all quantities; real, float64 and float32 semantics); `enclose_many`
of many boxes with fast (outputs and reconstruction error). Every run is warmed up once
(which converts the parameters once per spec); then the runs are interleaved round by
round (each round times every run once, a small run as the mean of a block of calls), so
that the plain runs and the rigorous ones see the same load, and each time is the median
over the rounds. Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from verifae import Box, LayeredSpec, enclose, enclose_many
from verifae.backends import get_backend
from verifae.cases import load_case
from verifae.layered import layered_backward, layered_forward, layered_parameters
from verifae.model import backward, forward, mse_grad_output, parameters, reconstruction_error

ROOT = Path(__file__).resolve().parent.parent


def interleaved(runs: dict[str, tuple[Callable[[], object], int]], rounds: int) -> dict[str, float]:
    """The median over `rounds` rounds of each run's time; a round times every run once,
    as the mean of `block` calls (small runs: a block lasts at least a few milliseconds)."""
    for f, _ in runs.values():
        f()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (f, block) in runs.items():
            start = time.perf_counter()
            for _ in range(block):
                f()
            times[name].append((time.perf_counter() - start) / block)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--boxes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--mpmath", action="store_true", help="also time mpmath (seconds per box)")
    parser.add_argument("--layered", metavar="SIZES",
                        help="a random layered model instead of the case, e.g. 784-256-64-256-784 (relu layers, "
                             "a sigmoid output), eps 0.01 around a random point of [0, 1]^d")
    args = parser.parse_args()
    B = get_backend("float64")
    if args.layered:
        sizes = [int(k) for k in args.layered.split("-")]
        rng = np.random.default_rng(1)
        layers = [(rng.normal(0.0, 1.0, (n_out, n_in)) / np.sqrt(n_in), rng.normal(0.0, 0.1, n_out), act)
                  for n_in, n_out, act in zip(sizes[:-1], sizes[1:], ["relu"] * (len(sizes) - 2) + ["sigmoid"])]
        k = len(layers) // 2 if len(layers) > 2 else 1
        spec = LayeredSpec(layers[:k], layers[k:])
        centre = rng.random(sizes[0])
        box, name = Box(centre - 0.01, centre + 0.01), f"random layered {args.layered}"
    else:
        case = load_case(args.case)
        spec, box, name = case.spec, case.box, case.name
    d = spec.input_dim
    x = np.array([float(q) for q in box.center])
    rng = np.random.default_rng(0)
    X = np.clip(x + 0.05 * rng.normal(size=(args.boxes, d)), 0, 1)
    eps = float(max(hi - lo for lo, hi in zip(box.lower, box.upper))) / 2

    if isinstance(spec, LayeredSpec):
        lp = layered_parameters(B, spec)

        def plain(points):
            f = layered_forward(B, lp, points)
            layered_backward(B, lp, points, f, mse_grad_output(B, f.output, points, d))

        def plain_forward(points):
            reconstruction_error(B, layered_forward(B, lp, points).output, points)
    else:
        p = parameters(B, spec)

        def plain(points):
            f = forward(B, p, points)
            backward(B, p, points, f, mse_grad_output(B, f.output, points, d))

        def plain_forward(points):
            f = forward(B, p, points)
            reconstruction_error(B, f.output, points)

    lower, upper = X - eps, X + eps
    one, batch = "numpy float64 forward+backward, 1 point", f"numpy float64 forward+error, {args.boxes} points"
    runs: dict[str, tuple[Callable[[], object], int]] = {
        one: (lambda: plain(x), 100),
        batch: (lambda: plain_forward(X), 5),
        f"numpy float64 forward+backward, {args.boxes} points":
            (lambda: [plain(X[i:i + 50]) for i in range(0, len(X), 50)], 1),
    }
    # arb at 53 bits, one box, every quantity (issue 14 target: <= 30 ms), and its float semantics
    for semantics in ("real", "float64", "float32"):
        runs[f"enclose, 1 box, all quantities, arb 53 bits, {semantics}"] = (
            lambda semantics=semantics: enclose(spec, box, backend="arb", precision=53, method="interval",
                                                semantics=semantics), 1)
    if args.mpmath:
        runs["enclose, 1 box, all quantities, mpmath"] = (
            lambda: enclose(spec, box, backend="mpmath", method="interval"), 1)
    # fast, one box, every quantity (issue 14 target: <= 4x the plain run), and its float semantics
    for semantics, block in (("real", 20), ("float64", 2), ("float32", 2)):
        runs[f"enclose, 1 box, all quantities, fast, {semantics}"] = (
            lambda semantics=semantics: enclose(spec, box, backend="fast", method="interval",
                                                semantics=semantics), block)
    runs[f"enclose_many, {args.boxes} boxes, output+error, fast"] = (
        lambda: enclose_many(spec, (lower, upper), backend="fast", quantities=("output", "reconstruction_error")),
        1)
    medians = interleaved(runs, args.rounds)
    base = {name: medians[batch] if "enclose_many" in name else medians[one] for name in medians}
    rows = [(name, t, None if name.startswith("numpy") else t / base[name]) for name, t in medians.items()]
    print(f"{name}: {spec}; load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.rounds} interleaved rounds")
    print(f"{'what':<58}{'time':>12}{'ratio':>10}")
    for what, t, ratio in rows:
        print(f"{what:<58}{t * 1000:>10.2f} ms{'' if ratio is None else f'{ratio:>9.1f}x'}")


if __name__ == "__main__":
    main()
