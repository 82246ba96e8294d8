"""TorchLean `crown_query_v1` documents: well-formed against the format TorchLean's
checker decodes, exact strings that round-trip to the model's weights, the structure of
TorchLean's own example, and `replay_check` (our exact re-implementation of the
documented check) against that example's acceptance table and against exact sampling."""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import rationals
from verifae import AutoencoderSpec, Box, LayeredSpec
from verifae.activations.relu import Relu
from verifae.errors import UnsupportedError
from verifae.verify.properties import parse_property
from verifae.verify.torchlean import CROWN_QUERY_FORMAT, crown_query, replay_check

# TorchLean's example (its CROWN query tests): relu(x) + relu(-x) < 3/2 on [-1, 1], accepted
EXAMPLE = {"format": "crown_query_v1", "input_dim": 1, "input": {"lo": ["-1"], "hi": ["1"]},
           "layers": [{"kind": "linear", "weights": [["1"], ["-1"]], "bias": ["0", "0"]},
                      {"kind": "relu", "alpha": ["1/2", "1/2"]},
                      {"kind": "linear", "weights": [["1", "1"]], "bias": ["0"]}],
           "query": {"weights": [["1"]], "bias": ["-3/2"], "strict": True}}
# the same network as an autoencoder: x_hat = relu(x) + relu(−x) = |x|
ABS = AutoencoderSpec([[1], [-1]], [0, 0], [[1, 1]], [0], "relu")


def _vnnlib(tmp_path, body, n=1):
    decl = "".join(f"(declare-const X_{i} Real)\n(declare-const Y_{i} Real)\n" for i in range(n))
    path = tmp_path / "p.vnnlib"
    path.write_text(decl + body)
    return parse_property(str(path))


def _well_formed(doc, input_dim, widths):
    """The document's shape as TorchLean decodes it: every number an exact string."""
    assert set(doc) == {"format", "input_dim", "input", "layers", "query"}
    assert doc["format"] == CROWN_QUERY_FORMAT and doc["input_dim"] == input_dim
    assert len(doc["input"]["lo"]) == len(doc["input"]["hi"]) == input_dim
    width = input_dim
    strings = [*doc["input"]["lo"], *doc["input"]["hi"]]
    for layer in doc["layers"]:
        if layer["kind"] == "linear":
            assert set(layer) == {"kind", "weights", "bias"}
            assert all(len(row) == width for row in layer["weights"]) and len(layer["bias"]) == len(layer["weights"])
            width = len(layer["weights"])
            strings += [v for row in layer["weights"] for v in row] + layer["bias"]
        else:
            assert set(layer) == {"kind", "alpha"} and layer["kind"] == "relu" and len(layer["alpha"]) == width
            assert all(0 <= Fraction(a) <= 1 for a in layer["alpha"])
            strings += layer["alpha"]
    assert [len(layer["weights"]) for layer in doc["layers"] if layer["kind"] == "linear"] == widths
    query = doc["query"]
    assert set(query) == {"weights", "bias", "strict"} and isinstance(query["strict"], bool)
    assert all(len(row) == width for row in query["weights"]) and len(query["bias"]) == len(query["weights"]) > 0
    strings += [v for row in query["weights"] for v in row] + query["bias"]
    assert all(isinstance(s, str) and str(Fraction(s)) == s for s in strings)
    json.loads(json.dumps(doc))


def test_example_structure_and_its_acceptance(tmp_path):
    # VNN-LIB's unsafe region Y_0 >= 3/2 is TorchLean's safe row y − 3/2 < 0
    doc = crown_query(ABS, Box([-1], [1]), [_vnnlib(tmp_path, "(assert (>= Y_0 1.5))")])
    _well_formed(doc, 1, [2, 1])
    # CROWN's adaptive α on [−1, 1] is 0 (u > −l fails); TorchLean's example proposes 1/2
    assert doc["layers"][1]["alpha"] == ["0", "0"]
    doc["layers"][1]["alpha"] = ["1/2", "1/2"]
    assert doc == EXAMPLE
    assert replay_check(doc) and replay_check(EXAMPLE)


@pytest.mark.parametrize("old, new, accepted", [
    ("-3/2", "-1", False),  # strict boundary: |x| reaches 1
    ("-3/2", "-1/2", False),  # unsafe stronger query
    ('"1/2"', '"-1/2"', False),  # negative α
    ('"1/2"', '"3/2"', False),  # α above one
    ('"1/2"', '"0"', True),
    ('"1/2"', '"1"', True),
    ('["1/2","1/2"]', '["1/2"]', False),  # wrong α dimension
    ('"1/2"', '"1/0"', False),
    ('"1/2"', "0.5", False),  # JSON numbers are refused
    ('"lo":["-1"]', '"lo":["2"]', False),  # reversed box
    ('"lo":["-1"]', '"lo":["1"]', True),  # a point box
    ('"input_dim":1', '"input_dim":2', False),
    ('[["1"],["-1"]]', '[["1"],[]]', False),  # ragged matrix
    ('"query":{"weights":[["1"]]', '"query":{"weights":[["1","1"]]', False),
    ('"query":{"weights":[["1"]],"bias":["-3/2"]', '"query":{"weights":[],"bias":[]', False),
    ('"relu"', '"sigmoid"', False),
    ("crown_query_v1", "crown_v1", False),
])
def test_replay_follows_torchlean_acceptance_table(old, new, accepted):
    text = json.dumps(EXAMPLE, separators=(",", ":"))
    assert old in text
    assert replay_check(json.loads(text.replace(old, new))) is accepted


def test_non_strict_boundary_is_accepted():
    doc = copy.deepcopy(EXAMPLE)
    doc["query"]["bias"], doc["query"]["strict"] = ["-1"], False
    assert replay_check(doc)


