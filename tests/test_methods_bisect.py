"""Bisection: the union over parts is sound, and it pays off in low dimensions."""

from __future__ import annotations

import numpy as np

from verifae import AutoencoderSpec, Box, enclose
from verifae.methods.bisect import bisect_bounds
from verifae.methods.linear import linear_bounds


def test_bisection_tightens_a_wide_box():
    rng = np.random.default_rng(8)
    spec = AutoencoderSpec(rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4),
                           "tanh")
    box = Box.around([0.5, 0.2, -0.1, 0.3], "0.5")
    whole = linear_bounds(spec, box)
    parts = bisect_bounds(spec, box, budget=64)
    width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
    assert width(parts["output"]).sum() < 0.9 * width(whole["output"]).sum()
    # Sound: corners and random points of the box lie inside.
    e = enclose(spec, box, method="bisect", backend="fast")
    centre = np.array([0.5, 0.2, -0.1, 0.3])
    points = [np.array([float(q) for q in c]) for c in box.corners()] + list(centre + rng.uniform(-0.5, 0.5, (100, 4)))
    for x in points:
        run = enclose(spec, Box.point(list(x)), backend="arb", precision=120, method="interval").output
        assert np.all(e.output[:, 0] <= run[:, 0]) and np.all(run[:, 1] <= e.output[:, 1])


def test_a_point_box_is_not_split():
    spec = AutoencoderSpec([[1, 2]], [0], [[1], [1]], [0, 0], "sigmoid")
    assert bisect_bounds(spec, Box.point([1, 2]), budget=50)["output"].shape == (2, 2)
