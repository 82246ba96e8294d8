"""Properties: parsing (exact thresholds, clear errors), exact verdict comparisons, and
VNN-LIB output properties (reading, refusals, the exact margin and its bounds)."""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import reference
from tests.strategies import boxes, points_in, rationals, specs
from verifae import AutoencoderSpec, Box, LayeredSpec, evaluate
from verifae.backends import get_backend
from verifae.layered import Layer, layered_forward
from verifae.verify import runs as verify_runs
from verifae.verify.properties import LinearConstraint, Property, PropertyError, parse_property
from verifae.verify.search import Searcher
from verifae.verify.vnnlib import check_input_region, relaxed_ranges


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


# ---------------------------------------------------------------- VNN-LIB output properties

HEAD = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"


def _vnnlib(tmp_path, body: str, name: str = "p.vnnlib"):
    path = tmp_path / name
    path.write_text(HEAD + body)
    return path


def _terms(g):
    return dict(g.coefficients), g.constant


def test_vnnlib_linear_constraints_exactly(tmp_path):
    path = _vnnlib(tmp_path, "; unsafe when\n(assert (or (and (>= Y_0 0.1) (<= (+ Y_1 (* 2 Y_0)) (- 3)))\n"
                             "            (and (>= (- Y_0 Y_1) (* 0.5 Y_1 2)))\n"
                             "            (<= (- Y_1) 1e-3)))\n")
    p = parse_property(str(path))
    assert (p.kind, p.sense, p.threshold, p.text) == ("vnnlib", ">", 0, f"vnnlib:{path}")
    assert (p.input_dim, p.output_dim, p.input_region) == (2, 2, None)
    (a, b), (c,), (d,) = p.disjuncts
    # Y_0 >= 1/10 is 1/10 - Y_0 <= 0; Y_1 + 2·Y_0 <= -3 is 2·Y_0 + Y_1 + 3 <= 0
    assert _terms(a) == ({0: -1}, Fraction(1, 10)) and _terms(b) == ({0: 2, 1: 1}, 3)
    assert _terms(c) == ({0: -1, 1: 2}, 0)  # Y_0 − Y_1 >= Y_1
    assert _terms(d) == ({1: -1}, Fraction(-1, 1000))
    assert (a.line, b.line, c.line, d.line) == (6, 6, 7, 8)


def test_vnnlib_several_asserts_are_their_conjunction(tmp_path):
    p = parse_property(str(_vnnlib(tmp_path, "(assert (or (<= Y_0 0) (<= Y_1 0)))\n(assert (>= Y_0 -1))\n")))
    assert [[_terms(g) for g in conj] for conj in p.disjuncts] == [
        [({0: 1}, 0), ({0: -1}, -1)], [({1: 1}, 0), ({0: -1}, -1)]]


@pytest.mark.parametrize("body, message", [
    ("(assert (< Y_0 1))", "line 5: (< Y_0 1): strict comparisons are not read"),
    ("(assert (= Y_0 1))", "line 5: (= Y_0 1): the operator '=' is not read in an output constraint"),
    ("\n(assert (not (<= Y_0 1)))", "line 6: (not (<= Y_0 1)): the operator 'not' is not read"),
    ("(assert (<= (* Y_0 Y_1) 1))", "line 5: (* Y_0 Y_1): a product of outputs is not linear"),
    ("(assert (<= (/ Y_0 2) 1))", "line 5: (/ Y_0 2): the operator '/' is not read in a linear expression"),
    ("(assert (<= Y_0 X_0))", "line 5: (<= Y_0 X_0) mixes inputs and outputs"),
    ("(assert (<= Y_2 1))", "line 5: Y_2: output Y_2 is not declared"),
    ("(assert (<= Y_0 abc))", "line 5: abc: neither an output Y_i nor a number"),
    ("(assert (<= Y_0 1 2))", "line 5: (<= Y_0 1 2): <= takes exactly two arguments"),
    ("(assert (<= X_0 1))", "no assertion on the outputs Y_i, so no property to verify"),
    ("(check-sat)", "line 5: (check-sat) is not read"),
    ("(assert (<= Y_0 1)", "unbalanced '('"),
])
def test_vnnlib_refusals_name_file_line_and_construct(tmp_path, body, message):
    path = _vnnlib(tmp_path, body)
    with pytest.raises(PropertyError) as info:
        parse_property(str(path))
    assert f"vnnlib property {path}" in str(info.value)
    assert message in str(info.value)


def test_vnnlib_missing_file(tmp_path):
    with pytest.raises(PropertyError, match=r"vnnlib property .*none\.vnnlib: no such file"):
        parse_property(str(tmp_path / "none.vnnlib"))