def test_strings_round_trip_to_the_weights_and_rows():
    spec = LayeredSpec.from_v1(AutoencoderSpec([["0.1", "-1/3"], [2, "0x1.8p-3"]], ["1e-3", 0],
                                               [[1, -1], ["2/7", 0]], [0, "-0.5"], "relu"))
    box = Box(["-1/10", 0], ["1/2", "0.3"])
    doc = crown_query(spec, box, [parse_property("output[1]<=2"), parse_property("output[0]>=-0.1")])
    _well_formed(doc, 2, [2, 2])
    linear = [layer for layer in doc["layers"] if layer["kind"] == "linear"]
    for layer, item in zip(linear, (*spec.encoder, *spec.decoder)):
        assert [[Fraction(v) for v in row] for row in layer["weights"]] == [list(r) for r in item.weight]
        assert [Fraction(v) for v in layer["bias"]] == list(item.bias)
    assert [Fraction(v) for v in doc["input"]["lo"]] == list(box.lower)
    assert doc["query"] == {"weights": [["0", "1"], ["-1", "0"]], "bias": ["-2", "-1/10"], "strict": False}


def test_refusals(tmp_path):
    tanh = AutoencoderSpec([[1]], [0], [[1]], [0], "tanh")
    with pytest.raises(UnsupportedError, match="layer encoder.0 has activation 'tanh'"):
        crown_query(tanh, Box([0], [1]), [parse_property("output[0]<=2")])
    with pytest.raises(UnsupportedError, match="TorchLean's query states linear output properties only"):
        crown_query(ABS, Box([0], [1]), [parse_property("error<=2")])
    two = _vnnlib(tmp_path, "(assert (and (>= Y_0 1) (<= Y_0 2)))")
    with pytest.raises(UnsupportedError, match=r"a disjunct \(line 3\) has 2 constraints"):
        crown_query(ABS, Box([0], [1]), [two])


def _exact_forward(spec: AutoencoderSpec, x):
    hidden = [max(Fraction(0), sum((w * xi for w, xi in zip(row, x)), b)) for row, b in zip(spec.W_enc, spec.b_enc)]
    return [sum((w * h for w, h in zip(row, hidden)), b) for row, b in zip(spec.W_dec, spec.b_dec)]


@st.composite
def _relu_problems(draw):
    d, h = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    matrix = lambda r, c: draw(st.lists(st.lists(rationals(2, 4), min_size=c, max_size=c), min_size=r, max_size=r))  # noqa: E731
    spec = AutoencoderSpec(matrix(h, d), matrix(1, h)[0], matrix(d, h), matrix(1, d)[0], "relu")
    lower = draw(st.lists(rationals(1, 4), min_size=d, max_size=d))
    upper = [lo + w for lo, w in zip(lower, draw(st.lists(st.sampled_from([0, Fraction(1, 4), 1]), min_size=d,
                                                            max_size=d)))]
    i, sense, t = draw(st.integers(0, d - 1)), draw(st.sampled_from(["<=", ">="])), draw(rationals(4, 4))
    points = draw(st.lists(st.lists(st.integers(0, 4), min_size=d, max_size=d), min_size=4, max_size=8))
    return spec, Box(lower, upper), f"output[{i}]{sense}{t}", points


@settings(max_examples=40, deadline=None)
@given(_relu_problems())
def test_an_accepted_document_holds_at_every_sampled_point(problem):
    """Zero tolerance: when the replay accepts, the property holds at exact sample points
    (corners and a grid), evaluated in exact rationals independently of verifae."""
    spec, box, text, points = problem
    doc = crown_query(spec, box, [parse_property(text)])
    _well_formed(doc, spec.input_dim, [len(spec.b_enc), spec.input_dim])
    if not replay_check(doc):
        return
    for p in points:
        x = [lo + (hi - lo) * Fraction(k, 4) for lo, hi, k in zip(box.lower, box.upper, p)]
        y = _exact_forward(spec, x)
        for row, bias in zip(doc["query"]["weights"], doc["query"]["bias"]):
            assert sum((Fraction(w) * v for w, v in zip(row, y)), Fraction(bias)) <= 0


def test_layered_relu_model():
    """Several relu layers and identity ones: a relu entry after each relu layer only;
    the replay rejects a threshold below a value the model reaches (exact, on a grid)
    and accepts a generous one."""
    from verifae.layered import Layer

    spec = LayeredSpec([Layer([[1, -1], ["1/2", 1]], [0, "-1/4"], "relu"), Layer([[1, 1]], ["0.1"], "relu")],
                       [Layer([[2]], [0], "identity"), Layer([[1], [-1]], [0, 1], "relu")])
    box = Box([-1, 0], [1, "1/2"])
    kinds = [layer["kind"] for layer in crown_query(spec, box, [parse_property("output[0]<=10")])["layers"]]
    assert kinds == ["linear", "relu", "linear", "relu", "linear", "linear", "relu"]
    grid = [[Fraction(i, 8) * 2 - 1, Fraction(j, 16)] for i in range(9) for j in range(9)]

    def forward(x):
        a = x
        for layer in (*spec.encoder, *spec.decoder):
            z = [sum((w * v for w, v in zip(row, a)), b) for row, b in zip(layer.weight, layer.bias)]
            a = [max(v, Fraction(0)) for v in z] if isinstance(layer.activation, Relu) else z
        return a

    top = max(forward(x)[0] for x in grid)
    assert not replay_check(crown_query(spec, box, [parse_property(f"output[0]<={top - Fraction(1, 100)}")]))
    doc = crown_query(spec, box, [parse_property("output[0]<=10")])
    assert replay_check(doc)
