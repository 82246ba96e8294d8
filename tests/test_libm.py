"""The trust boundary: library exp, tanh, sigmoid, expm1, log1p, erf and erfc stay within K ulps (verifae.libm).

A smaller re-run of benchmarks/ulp_error.py on the same hard regions.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from verifae.libm import LIBRARY_ULPS, hard_points, ulp_errors
from verifae.numbers import FLOAT32, FLOAT64

POINTS = 30_000


def _numpy(function, dtype):
    one = dtype(1)
    return {
        "exp": np.exp,
        "tanh": np.tanh,
        "sigmoid": lambda x: one / (one + np.exp(-x)),
        "expm1": np.expm1,
        "log1p": np.log1p,
        # numpy has none: Python's math.erf/erfc per element, rounded to the format
        "erf": _per_element(math.erf, dtype),
        "erfc": _per_element(math.erfc, dtype),
    }[function]


def _per_element(f, dtype):
    vectorised = np.vectorize(f, otypes=[np.float64])
    return lambda x: vectorised(x.astype(np.float64)).astype(dtype)


def _torch(function):
    torch = pytest.importorskip("torch")
    f = {"exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "expm1": torch.expm1,
         "log1p": torch.log1p, "erf": torch.erf, "erfc": torch.erfc}[function]
    return lambda x: f(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("function", ["exp", "tanh", "sigmoid", "expm1", "log1p", "erf", "erfc"])
@pytest.mark.parametrize("fmt", [FLOAT32, FLOAT64], ids=["float32", "float64"])
def test_library_within_K_ulps(library, function, fmt):
    if library == "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    xs = hard_points(function, fmt, POINTS, seed=1)
    f = _numpy(function, fmt.dtype) if library == "numpy" else _torch(function)
    with np.errstate(all="ignore"):
        ys = f(xs.copy())
    report = ulp_errors(function, xs, ys, fmt)
    assert report["count"] > POINTS // 2
    assert report["max_ulps"] <= LIBRARY_ULPS[fmt.name][function], report
    assert report["max_subnormal"] <= 1, report


@pytest.mark.parametrize("fmt", [FLOAT32, FLOAT64], ids=["float32", "float64"])
def test_torch_elu_kernel_within_K_ulps(fmt):
    """torch.nn.ELU(alpha=1) computes expm1(z) for z <= 0, and its backward exp(z) (with
    an exp of its own, not always torch.exp's result): both within K ulps."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    import torch

    xs = hard_points("expm1", fmt, POINTS, seed=4)
    xs = xs[xs <= 0]
    t = torch.from_numpy(xs.copy()).requires_grad_(True)
    y = torch.nn.ELU(alpha=1.0)(t)
    y.sum().backward()
    for function, ys in (("expm1", y.detach().numpy()), ("exp", t.grad.numpy())):
        report = ulp_errors(function, xs, ys, fmt)
        assert report["count"] > POINTS // 4
        assert report["max_ulps"] <= LIBRARY_ULPS[fmt.name][function], (function, report)
        assert report["max_subnormal"] <= 1, (function, report)


def test_measurement_detects_a_wrong_function():
    xs = hard_points("exp", FLOAT64, 600, seed=2)
    with np.errstate(all="ignore"):
        ys = np.exp(xs) * (1 + 2**-48)  # 16 ulps too large (well, ~16-32)
    assert ulp_errors("exp", xs, ys, FLOAT64)["max_ulps"] > 8
