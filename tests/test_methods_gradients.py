"""The backward pass rerun with tightened intermediate enclosures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, check, enclose
from verifae.backends.fast import FastTensor
from verifae.methods.gradients import _intersect, tightened_gradients
from verifae.rounding import FloatTensor

from .strategies import boxes, specs


@pytest.mark.parametrize("semantics", ["real", "float64", "float32"])
def test_without_bounds_it_is_the_interval_pass(semantics):
    rng = np.random.default_rng(1)
    spec = AutoencoderSpec(rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=5),
                           "sigmoid")
    box = Box.around(rng.random(5), "0.1")
    found = tightened_gradients(spec, box, semantics, {})
    e = enclose(spec, box, semantics=semantics, backend="fast", method="interval")
    for name, b in e.gradients.items():
        np.testing.assert_array_equal(found[name], b)


def test_intersection_leaves_entries_that_may_overflow_unbounded():
    t = FloatTensor(FastTensor(np.array([-np.inf, 0.0]), np.array([np.inf, 2.0])), np.array([True, False]))
    out = _intersect(t, np.array([[-1.0, 1.0], [0.5, 3.0]]))
    assert out.value.lo.tolist() == [-np.inf, 0.5] and out.value.hi.tolist() == [np.inf, 2.0]
    assert out.unbounded.tolist() == [True, False]


@settings(max_examples=15)  # "auto" bisects into up to 128 parts in each semantics
@given(st.data())
def test_tightened_gradients_hold_every_float_run_and_the_reference(data):
    spec = data.draw(specs(max_d=4, max_h=3), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    method = data.draw(st.sampled_from(["mean-value", "bisect", "auto"]), label="method")
    enclosures = {s: enclose(spec, box, method=method, semantics=s) for s in ("real", "float64", "float32")}
    result = check(spec, box, runs=32, enclosures=enclosures, torch_worker=False)
    assert result.ok, (result.formats["float64"].offenders, result.formats["float32"].offenders,
                       result.reference.offenders)
