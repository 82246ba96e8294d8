"""`verify` on whole datasets: verdicts and time per box at thresholds taken from the
reconstruction error of normal data, and what branch and bound adds over one pass.

    OMP_NUM_THREADS=1 python benchmarks/verify.py [--centres 8] [--timeout 3] [--max-parts 100]

Models: the digits layered 64-32-8-32-64 relu/sigmoid model and the v1 64-16-64 tanh
digits model (cases/), both trained on sklearn's 8×8 digits 0..1499, and the
784-64-784 tanh model of cases/large-784-64-784.json (random weights, no training).
Normal data: the held-out digits 1500..1796 (pixels k/16); for the 784 model the same
digits scaled up to 28×28 (each pixel repeated 4×4, 32×32 cropped to the centre
28×28). τ: the 50/90/99/100 % quantiles of E over the held-out set, from float64 runs.
Boxes: L∞ radius eps = 0.01 and 0.02 around the first `--centres` held-out digits,
clipped to [0, 1] (as `verifae case --center ... --clip 0 1` writes them).

For each model, eps and τ, the property `error<=τ` in the real semantics:

- one pass: `verify(..., max_parts=1)`: proved when one `linear` enclosure of the
  whole box proves it; violated when the counterexample search finds a point;
  otherwise unknown;
- branch and bound: `verify(..., max_parts=--max-parts, timeout=--timeout)`.

Printed per row: the counts proved / violated / unknown of each, and the median CPU
time per box (`time.process_time`, one process, OMP_NUM_THREADS=1, the two runs of a
box interleaved). The budgets bound each verdict; an unknown is the budget's verdict.
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from verifae import Box
from verifae.cases import load_case
from verifae.verify import parse_property, verify
from verifae.verify.runs import ModelRuns

CASES = Path(__file__).resolve().parent.parent / "cases"
MODELS = {
    "digits layered 64-32-8-32-64 (relu, sigmoid)": "digits-layered-64-32-8-32-64-eps0.02.json",
    "digits v1 64-16-64 (tanh)": "digits-64-16-64-eps0.01.json",
    "784-64-784 (tanh, random weights)": "large-784-64-784.json",
}
QUANTILES = (50, 90, 99, 100)
EPS = ("0.01", "0.02")


def held_out(dim: int) -> np.ndarray:
    """The held-out digits in [0, 1] (k/16, exact in float64), at 8×8 or scaled to 28×28."""
    from sklearn.datasets import load_digits

    X = load_digits().data[1500:] / 16.0
    if dim == 64:
        return X
    big = np.repeat(np.repeat(X.reshape(-1, 8, 8), 4, axis=1), 4, axis=2)[:, 2:30, 2:30]
    return big.reshape(len(X), dim)


def boxes(centres: np.ndarray, eps: str) -> list[Box]:
    r = Fraction(eps)
    out = []
    for c in centres:
        exact = [Fraction(float(v)) for v in c]
        out.append(Box([max(v - r, 0) for v in exact], [min(v + r, 1) for v in exact]))
    return out


def run(label: str, file: str, n: int, timeout: float, max_parts: int, one_pass_timeout: float) -> list[str]:
    spec = load_case(CASES / file, layered=True).spec
    data = held_out(spec.input_dim)
    E = ModelRuns(spec).values(parse_property("error<=0"), data, "float64")
    taus = {q: float(np.percentile(E, q)) for q in QUANTILES}
    rows = []
    for eps in EPS:
        box_list = boxes(data[:n], eps)
        for q, tau in taus.items():
            # τ: the quantile to 4 significant digits, an exact decimal
            t = f"{tau:.4g}"
            prop = f"error<={t}"
            counts = {"one pass": {"proved": 0, "violated": 0, "unknown": 0},
                      "B&B": {"proved": 0, "violated": 0, "unknown": 0}}
            seconds: dict[str, list[float]] = {"one pass": [], "B&B": []}
            parts: list[int] = []
            for box in box_list:
                for kind, budget in (("one pass", {"max_parts": 1, "timeout": one_pass_timeout}),
                                     ("B&B", {"max_parts": max_parts, "timeout": timeout})):
                    start = time.process_time()
                    result = verify(spec, box, [prop], semantics=("real",), **budget)
                    seconds[kind].append(time.process_time() - start)
                    v = result.boxes[0][0]["real"]
                    counts[kind][v.status] += 1
                    if kind == "B&B":
                        parts.append(v.parts)
            c1, c2 = counts["one pass"], counts["B&B"]
            rows.append(f"| {label} | {eps} | {q} % = {t} | {c1['proved']} / {c1['violated']} / {c1['unknown']} | "
                        f"{statistics.median(seconds['one pass']):.2f} | {c2['proved']} / {c2['violated']} / "
                        f"{c2['unknown']} | {statistics.median(seconds['B&B']):.2f} | {max(seconds['B&B']):.2f} | "
                        f"{statistics.median(parts):.0f} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--centres", type=int, default=8, help="Held-out digits used as box centres (64-d models).")
    parser.add_argument("--centres-784", type=int, default=4, help="Box centres for the 784 model.")
    parser.add_argument("--timeout", type=float, default=3.0, help="Seconds per branch-and-bound verdict.")
    parser.add_argument("--max-parts", type=int, default=100, help="Parts per branch-and-bound verdict.")
    parser.add_argument("--max-parts-784", type=int, default=10, help="Parts per verdict for the 784 model.")
    parser.add_argument("--timeout-784", type=float, default=20.0, help="Seconds per verdict for the 784 model.")
    parser.add_argument("--models", default="all", help="all, or a comma-separated list of 'layered', 'v1', '784'.")
    args = parser.parse_args()
    chosen = set(args.models.split(",")) if args.models != "all" else {"layered", "v1", "784"}
    print("| model | eps | τ (quantile of E) | one pass: proved / violated / unknown | s per box | "
          "B&B: proved / violated / unknown | s per box (median) | (max) | parts (median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (label, file), key in zip(MODELS.items(), ("layered", "v1", "784")):
        if key not in chosen:
            continue
        if key == "784":
            run(label, file, args.centres_784, args.timeout_784, args.max_parts_784, args.timeout_784)
        else:
            run(label, file, args.centres, args.timeout, args.max_parts, args.timeout)


if __name__ == "__main__":
    main()
