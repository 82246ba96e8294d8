"""MSE gradients from the affine form of the residual: exact on affine models, tighter than intervals."""

from __future__ import annotations

import numpy as np
import pytest

from verifae import AutoencoderSpec, Box, enclose
from verifae.methods.linear import linear_bounds


def _width(b):
    return b[..., 1] - b[..., 0]


@pytest.mark.parametrize("semantics, rounding", [("real", 1e-12), ("float64", 1e-12), ("float32", 1e-5)])
def test_identity_model_gradients_are_exact(semantics, rounding):
    """With act = identity, r = (M − I) x + b_dec is affine, and so are dH = (2/d) W_decᵀ r
    and dX = W_encᵀ dH: their ranges over the box are centre ± |matrix| ρ exactly."""
    W_enc = np.array([[0.5, -1.0, 0.25], [2.0, 0.25, -0.5]])
    W_dec = np.array([[1.0, 1.0], [-1.0, 0.5], [0.25, -2.0]])
    b_dec = np.array([0.5, -0.25, 1.0])
    spec = AutoencoderSpec(W_enc, [0, 0], W_dec, b_dec, "identity")
    centre, radius = np.array([0.5, 0.0, -0.25]), np.array([0.5, 1.0, 0.25])
    box = Box(list(centre - radius), list(centre + radius))
    d = 3
    MI = W_dec @ W_enc - np.eye(d)
    H = (2 / d) * W_dec.T @ MI  # dH = H x + (2/d) W_decᵀ b_dec
    h0 = (2 / d) * W_dec.T @ b_dec
    exact = {"dH": (H @ centre + h0, np.abs(H) @ radius),
             "dX": (W_enc.T @ (H @ centre + h0), np.abs(W_enc.T @ H) @ radius)}
    found = linear_bounds(spec, box, semantics)
    e = enclose(spec, box, method="linear", semantics=semantics, backend="fast")
    bounds = {"dH": found["dH"], "dX": e.gradients["input"], "dZ": e.gradients["b_enc"]}
    exact["dZ"] = exact["dH"]
    for name, (mid, rad) in exact.items():
        lo, hi = mid - rad, mid + rad
        b = bounds[name]
        scale = np.abs(mid) + rad
        assert np.all(b[:, 0] <= lo + rounding * scale) and np.all(b[:, 1] >= hi - rounding * scale), name
        assert np.all(np.abs(b[:, 0] - lo) <= 1e-9 + rounding * scale), (name, b, lo)
        assert np.all(np.abs(b[:, 1] - hi) <= 1e-9 + rounding * scale), (name, b, hi)
    interval = enclose(spec, box, method="interval", semantics=semantics, backend="fast")
    assert np.all(_width(interval.gradients["input"]) > 1.5 * _width(e.gradients["input"]))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_gradients_of_a_wide_model_tighten_several_fold(activation):
    """The point of the method: on a 60-8-60 model at eps 0.01 the gradients through dH
    (dW_enc, db_enc, dX) come out at least twice as narrow as interval propagation's
    (median; measured 0.15-0.43), those through g alone (db_dec, dW_dec) narrower too."""
    rng = np.random.default_rng(60)
    spec = AutoencoderSpec(rng.normal(size=(8, 60)) / np.sqrt(60), 0.01 * rng.normal(size=8),
                           rng.normal(size=(60, 8)) / np.sqrt(8), 0.01 * rng.normal(size=60), activation)
    box = Box.around(rng.random(60), "0.01")
    for semantics in ("real", "float32"):
        linear = enclose(spec, box, method="linear", semantics=semantics, backend="fast")
        interval = enclose(spec, box, method="interval", semantics=semantics, backend="fast")
        for name, b in linear.gradients.items():
            wide = _width(interval.gradients[name])
            keep = wide > 1e-300  # dead relu neurons: dW_dec is exactly 0 there
            limit = 0.5 if name in ("W_enc", "b_enc", "input") else 0.9
            assert np.median(_width(b)[keep] / wide[keep]) < limit, (semantics, name)
