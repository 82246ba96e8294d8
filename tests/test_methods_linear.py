"""Linear relaxation: sound slopes and offsets, exact on affine models, sound enclosures."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import flint
import numpy as np
import pytest
from flint import arb, fmpq
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, LayeredSpec, check, enclose, enclose_many
from verifae.methods.linear import linear_bounds, relaxation

from .reference import outside, reference
from .strategies import boxes, points_in, specs


def _act(name: str, q: Fraction) -> arb:
    z = arb(fmpq(q.numerator, q.denominator))
    if name == "relu":
        return z if q > 0 else arb(0)
    if name == "identity":
        return z
    if name == "tanh":
        return z.tanh()
    return 1 / (1 + (-z).exp())


@settings(max_examples=300)
@given(
    name=st.sampled_from(["relu", "sigmoid", "tanh", "identity"]),
    a=st.floats(-30, 30, allow_subnormal=False),
    b=st.floats(-30, 30, allow_subnormal=False),
    ts=st.lists(st.fractions(0, 1, max_denominator=1000), min_size=3, max_size=12),
)
def test_relaxation_lines_bound_the_activation(name, a, b, ts):
    lo, hi = min(a, b), max(a, b)
    slope, cL, cU = relaxation(name, lo, hi)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, *(L + t * (H - L) for t in ts)]
    z0 = None
    if name in ("sigmoid", "tanh") and 0 < slope < (0.25 if name == "sigmoid" else 1):
        with np.errstate(divide="ignore"):  # a slope below the float's resolution: z0 = ±inf, outside the box
            z0 = 2 * np.arctanh(np.sqrt(1 - 4 * slope)) if name == "sigmoid" else np.arctanh(np.sqrt(1 - slope))
        points += [Fraction(v) for v in (z0, -z0) if lo <= v <= hi]  # where act − slope·z is extreme
    with flint.ctx.workprec(200):
        s = arb(slope)
        for p in points:
            # Compare act − slope·z with the offsets (not 1 + 5e-324 with 1); exactly for
            # the piecewise linear activations, as a 200-bit ball otherwise.
            if name in ("relu", "identity"):
                g = (p if (name == "identity" or p > 0) else Fraction(0)) - Fraction(slope) * p
                assert Fraction(cL) <= g <= Fraction(cU), (p, slope, cL, cU)
                continue
            g = _act(name, p) - s * arb(fmpq(p.numerator, p.denominator))
            assert arb(cL) <= g and g <= arb(cU), (p, slope, cL, cU)


def test_relaxation_is_tight_where_it_should_be():
    assert relaxation("identity", -1, 1) == (1.0, 0.0, 0.0)
    assert relaxation("relu", 1, 2) == (1.0, 0.0, 0.0) and relaxation("relu", -2, -1)[0] == 0.0
    slope, cL, cU = relaxation("relu", -1.0, 3.0)  # the triangle's upper side: 0.75(z + 1)
    assert slope == 0.75 and cL <= 0 and 0.75 <= cU < 0.75 + 1e-15
    slope, cL, cU = relaxation("tanh", 1.0, 1.0 + 1e-9)  # a point: the lines coincide
    assert cU - cL < 1e-15


def test_identity_model_is_exact():
    """An affine model's range over a box is M c ± |M| ρ exactly; linear attains it."""
    W_enc = [["0.5", "-1"], ["2", "0.25"]]
    W_dec = [["1", "1"], ["-1", "0.5"]]
    spec = AutoencoderSpec(W_enc, [0, 0], W_dec, [0, 0], "identity")
    box = Box([0, -1], [1, 1])
    e = enclose(spec, box, method="linear", backend="fast")
    M = np.array([[2.5, -0.75], [0.5, 1.125]])  # W_dec @ W_enc
    centre, radius = np.array([0.5, 0.0]), np.array([0.5, 1.0])
    exact = np.stack([M @ centre - np.abs(M) @ radius, M @ centre + np.abs(M) @ radius], -1)
    assert np.all(e.output[:, 0] <= exact[:, 0]) and np.all(e.output[:, 1] >= exact[:, 1])
    assert np.abs(e.output - exact).max() < 1e-12
    interval = enclose(spec, box, method="interval", backend="fast")
    assert np.all(interval.output[:, 1] - interval.output[:, 0] > exact[:, 1] - exact[:, 0] + 0.5)