def test_vnnlib_margin_is_exact_at_the_boundary(tmp_path):
    # unsafe: Y_0 >= 0.1 and Y_1 <= 0.3; 0.1 and 0.3 are not doubles
    p = parse_property(str(_vnnlib(tmp_path, "(assert (and (>= Y_0 0.1) (<= Y_1 0.3)))")))
    y = np.array([[0.1, 0.0], [np.nextafter(0.1, 0), 0.0], [0.2, 0.3], [0.2, np.nextafter(0.3, 1)],
                  [np.nan, 0.0], [np.inf, -np.inf]])
    m = p.point_value(None, y, None, None)
    # the double 0.1 is above 1/10, so it is in the unsafe region; the double below it is not
    assert [p.violated_by(float(v)) for v in m] == [True, False, True, False, True, True]
    assert m[1] > 0 and m[3] > 0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_vnnlib_bounds_enclose_the_margin(data):
    """value_bounds over an output box contains the exact margin at points of the box."""
    d = 3
    constraint = st.tuples(st.lists(rationals(2, 8), min_size=d, max_size=d), rationals(2, 8))
    disjuncts = data.draw(st.lists(st.lists(constraint, min_size=1, max_size=3), min_size=1, max_size=3))
    prop = Property("vnnlib", None, ">", Fraction(0), "drawn", tuple(
        tuple(LinearConstraint(tuple((i, c) for i, c in enumerate(cs) if c), k) for cs, k in conj)
        for conj in disjuncts), output_dim=d, input_dim=d)
    lo = np.array(data.draw(st.lists(st.floats(-4, 4), min_size=d, max_size=d)))
    hi = lo + np.array(data.draw(st.lists(st.floats(0, 4), min_size=d, max_size=d)))
    enclosure = SimpleNamespace(output=np.stack([lo, hi], axis=-1))
    lower, upper = prop.value_bounds(enclosure)
    for t in data.draw(st.lists(st.floats(0, 1), min_size=d, max_size=d * 3)), [0.0] * d, [1.0] * d:
        y = [Fraction(a) + (Fraction(b) - Fraction(a)) * Fraction(s) for a, b, s in zip(lo, hi, (list(t) * 3)[:d])]
        exact = min(max(sum((c * y[i] for i, c in g.coefficients), g.constant) for g in conj)
                    for conj in prop.disjuncts)
        assert Fraction(lower) <= exact <= Fraction(upper)


def test_vnnlib_verdict_tests_are_strict():
    p = Property("vnnlib", None, ">", Fraction(0), "t")
    tiny = 5e-324
    assert p.proves(tiny, 1.0) and not p.proves(0.0, 1.0)
    assert p.refutes(-1.0, 0.0) and not p.refutes(-1.0, tiny)
    assert p.violated_by(0.0) and p.violated_by(math.nan) and not p.violated_by(tiny)
    assert p.point_badness(np.array([0.0]))[0] > 0 >= p.point_badness(np.array([tiny]))[0]


def test_vnnlib_dims_and_input_region(tmp_path):
    p = parse_property(str(_vnnlib(tmp_path, "(assert (>= X_0 0))\n(assert (<= X_0 0.5))\n(assert (>= X_1 0))\n"
                                             "(assert (<= X_1 0.5))\n(assert (>= Y_0 2.6))\n")))
    assert p.input_region is not None and p.input_region[0].upper.tolist() == [Fraction(1, 2)] * 2
    p.check_dims(2, 1)
    with pytest.raises(PropertyError, match="declares 2 inputs X_i, but the model's input has 3 entries"):
        p.check_dims(3, 1)
    check_input_region([p], [Box([0, 0], ["1/2", "1/2"])])
    with pytest.raises(PropertyError, match=r"box 0, X_1: the file has \[0, 1/2\], the case \[0, 1/4\]"):
        check_input_region([p], [Box([0, 0], ["1/2", "1/4"])])
    with pytest.raises(PropertyError, match=r"it gives 1 box\(es\), the case has 2"):
        check_input_region([p], [Box([0, 0], ["1/2", "1/2"])] * 2)


# x_hat = (z, z) with z = x1 + 2·x2 + 1 in [1, 5/2] on [0, 1/2]², largest at (1/2, 1/2)
RELU = AutoencoderSpec([[1, 2]], [1], [[1], [1]], [0, 0], "relu")
QUARTER = Box([0, 0], ["1/2", "1/2"])


