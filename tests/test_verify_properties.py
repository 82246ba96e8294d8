"""Properties: parsing (exact thresholds, clear errors) and exact verdict comparisons."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from verifae.verify.properties import PropertyError, parse_property


@pytest.mark.parametrize("text, kind, index, sense, threshold", [
    ("error<=0.1", "error", None, "<=", Fraction(1, 10)),
    (" error <= 1/3 ", "error", None, "<=", Fraction(1, 3)),
    ("output[3]<=0.9", "output", 3, "<=", Fraction(9, 10)),
    ("output[ 0 ]>=-2", "output", 0, ">=", Fraction(-2)),
    ("latent[1]>=0x1.8p-3", "latent", 1, ">=", Fraction(3, 16)),
    ("latent[12]<=1e-3", "latent", 12, "<=", Fraction(1, 1000)),
    ("input_grad_inf<=2.5", "input_grad_inf", None, "<=", Fraction(5, 2)),
])
def test_parse(text, kind, index, sense, threshold):
    p = parse_property(text)
    assert (p.kind, p.index, p.sense, p.threshold) == (kind, index, sense, threshold)
    assert p.text == text.strip()


@pytest.mark.parametrize("text, message", [
    ("error<0.1", "comparison '<' is not supported; use <= or >="),
    ("error>=0.1", "error only has the form error<=T"),
    ("input_grad_inf>=1", "input_grad_inf only has the form input_grad_inf<=T"),
    ("output<=1", "output needs an index, as in output[0]<=1"),
    ("output[-1]<=1", "index '-1' is not a non-negative integer"),
    ("output[a]<=1", "index 'a' is not a non-negative integer"),
    ("error[0]<=1", "error takes no index"),
    ("hidden[0]<=1", "unknown quantity 'hidden'"),
    ("error<=", "missing the threshold after <="),
    ("error<=abc", "threshold 'abc' is not a number"),
    ("error<=nan", "threshold 'nan' is not a number"),
    ("error", "cannot parse property 'error'"),
])
def test_parse_errors(text, message):
    with pytest.raises(PropertyError, match=None) as info:
        parse_property(text)
    assert message in str(info.value)


def test_index_out_of_range():
    parse_property("output[1]<=1").check_dims(input_dim=2, latent_dim=1)
    with pytest.raises(PropertyError) as info:
        parse_property("output[2]<=1").check_dims(input_dim=2, latent_dim=1)
    assert "index 2 is out of range; the model's output has 2 entries (indices 0 to 1)" in str(info.value)
    with pytest.raises(PropertyError, match="latent has 1 entries"):
        parse_property("latent[1]>=0").check_dims(input_dim=2, latent_dim=1)


def test_exact_comparisons_with_threshold():
    """0.1 is 1/10, and the double 0.1 lies above it: a bound of 0.1 does not prove error<=0.1."""
    p = parse_property("error<=0.1")
    assert Fraction(0.1) > Fraction(1, 10)
    assert not p.proves(0.0, 0.1)
    assert p.proves(0.0, math.nextafter(0.1, 0.0))
    assert p.violated_by(0.1) and not p.violated_by(math.nextafter(0.1, 0.0))
    assert p.refutes(0.1, 0.2) and not p.refutes(math.nextafter(0.1, 0.0), 0.2)
    assert not p.proves(0.0, math.inf) and not p.proves(0.0, math.nan)
    assert p.violated_by(math.nan) and p.violated_by(math.inf) and not p.violated_by(-math.inf)
    q = parse_property("output[0]>=1/3")
    assert q.proves(float(Fraction(1, 3)) + 1e-16, 5) and not q.proves(float(Fraction(1, 3)), 5)  # 1/3 rounds down
    assert q.violated_by(float(Fraction(1, 3))) and q.refutes(-1.0, 0.3)


def test_input_grad_inf_bounds_are_max_abs():
    """max_k |dX_k| over intervals: [max of the smallest magnitudes, max of the largest]."""

    class E:
        gradients = {"input": np.array([[-3.0, 1.0], [0.5, 2.0], [-1.0, -0.75]])}

    assert parse_property("input_grad_inf<=3").value_bounds(E()) == (0.75, 3.0)