@settings(max_examples=60)
@given(st.data())
def test_tightened_enclosures_contain_the_reference(data):
    spec = data.draw(specs(), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    method = data.draw(st.sampled_from(["linear", "mean-value", "bisect", "auto"]), label="method")
    backend = data.draw(st.sampled_from(["arb", "fast"]), label="backend")
    e = enclose(spec, box, method=method, backend=backend)
    for x in data.draw(points_in(box, count=4), label="points"):
        assert not outside(e, reference(spec, x, None))


@settings(max_examples=12)  # "auto" and "bisect" bound several parts each: keep CI quick
@given(st.data())
def test_auto_is_never_wider_than_its_members(data):
    spec = data.draw(specs(), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    semantics = data.draw(st.sampled_from(["real", "float32"]), label="semantics")
    parts = data.draw(st.sampled_from([None, 1, 8]), label="max_parts")
    auto = enclose(spec, box, method="auto", backend="fast", semantics=semantics, max_parts=parts)
    # the bisect member at auto's own budget (none when that is one part)
    bisect_parts = 16 if parts is None else parts
    members = ("interval", "linear", "mean-value") + (("bisect",) if bisect_parts > 1 else ())
    for member in members:
        e = enclose(spec, box, method=member, backend="fast", semantics=semantics, max_parts=bisect_parts)
        for (name, a), (_, m) in zip(auto.items(), e.items()):
            assert np.all(a[..., 0] >= m[..., 0]) and np.all(a[..., 1] <= m[..., 1]), (member, name)


@pytest.mark.parametrize("method", ["mean-value", "bisect"])
def test_every_method_tightens_the_float_semantics(method):
    rng = np.random.default_rng(6)
    spec = AutoencoderSpec(rng.normal(size=(4, 10)) / 3, rng.normal(size=4), rng.normal(size=(10, 4)) / 2,
                           rng.normal(size=10), "tanh")
    box = Box.around(rng.random(10), "0.001")  # small: the centred form's home ground
    width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
    for semantics in ("float32", "float64"):
        e = enclose(spec, box, method=method, semantics=semantics)
        interval = enclose(spec, box, method="interval", semantics=semantics)
        assert e.method == method and not e.notes
        assert np.all(width(e.output) < width(interval.output))
        assert width(e.reconstruction_error) < width(interval.reconstruction_error)


def test_linear_tightens_the_float_semantics():
    rng = np.random.default_rng(5)
    spec = AutoencoderSpec(rng.normal(size=(8, 30)) / 5, rng.normal(size=8) / 10, rng.normal(size=(30, 8)) / 3,
                           rng.normal(size=30) / 10, "tanh")
    box = Box.around(rng.random(30), "0.01")
    for semantics in ("float32", "float64"):
        linear = enclose(spec, box, method="linear", semantics=semantics)
        interval = enclose(spec, box, method="interval", semantics=semantics)
        width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
        assert np.median(width(linear.output) / width(interval.output)) < 0.5
        assert width(linear.reconstruction_error) < width(interval.reconstruction_error)


def test_what_linear_keeps_on_the_spec_holds_for_every_box_and_semantics():
    """W_dec's signed parts and W_decᵀW_dec are kept on the spec per semantics: every
    box and semantics bounded after others on one spec gets the bounds of a fresh spec."""
    rng = np.random.default_rng(7)
    arrays = (rng.normal(size=(5, 12)) / 3, rng.normal(size=5) / 10, rng.normal(size=(12, 5)) / 2,
              rng.normal(size=12) / 10)
    kept = AutoencoderSpec(*arrays, "sigmoid")
    boxes_ = [Box.around(rng.random(12), r) for r in ("0.01", "0.2")]
    for semantics in ("real", "float32", "float64"):
        for box in boxes_:
            again, fresh = linear_bounds(kept, box, semantics), linear_bounds(AutoencoderSpec(*arrays, "sigmoid"), box,
                                                                              semantics)
            assert again is not None and fresh is not None and again.keys() == fresh.keys()
            for key in fresh:
                np.testing.assert_array_equal(again[key], fresh[key])


def test_an_overflow_in_a_weight_gradient_only_leaves_the_linear_bounds_sound():
    """dW_enc = dz ⊗ x overflows float32 here (|dz| about 1e35, x about 1e4) and no
    other intermediate does: `enclose` keeps the interval enclosure (its pass has an
    unbounded entry), while `linear_bounds`, which bounds no weight gradient, still
    bounds the rest, and every float32 run lies inside."""
    spec = AutoencoderSpec([["1e-4", "1e-4"]], [0], [["1e18"], ["1e18"]], [0, 0], "tanh")
    box = Box([10000, 10000], [10001, 10001])
    interval = enclose(spec, box, method="interval", semantics="float32")
    assert np.isinf(interval.gradients["W_enc"]).all() and np.isfinite(interval.gradients["input"]).all()
    assert enclose(spec, box, method="linear", semantics="float32").output.tolist() == interval.output.tolist()
    bounds = linear_bounds(spec, box, "float32")
    assert bounds is not None
    tight = replace(interval, output=bounds["output"], reconstruction_error=bounds["reconstruction_error"],
                    gradients={**interval.gradients, "input": bounds["dX"]})
    result = check(spec, box, runs=200, enclosures={"float32": tight}, reference=False, torch_worker=False)
    assert result.formats["float32"].outside == 0, result.formats["float32"].offenders


def test_unknown_method():
    spec = AutoencoderSpec([[1]], [0], [[1]], [0], "relu")
    with pytest.raises(Exception, match="valid methods are: interval, linear, alpha, mean-value, bisect, auto"):
        enclose(spec, Box([0], [1]), method="crown")


@settings(max_examples=25)
@given(st.data())
def test_tightening_with_a_grad_output_box(data):
    """The mean-value form of E needs E's own gradient, not the one of grad_output: a
    regression test (it once reused the enclosure's gradients, computed for the box g)."""
    spec = data.draw(specs(), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    g = data.draw(boxes(spec.input_dim), label="g")
    e = enclose(spec, box, method=data.draw(st.sampled_from(["mean-value", "auto"])), grad_output=g, backend="fast")
    quantities = [("output", e.output), ("reconstruction_error", e.reconstruction_error)]
    for x in data.draw(points_in(box, count=3), label="points"):
        ref = reference(spec, x, None)
        assert not outside(type("Q", (), {"items": lambda self: quantities})(), ref)


def test_relaxation_of_a_huge_interval_is_sound_not_a_crash():
    """A found-by-CI regression: exp over [−1e9, 1e9] is not finite in Arb, and the offsets
    must become infinite (the interval enclosure then stands) rather than raise."""
    slope, cL, cU = relaxation("sigmoid", -1e9, 1e9)
    assert cL <= 0 <= 1 <= cU + slope * 1e9
    spec = AutoencoderSpec([[-1, -1, "-1e15"]], [-1], [[-1], [-1], [-1]], [-1, -1, -1], "sigmoid")
    box = Box.around([0, 0, 0], "1e-6")
    for semantics in ("real", "float32"):
        e = enclose(spec, box, method="linear", semantics=semantics, backend="arb")
        i = enclose(spec, box, method="interval", semantics=semantics, backend="arb")
        assert np.all(e.output[:, 0] >= i.output[:, 0]) and np.all(e.output[:, 1] <= i.output[:, 1])


def test_joint_error_bound_keeps_the_correlation_of_the_residuals():
    """r = (10 + x1 + x2, 10 + x1 − x2) on [−1, 1]²: E = ||r||²/2 ranges over [81, 122].
    Squares of each r_i's bounds [8, 12] give [64, 144]; the joint affine form gives
    (200 ∓ 2·20 + [0, 8]) / 2 = [80, 124] (its quadratic term is bounded row by row)."""
    spec = AutoencoderSpec([[1, 0], [0, 1]], [0, 0], [[2, 1], [1, 0]], [10, 10], "identity")
    box = Box([-1, -1], [1, 1])
    for semantics, rounding in (("real", 1e-12), ("float64", 1e-12), ("float32", 1e-5)):
        e = enclose(spec, box, method="linear", semantics=semantics)
        lower, upper = e.reconstruction_error
        assert 80 * (1 - rounding) <= lower <= 81 and 122 <= upper <= 124 * (1 + rounding), (semantics, e)
    interval = enclose(spec, box, method="interval").reconstruction_error
    assert interval[0] <= 64 and interval[1] >= 144


@settings(max_examples=40)
@given(st.data())
def test_linear_enclosures_hold_every_float_run_and_the_reference(data):
    """Every semantics' linear enclosure (the joint bound of E included) against float runs
    at every corner (d <= 6), at points found by ascent toward E's maximum, and against
    the exact / 256-bit reference."""
    spec = data.draw(specs(max_d=5, max_h=3), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    enclosures = {s: enclose(spec, box, method="linear", semantics=s) for s in ("real", "float64", "float32")}
    result = check(spec, box, runs=48, enclosures=enclosures, torch_worker=False)
    assert result.ok, (result.formats["float64"].offenders, result.formats["float32"].offenders,
                       result.reference.offenders)


def test_an_error_sum_beyond_the_double_range_is_no_crash():
    """Regression: math.fsum raises on an intermediate overflow (two squares of 1.7e308);
    the joint bound of E then steps aside and the interval bound stands."""
    spec = AutoencoderSpec([[0, 0]], [0], [[0], [0]], ["1.3e154", "1.3e154"], "identity")
    e = enclose(spec, Box.point([0, 0]), method="linear", backend="fast")
    assert e.reconstruction_error[0] <= 1.69e308 <= e.reconstruction_error[1]


# ---------------------------------------------------------------- beyond the double range
# Found by the adversarial review: with W_enc = 1e300 and x = 1e10 the real pre-activation
# is 1e310, and the tightening methods raised (the entries' relaxations take finite ends)
# instead of keeping the interval enclosure (−inf, inf).


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("activation", ["leaky_relu", "softplus", "silu", "gelu"])
@pytest.mark.parametrize("method", ["linear", "auto", "bisect"])
def test_a_pre_activation_beyond_the_double_range_keeps_the_interval_enclosure(activation, method):
    spec = AutoencoderSpec([["1e300"]], [0], [[1]], [0], activation)
    e = enclose(spec, Box(["1e10"], ["1e10"]), backend="fast", method=method, semantics="real")
    assert e.pre_activation[0, 1] == math.inf and e.output[0, 1] == math.inf  # z = 1e310, act(z) >= z − 1
    x = np.array([[1e10]])
    many = enclose_many(spec, (x, x), backend="fast", method=method if method != "bisect" else "linear")
    assert many.output[0, 0, 1] == math.inf
    layered = enclose(LayeredSpec.from_v1(spec), Box(["1e10"], ["1e10"]), backend="fast", method="auto")
    assert layered.output[0, 1] == math.inf