@pytest.mark.parametrize("semantics", ["real", "float64", "float32"])
def test_vnnlib_closed_form_maximum(tmp_path, monkeypatch, semantics):
    """Unsafe Y_0 >= T: proved just above max Y_0 = 5/2, violated at T = 5/2 itself (the
    boundary point (1/2, 1/2) is unsafe: VNN-LIB's <= is not strict) and below."""
    monkeypatch.setattr(verify_runs.torch_runs, "available", lambda: False)
    for T, status in (("2.501", "proved"), ("2.5", "violated"), ("2.499", "violated")):
        p = parse_property(str(_vnnlib(tmp_path, f"(assert (>= Y_0 {T}))", f"p{T}.vnnlib")))
        v = Searcher(RELU).verify(p, QUARTER, semantics, timeout=20, max_parts=200)
        assert v.status == status, (T, v)
        if status == "violated":
            x = [Fraction(s) for s in v.counterexample["x"]]
            z = x[0] + 2 * x[1] + 1  # exact in every format here: the box's points are dyadic
            assert z >= Fraction(T) and all(0 <= c <= Fraction(1, 2) for c in x)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_relaxed_ranges_enclose_every_run(data):
    """CROWN with c as the specification matrix: the range of c·y + d holds at exact points
    (real: exact rationals, `tests/reference.py`) and for the float runs (float32, float64)
    at the same points; zero tolerance."""
    spec = data.draw(specs(activations=("relu", "identity", "leaky_relu", "tanh"), max_d=3, max_h=3))
    box = data.draw(boxes(spec.input_dim))
    d = spec.input_dim
    g = LinearConstraint(tuple((i, c) for i, c in enumerate(data.draw(st.lists(rationals(2, 8), min_size=d,
                                                                             max_size=d))) if c),
                         data.draw(rationals(2, 8)))
    points = data.draw(points_in(box, count=3))
    for semantics in ("real", "float64", "float32"):
        found = relaxed_ranges(spec, box, semantics, [g])
        if found is None:
            continue
        lo, hi = found[0]
        for x in points:
            if semantics == "real":
                if spec.activation == "tanh":
                    continue  # an Arb ball, not a rational: checked in the float semantics only
                y = [Fraction(int(v.p), int(v.q)) for v in reference(spec, x, None)["output"]]
            else:
                y = [Fraction(float(v)) for v in evaluate(spec, x, backend=semantics).output]
            value = sum((c * y[i] for i, c in g.coefficients), g.constant)
            assert Fraction(lo) <= value <= Fraction(hi), (semantics, x)


def test_relaxed_ranges_keep_the_dependence_of_outputs():
    # Y_0 − Y_1 is 0 everywhere on RELU; intervals of the outputs alone give [−3/2, 3/2]
    g = LinearConstraint(((0, Fraction(1)), (1, Fraction(-1))), Fraction(0))
    (lo, hi), = relaxed_ranges(RELU, QUARTER, "real", [g])
    assert lo <= 0 <= hi and hi - lo < 1e-12
    assert g.range(np.array([1.0, 1.0]), np.array([2.5, 2.5])) == (-1.5, 1.5)
    # a last layer with an activation: c combines CROWN's linear bounds of the outputs; sigmoid's two
    # lines are parallel, so σ(z) − σ(z) is bounded by their gap, not by the outputs' widths
    squashed = LayeredSpec([Layer([[1, 2]], [1], "relu")], [Layer([[1], [1]], [0, 0], "sigmoid")])
    (lo, hi), = relaxed_ranges(squashed, QUARTER, "real", [g])
    width = 1 / (1 + math.exp(-2.5)) - 1 / (1 + math.exp(-1))  # of each output's range
    assert lo <= 0 <= hi and hi - lo < width / 2  # the outputs' intervals give a range 2·width wide


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_relaxed_ranges_through_a_last_activation_enclose_float_runs(data):
    """The same with an activation on the last layer, against numpy float runs of the
    layered model (`layered_forward` in the format) at points of the box."""
    v1 = data.draw(specs(activations=("relu", "tanh", "identity"), max_d=3, max_h=3))
    last = data.draw(st.sampled_from(["sigmoid", "relu", "tanh"]))
    spec = LayeredSpec([Layer(v1.W_enc, v1.b_enc, v1.activation)], [Layer(v1.W_dec, v1.b_dec, last)])
    box = data.draw(boxes(spec.input_dim))
    d = spec.input_dim
    g = LinearConstraint(tuple((i, c) for i, c in enumerate(data.draw(st.lists(rationals(2, 8), min_size=d,
                                                                             max_size=d))) if c),
                         data.draw(rationals(2, 8)))
    points = np.array(data.draw(points_in(box, count=3)), dtype=object)
    runs = verify_runs.ModelRuns(spec)
    for semantics in ("float64", "float32"):
        found = relaxed_ranges(spec, box, semantics, [g])
        if found is None:
            continue
        (lo, hi), = found
        X = runs.inputs(points, semantics)
        Y = layered_forward(get_backend(semantics), runs.params(semantics), X).output
        for y in np.asarray(Y, dtype=np.float64):
            value = sum((c * Fraction(float(y[i])) for i, c in g.coefficients), g.constant)
            assert Fraction(lo) <= value <= Fraction(hi), semantics
