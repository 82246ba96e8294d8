"""Measure the ulp error of library exp, tanh, sigmoid, expm1, log1p, erf and erfc: the constant K of verifae.libm.

For each format (float32, float64) and library (numpy, and PyTorch's CPU kernels
when torch is installed), evaluate each function on about N points of the hard
regions (`verifae.libm.hard_points`: the whole range, near 0 down to subnormals,
the saturation zone, around exp's overflow threshold, exp's underflow, random bit
patterns) and compare with Arb at 200 bits. numpy's float32 functions run on
float32 arrays, so its SIMD paths are the ones measured. numpy has no erf or erfc:
its column is Python's math.erf / math.erfc per element, rounded to the format (as
a numpy run of gelu computes erf, and as the fast backend computes erfc).

    python benchmarks/ulp_error.py [--points 1200000] [--seed 0] [--functions log1p,erf,erfc]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from verifae.libm import LIBRARY_ULPS, hard_points, ulp_errors
from verifae.numbers import FLOAT32, FLOAT64


def numpy_functions(dtype):
    one = dtype(1)
    return {
        "exp": np.exp,
        "tanh": np.tanh,
        "sigmoid": lambda x: one / (one + np.exp(-x)),  # the spec's formula, as verifae runs it
        "expm1": np.expm1,
        "log1p": np.log1p,
        "erf": per_element(math.erf, dtype),
        "erfc": per_element(math.erfc, dtype),
    }


def per_element(f, dtype):
    """A Python math function on every element, in double, rounded to `dtype`."""
    vectorised = np.vectorize(f, otypes=[np.float64])
    return lambda x: vectorised(x.astype(np.float64)).astype(dtype)


def torch_functions():
    try:
        import torch
    except ImportError:
        return None
    wrap = lambda f: lambda x: f(torch.from_numpy(x)).numpy()  # noqa: E731
    return {
        "exp": wrap(torch.exp),
        "tanh": wrap(torch.tanh),
        "sigmoid": wrap(torch.sigmoid),
        "expm1": wrap(torch.expm1),
        "log1p": wrap(torch.log1p),
        "erf": wrap(torch.erf),
        "erfc": wrap(torch.erfc),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--functions", default="exp,tanh,sigmoid,expm1,log1p,erf,erfc")
    args = parser.parse_args()
    libraries = {"numpy": numpy_functions}
    torch_fns = torch_functions()
    if torch_fns is not None:
        libraries["torch"] = lambda dtype: torch_fns
    print(f"{'format':<9}{'library':<8}{'function':<9}{'points':>9}{'max ulps':>10}{'K':>4}"
          f"{'subnormal/realmin':>19}{'worst x':>26}")
    for fmt in (FLOAT32, FLOAT64):
        for function in args.functions.split(","):
            xs = hard_points(function, fmt, args.points, args.seed)
            for library, make in libraries.items():
                t = time.perf_counter()
                with np.errstate(all="ignore"):
                    ys = make(fmt.dtype)[function](xs.copy())
                r = ulp_errors(function, xs, ys, fmt)
                K = LIBRARY_ULPS[fmt.name][function]
                flag = "" if r["max_ulps"] <= K and r["max_subnormal"] <= 1 else "  EXCEEDS K"
                print(f"{fmt.name:<9}{library:<8}{function:<9}{r['count']:>9}{r['max_ulps']:>10.3f}{K:>4}"
                      f"{r['max_subnormal']:>19.3g}{r['worst_x']!r:>26}  ({time.perf_counter() - t:.0f} s){flag}")


if __name__ == "__main__":
    main()
