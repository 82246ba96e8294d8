"""The trust boundary: error bounds of library exp, tanh, sigmoid, expm1, log1p, erf and erfc, and their measurement.

numpy's and PyTorch's transcendental functions are not correctly rounded, and
their float32 SIMD paths differ from their float64 paths. The float semantics
(design §2) assumes that such a function f returns, for every finite float x,

    |f_lib(x) − f(x)| <= K · ulp(f(x))     when |f(x)| >= realmin, and
    |f_lib(x) − f(x)| <= realmin           when |f(x)| <  realmin,

where ulp(y) = 2^(floor(log2 |y|) − p + 1) and realmin = 2^emin is the smallest
normal number. Since ulp(y) <= 2u|y| for normal y, the bound used in enclosures is
|f_lib(x) − f(x)| <= 2Ku|f(x)| + realmin. The absolute realmin also covers the
spec's sigmoid 1/(1 + exp(−z)) when exp(−z) overflows to inf: the float result is
0 while the true value is below 1/realmax < realmin.

K is `LIBRARY_ULPS[format][function]`. The values lie above the maxima measured
by `benchmarks/ulp_error.py` (numpy 2.4 and PyTorch 2.13 CPU kernels, more than
10^6 points per function and format, against Arb at 200 bits: at most 2.4 ulp
for float32 exp, 1.4 for tanh, 2.6 for expm1, 1.0 and 1.1 in float64; the table is
in docs/design.md §7) and above what numpy documents for its float32 SIMD kernels (max 2.52 ulp
for exp, numpy PR #13134; its tests allow 3 ulp for float32 functions).
`tests/test_libm.py` re-measures them on a sample of the same regions in every
CI run. The spec's sigmoid is
computed from exp with two more roundings (1 + e, then 1/t), which adds at most
(1 + 1)·u relative to K_exp, so K_sigmoid >= K_exp + 2 covers it as well as
PyTorch's own sigmoid kernel.

numpy has no erf or erfc. A numpy run of gelu takes erf from Python's `math.erf`
(the C library's double erf) elementwise, rounded to float32 for float32 runs; the
"numpy" library of erf and erfc in the measurements is exactly that, and the fast
backend's erfc is `math.erfc` (`verifae.backends.fast`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flint
import numpy as np
from flint import arb

from .numbers import FLOAT32, FloatFormat

__all__ = [
    "LIBRARY_ULPS",
    "UlpReport",
    "true_values",
    "ulp_errors",
    "hard_points",
]

#: K: the assumed worst-case error, in ulps, of library functions per format.
#: expm1 (elu): measured maxima 2.60 ulp (numpy float32), 1.00 (PyTorch float32),
#: 0.51 (numpy float64), 1.00 (PyTorch float64), 1.15 million points each
#: (`benchmarks/ulp_error.py`, numpy 2.4, PyTorch 2.13), so K = 4 as for exp.
#: log1p (softplus), erf (gelu's runs), erfc (the fast backend's gelu), measured maxima
#: over 1.15 million (log1p) and 1.4 million (erf, erfc) points each (numpy 2.4, PyTorch
#: 2.13; numpy's erf and erfc are Python's math.erf / math.erfc, see above):
#:   float32: log1p 1.68 (numpy) 1.00 (torch); erf 0.50, 0.72; erfc 0.50, 0.84
#:   float64: log1p 0.58, 1.00; erf 0.91, 0.75; erfc 3.28 (math.erfc), 0.99
#: so K = 4, and 6 for the C library's double erfc (3.28 measured, the closest to its K).
LIBRARY_ULPS: dict[str, dict[str, int]] = {
    "float64": {"exp": 4, "tanh": 4, "sigmoid": 6, "expm1": 4, "log1p": 4, "erf": 4, "erfc": 6},
    "float32": {"exp": 4, "tanh": 4, "sigmoid": 6, "expm1": 4, "log1p": 4, "erf": 4, "erfc": 4},
}

REFERENCE_BITS = 200


def _sigmoid(x: arb) -> arb:
    return 1 / (1 + (-x).exp())


_TRUE: dict[str, Callable[[arb], arb]] = {
    "exp": lambda x: x.exp(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": _sigmoid,
    "expm1": lambda x: x.expm1(),
    "log1p": lambda x: x.log1p(),
    "erf": lambda x: x.erf(),
    "erfc": lambda x: x.erfc(),
}


def true_values(function: str, xs: np.ndarray) -> list[arb]:
    """f(x) at every float x, as Arb balls at 200 bits."""
    f = _TRUE[function]
    with flint.ctx.workprec(REFERENCE_BITS):
        return [f(arb(float(x))) for x in xs]


class UlpReport(dict):
    """max_ulps (normal range), max_subnormal (|error| / realmin where |f| < realmin),
    worst_x, count and overflow (points where f(x) > realmax, left out)."""


def ulp_errors(function: str, xs: np.ndarray, ys: np.ndarray, fmt: FloatFormat) -> UlpReport:
    """Measure the library results ys = f_lib(xs) against Arb in the model above.

    Each error is an upper bound (the Arb ball's far end), so a reported maximum
    is never below the true one.
    """
    realmin = math.ldexp(1.0, fmt.emin)
    realmax = float(fmt.realmax)
    report = UlpReport(max_ulps=0.0, max_subnormal=0.0, worst_x=None, count=0, overflow=0)
    truths = true_values(function, xs)
    with flint.ctx.workprec(REFERENCE_BITS):
        for x, y, t in zip(xs, ys, truths):
            if not t.is_finite() or t.abs_lower() > realmax:
                report["overflow"] += 1
                continue
            t_mid = float(t.mid())
            report["count"] += 1
            y = float(y)
            if not math.isfinite(y):
                report["max_ulps"] = math.inf
                report["worst_x"] = float(x)
                continue
            err = abs(arb(y) - t).abs_upper()
            if abs(t_mid) >= realmin:
                ulp = math.ldexp(1.0, math.frexp(abs(t_mid))[1] - fmt.precision)
                # frexp's exponent e gives 2^(e-1) <= |t| < 2^e, so ulp = 2^(e - p).
                # A t within rounding of a power of two is taken in the lower binade,
                # which only makes its ulp smaller and the reported error larger.
                if abs(t_mid) == math.ldexp(0.5, math.frexp(abs(t_mid))[1]):
                    ulp /= 2
                value = float((err / ulp).upper())
                if value > report["max_ulps"]:
                    report["max_ulps"], report["worst_x"] = value, float(x)
            else:
                report["max_subnormal"] = max(report["max_subnormal"], float((err / realmin).upper()))
    return report


def hard_points(function: str, fmt: FloatFormat, n: int, seed: int = 0) -> np.ndarray:
    """Points in the hard regions of `function` in `fmt`, about n of them.

    Uniform over the useful range, logarithmic near 0, the saturation zone, around
    the overflow threshold of exp, subnormal inputs, and random bit patterns.
    """
    rng = np.random.default_rng(seed)
    dtype = fmt.dtype
    realmax = float(fmt.realmax)
    big = math.log(realmax)  # exp overflows just above this
    tiny_exp = fmt.emin - fmt.precision + 1  # log2 of the smallest subnormal
    k = max(n // 6, 1)
    sign = lambda m: rng.choice([-1.0, 1.0], m)  # noqa: E731
    parts = [
        rng.uniform(-big * 1.05, big, k),  # the whole range of exp
        sign(k) * np.exp2(rng.uniform(tiny_exp, 0, k)),  # near 0, down to subnormals
        sign(k) * rng.uniform(1.0, 12.0 if fmt is FLOAT32 else 25.0, k),  # tanh/sigmoid saturation
        big + rng.uniform(-2.0, 0.0, k),  # around the overflow threshold of exp
        -big - rng.uniform(0.0, 40.0, k),  # exp underflows to subnormals and 0
    ]
    if function in ("erf", "erfc"):
        # erf's transition to ±1 and erfc's decay down to underflow (erfc(27) ~ 5e-319)
        parts.append(rng.uniform(-8.0, 30.0 if fmt is not FLOAT32 else 12.0, k))
    elif function == "log1p":
        # log1p at the values exp takes (softplus computes log1p(exp(βz))), and near −1
        parts.append(np.exp2(rng.uniform(tiny_exp, math.log2(realmax), k)))
        parts.append(-1.0 + np.exp2(rng.uniform(-fmt.precision, -1, k)))
    unsigned = np.uint32 if fmt is FLOAT32 else np.uint64
    bits = rng.integers(0, np.iinfo(unsigned).max, k, dtype=unsigned, endpoint=True)
    with np.errstate(invalid="ignore"):  # NaN bit patterns are dropped below
        patterns = bits.view(dtype).astype(np.float64)
    parts.append(patterns[np.isfinite(patterns)])
    xs = np.concatenate(parts).astype(dtype)
    return xs[np.isfinite(xs)]
