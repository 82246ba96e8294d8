"""Bisection over layers (`layered_bisect_bounds`): the hull of the parts contains the
reference and the float runs, the budget holds, a part's None is the whole's."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import Box, LayeredSpec
from verifae.methods import layered_bisect_bounds, layered_part_bounds
from verifae.methods.layered_bisect import influence

from .reference import outside
from .strategies import boxes, points_in
from .test_layered import layered_specs
from .test_methods_layered_mean_value import Bounds, float_misses, reference_with_residual


@settings(max_examples=10)  # each part runs linear and mean-value: the slowest property test
@given(st.data())
def test_hull_contains_the_reference_and_float_runs(data):
    spec = data.draw(layered_specs(max_width=4))
    semantics = data.draw(st.sampled_from(["real", "float32", "float64"]))
    box = data.draw(boxes(spec.input_dim))
    bounds = layered_bisect_bounds(spec, box, semantics, 4, part_bounds=layered_part_bounds)
    if bounds is None:  # linear bounds every part unless a float run may overflow
        assert semantics != "real"
        return
    points = data.draw(points_in(box, count=2))
    if semantics == "real":
        for x in points:
            ref = reference_with_residual(spec, x)
            misses = outside(Bounds(bounds), {key: ref[key] for key in bounds})
            assert not misses, misses[:5]
    else:
        misses = float_misses(spec, bounds, box, points, semantics)
        assert not misses, misses[:5]


def _tanh_spec() -> LayeredSpec:
    return LayeredSpec([([[2, -1], [1, 1]], [0, "0.5"], "tanh")], [([[1, 1], ["-0.5", 2]], [0, 0], "tanh")])


def counting(calls: list[Box]):
    def part_bounds(spec, part, semantics):
        calls.append(part)
        return layered_part_bounds(spec, part, semantics)

    return part_bounds


def test_budget_and_tightening():
    """Each split bounds two new parts, so a budget of n parts costs 2n − 1 bounds; the
    parts cover the box, the hull contains every part's bounds, and more parts give
    a narrower output."""
    spec = _tanh_spec()
    box = Box.around([0, 0], 1)
    widths = []
    for budget in (1, 8, 32):
        calls: list[Box] = []
        bounds = layered_bisect_bounds(spec, box, "real", budget, part_bounds=counting(calls))
        assert bounds is not None and len(calls) == 2 * budget - 1
        widths.append(float((bounds["output"][:, 1] - bounds["output"][:, 0]).sum()))
    assert widths[0] > widths[1] > widths[2]
    whole = layered_part_bounds(spec, box, "real")
    assert whole is not None and widths[0] == float((whole["output"][:, 1] - whole["output"][:, 0]).sum())


def test_split_at_exact_midpoints_of_the_most_influential_side():
    spec = LayeredSpec([([[100, 1]], [0], "tanh")], [([[1], [1]], [0, 0], None)])
    assert influence(spec)[0] > influence(spec)[1]
    calls: list[Box] = []
    layered_bisect_bounds(spec, Box([0, 0], [Fraction(1, 3), 1]), "real", 2, part_bounds=counting(calls))
    left, right = calls[1:]
    assert left.upper[0] == right.lower[0] == Fraction(1, 6) and left.upper[1] == right.upper[1] == 1


def test_a_point_is_not_split():
    calls: list[Box] = []
    bounds = layered_bisect_bounds(_tanh_spec(), Box.point([0, 1]), "real", 16, part_bounds=counting(calls))
    assert bounds is not None and len(calls) == 1


def test_a_part_that_may_overflow_makes_the_whole_none():
    spec = _tanh_spec()
    calls: list[Box] = []

    def part_bounds(spec, part, semantics):
        calls.append(part)
        return None if len(calls) == 3 else layered_part_bounds(spec, part, semantics)

    assert layered_bisect_bounds(spec, Box.around([0, 0], 1), "float32", 8, part_bounds=part_bounds) is None
    assert np.isfinite(layered_bisect_bounds(spec, Box.around([0, 0], 1), "float32", 8,
                                             part_bounds=layered_part_bounds)["output"]).all()
