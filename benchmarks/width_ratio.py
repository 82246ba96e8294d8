"""Median width ratio of mpmath to arb enclosures at the same precision.

A random suite of small specs (seeded, every activation, d <= 6, h <= 4) and boxes
(narrow and wide). For every interval of every quantity whose arb width is positive,
the ratio width(mpmath) / width(arb) is recorded; the script prints the median and
quartiles per quantity and overall.

    python benchmarks/width_ratio.py [--cases 200] [--precision 53] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction

import numpy as np

from verifae import ACTIVATIONS, AutoencoderSpec, Box, enclose


def random_case(rng: np.random.Generator) -> tuple[AutoencoderSpec, Box]:
    d, h = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    act = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
    q = lambda shape: np.vectorize(lambda v: Fraction(int(v), 1000))(rng.integers(-2000, 2001, shape))  # noqa: E731
    spec = AutoencoderSpec(q((h, d)), q(h), q((d, h)), q(d), act)
    radius = Fraction(1, 100) if rng.random() < 0.5 else Fraction(1, 2)
    return spec, Box.around(list(q(d)), radius)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--precision", type=int, default=53)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    ratios: dict[str, list[float]] = {}
    times = {"arb": 0.0, "mpmath": 0.0}
    for _ in range(args.cases):
        spec, box = random_case(rng)
        result = {}
        for backend in times:
            t = time.perf_counter()
            result[backend] = enclose(spec, box, backend=backend, precision=args.precision, method="interval")
            times[backend] += time.perf_counter() - t
        for (name, a), (_, m) in zip(result["arb"].items(), result["mpmath"].items()):
            wa = (a[..., 1] - a[..., 0]).ravel()
            wm = (m[..., 1] - m[..., 0]).ravel()
            keep = wa > 0
            ratios.setdefault(name, []).extend((wm[keep] / wa[keep]).tolist())
    print(f"{args.cases} random cases, {args.precision} bits, seed {args.seed}")
    print(f"{'quantity':<28}{'n':>8}{'q25':>14}{'median':>14}{'q75':>14}")
    everything = []
    for name, r in ratios.items():
        everything += r
        q25, med, q75 = np.percentile(r, [25, 50, 75]) if r else (np.nan,) * 3
        print(f"{name:<28}{len(r):>8}{q25:>14.10f}{med:>14.10f}{q75:>14.10f}")
    q25, med, q75 = np.percentile(everything, [25, 50, 75])
    print(f"{'all':<28}{len(everything):>8}{q25:>14.10f}{med:>14.10f}{q75:>14.10f}")
    print(f"time: arb {times['arb']:.2f} s, mpmath {times['mpmath']:.2f} s")


if __name__ == "__main__":
    main()
