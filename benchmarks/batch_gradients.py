"""enclose_many with gradients against the plain numpy batch, side by side in one process.

    OMP_NUM_THREADS=1 python benchmarks/batch_gradients.py [CASE.json] [--boxes 1000] [--repeat 5]

On the case's model (default: the 784-64-784 tanh case) and B boxes of the case's width
around points near its centre: the plain float64 numpy forward and backward pass of the
B centres (with the summed weight gradients Gᵀ H and dZᵀ X, as a training step forms
them; and without them), then `enclose_many` (fast backend, interval) asking for the
output, E and every gradient with each `weight_gradients` mode, and `iter_enclose_many`
streaming the per-box weight gradients. Runs are interleaved round by round; each time
is the median over the rounds, each ratio is against the plain pass with the summed
weight gradients.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from verifae import enclose_many
from verifae.api import iter_enclose_many
from verifae.cases import load_case
from verifae.errors import UnsupportedError

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--boxes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tightness", action="store_true",
                        help="also compare the widths of 'factor-hull' with those of 'hull'")
    args = parser.parse_args()
    case = load_case(args.case)
    spec, box = case.spec, case.box
    d = spec.input_dim
    W_enc, b_enc = spec.float64("W_enc")[0], spec.float64("b_enc")[0]
    W_dec, b_dec = spec.float64("W_dec")[0], spec.float64("b_dec")[0]
    if spec.activation_name != "tanh":
        raise SystemExit("the plain pass here is written for tanh")
    rng = np.random.default_rng(0)
    centre = np.array([float(q) for q in box.center])
    X = np.clip(centre + 0.05 * rng.normal(size=(args.boxes, d)), 0, 1)
    eps = float(max(hi - lo for lo, hi in zip(box.lower, box.upper))) / 2
    boxes = (X - eps, X + eps)

    def plain(weights: bool) -> Callable[[], None]:
        def run() -> None:
            Z = X @ W_enc.T + b_enc
            H = np.tanh(Z)
            G = (2 / d) * (H @ W_dec.T + b_dec - X)
            dZ = (G @ W_dec) * (1 - H * H)
            dX = dZ @ W_enc
            db = G.sum(axis=0), dZ.sum(axis=0)
            if weights:
                dW = G.T @ H, dZ.T @ X
            del dX, db
            if weights:
                del dW
        return run

    wanted = ("output", "reconstruction_error", "gradients")

    def many(mode: str, semantics: str = "real") -> Callable[[], None]:
        return lambda: enclose_many(spec, boxes, backend="fast", quantities=wanted, weight_gradients=mode,
                                    semantics=semantics)

    def streamed() -> None:
        for _ in iter_enclose_many(spec, boxes, backend="fast", quantities=wanted):
            pass

    runs: dict[str, Callable[[], None]] = {
        "plain batch, fwd + bwd with summed dW": plain(True),
        "plain batch, fwd + bwd without dW": plain(False),
        "output + E only": lambda: enclose_many(spec, boxes, backend="fast",
                                                 quantities=("output", "reconstruction_error")),
        "b-grads + dX (weight_gradients='none')": many("none"),
        "summed dW (weight_gradients='sum')": many("sum"),
        "mean dW (weight_gradients='mean')": many("mean"),
        "hull of dW (weight_gradients='hull')": many("hull"),
        "factors' hull (weight_gradients='factor-hull')": many("factor-hull"),
        "per-box dW, streamed (iter_enclose_many)": streamed,
        "b-grads + dX, float32 semantics": many("none", "float32"),
        "summed dW, float32 semantics": many("sum", "float32"),
    }
    for name, f in list(runs.items()):  # warm-up: converts the parameters once per spec
        try:
            f()
        except UnsupportedError:  # a mode an older checkout (--compare runs) does not have
            del runs[name]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, f in runs.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["plain batch, fwd + bwd with summed dW"])
    print(f"{Path(args.case).name}: {spec.hidden_dim} hidden, d = {d}, {args.boxes} boxes, "
          f"median of {args.repeat} interleaved rounds")
    print(f"| {'run':<44} | {'median':>9} | {'ratio':>7} |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 9}|")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"| {name:<44} | {m * 1e3:7.1f} ms | {m / base:6.1f}× |")
    if args.tightness:
        exact, factors = (enclose_many(spec, boxes, backend="fast", quantities=("gradients",), weight_gradients=mode)
                          for mode in ("hull", "factor-hull"))
        for name in ("W_enc", "W_dec"):
            width = {k: e.gradients[name][..., 1] - e.gradients[name][..., 0]
                     for k, e in (("hull", exact), ("factor-hull", factors))}
            ratio = width["factor-hull"] / np.maximum(width["hull"], np.finfo(float).tiny)
            print(f"{name}: factor-hull width / hull width: summed over entries "
                  f"{width['factor-hull'].sum() / width['hull'].sum():.4f}, median {np.median(ratio):.4f}, "
                  f"90th percentile {np.percentile(ratio, 90):.4f}, max {ratio.max():.4f}")


if __name__ == "__main__":
    main()
