"""Speed of the rigorous backends against a plain numpy float64 run, side by side.

    python benchmarks/speed.py [CASE.json] [--boxes 1000]

On the case's model (default: the 784-64-784 tanh case): the plain float64 forward
and backward pass of one point and of a batch; `enclose` of one box with arb at 53 bits
(all quantities; real, float64 and float32 semantics), mpmath (all quantities, real
semantics) and fast (all quantities; real, float64 and float32 semantics); `enclose_many`
of many boxes with fast (outputs and reconstruction error). Each time is the median of
several runs after a warm-up (which converts the parameters once per spec).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from verifae import enclose, enclose_many
from verifae.backends import get_backend
from verifae.cases import load_case
from verifae.model import backward, forward, mse_grad_output, parameters, reconstruction_error

ROOT = Path(__file__).resolve().parent.parent


def timed(f, repeat: int) -> float:
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "large-784-64-784.json"))
    parser.add_argument("--boxes", type=int, default=1000)
    args = parser.parse_args()
    case = load_case(args.case)
    spec, box = case.spec, case.box
    d = spec.input_dim
    B = get_backend("float64")
    p = parameters(B, spec)
    x = np.array([float(q) for q in box.center])
    rng = np.random.default_rng(0)
    X = np.clip(x + 0.05 * rng.normal(size=(args.boxes, d)), 0, 1)
    eps = float(max(hi - lo for lo, hi in zip(box.lower, box.upper))) / 2

    def plain(points):
        f = forward(B, p, points)
        backward(B, p, points, f, mse_grad_output(B, f.output, points, d))

    def plain_forward(points):
        f = forward(B, p, points)
        reconstruction_error(B, f.output, points)

    rows = [
        ("numpy float64 forward+backward, 1 point", timed(lambda: plain(x), 200), None),
        (f"numpy float64 forward+error, {args.boxes} points", timed(lambda: plain_forward(X), 20), None),
        (f"numpy float64 forward+backward, {args.boxes} points",
         timed(lambda: [plain(X[i:i + 50]) for i in range(0, len(X), 50)], 3), None),
    ]
    base_one, base_batch = rows[0][1], rows[1][1]
    # arb at 53 bits, one box, every quantity (issue 14 target: <= 30 ms), and its float semantics
    for semantics in ("real", "float64", "float32"):
        t = timed(lambda semantics=semantics: enclose(spec, box, backend="arb", precision=53, method="interval",
                                                      semantics=semantics), 15)
        rows.append((f"enclose, 1 box, all quantities, arb 53 bits, {semantics}", t, t / base_one))
    t = timed(lambda: enclose(spec, box, backend="mpmath", method="interval"), 3)
    rows.append(("enclose, 1 box, all quantities, mpmath", t, t / base_one))
    # fast, one box, every quantity (issue 14 target: <= 4x the plain run), and its float semantics
    for semantics in ("real", "float64", "float32"):
        t = timed(lambda semantics=semantics: enclose(spec, box, backend="fast", method="interval",
                                                      semantics=semantics), 50)
        rows.append((f"enclose, 1 box, all quantities, fast, {semantics}", t, t / base_one))
    lower, upper = X - eps, X + eps
    t = timed(lambda: enclose_many(spec, (lower, upper), backend="fast",
                                   quantities=("output", "reconstruction_error")), 3)
    rows.append((f"enclose_many, {args.boxes} boxes, output+error, fast", t, t / base_batch))
    print(f"{case.name}: {d}-{spec.hidden_dim}-{d} {spec.activation}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'what':<58}{'time':>12}{'ratio':>10}")
    for what, t, ratio in rows:
        print(f"{what:<58}{t * 1000:>10.2f} ms{'' if ratio is None else f'{ratio:>9.1f}x'}")


if __name__ == "__main__":
    main()
