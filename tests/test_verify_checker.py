"""The certificate checker: an honest certificate is accepted; every tampering rejected."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import rationals
from verifae import AutoencoderSpec, Box, LayeredSpec
from verifae.cases import read_json
from verifae.errors import UnsupportedError
from verifae.verify.api import certificate_json, verify
from verifae.verify.checker import check_certificate, check_certificate_file, checker_model, leaf_bound
from verifae.verify.properties import parse_property

# z = x1 + x2 in [-1, 2] straddles the kink; x_hat = (relu(z), −relu(z)); E is at most 5, at (1, 1)
KINK = AutoencoderSpec([[1, 1]], [0], [[1], [-1]], [0, 0], "relu")
KINK_BOX = Box([-1, 0], [1, 1])


@pytest.fixture(scope="module")
def certificate():
    result = verify(KINK, KINK_BOX, ["error<=5.01", "output[0]<=2.001", "latent[0]>=-0.001"], semantics=("real",),
                    certificate=True, timeout=20)
    assert result.exit_code == 0
    cert = json.loads(json.dumps(certificate_json(result)))  # through JSON text, as written
    assert len(cert["proofs"]) == 3 and len(cert["proofs"][0]["leaves"]) > 1  # the kink needs splits
    return cert


def test_accepts_an_honest_certificate(certificate):
    report = check_certificate(certificate)
    assert report.accepted, report.reasons
    assert report.proofs == 3 and report.leaves == sum(len(p["leaves"]) for p in certificate["proofs"])


def test_reads_exact_numbers_from_a_file(certificate, tmp_path):
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(certificate))
    assert check_certificate_file(path).accepted
    assert read_json(path)["proofs"][0]["box"]["upper"] == ["1", "1"]


def _rejected(cert, reason):
    report = check_certificate(cert)
    assert not report.accepted
    assert any(reason in r for r in report.reasons), report.reasons


def test_rejects_a_dropped_leaf(certificate):
    cert = copy.deepcopy(certificate)
    cert["proofs"][0]["leaves"].pop()
    _rejected(cert, "the leaves do not tile the box exactly")


def test_rejects_a_duplicated_leaf(certificate):
    cert = copy.deepcopy(certificate)
    cert["proofs"][0]["leaves"].append(cert["proofs"][0]["leaves"][0])
    _rejected(cert, "the leaves do not tile the box exactly")


def test_rejects_a_widened_box(certificate):
    cert = copy.deepcopy(certificate)
    cert["proofs"][0]["box"]["upper"][1] = "11/10"
    _rejected(cert, "the leaves do not tile the box exactly")


def test_rejects_a_changed_leaf_coordinate(certificate):
    cert = copy.deepcopy(certificate)
    leaf = cert["proofs"][0]["leaves"][0]
    k = next(k for k in range(2) if leaf["lower"][k] != leaf["upper"][k])
    leaf["upper"][k] = str((Fraction(leaf["lower"][k]) + Fraction(leaf["upper"][k])) / 2)
    _rejected(cert, "the leaves do not tile the box exactly")


def test_rejects_a_claimed_bound_beyond_the_threshold(certificate):
    cert = copy.deepcopy(certificate)
    cert["proofs"][0]["leaves"][0]["bound"][1] = "51/10"
    _rejected(cert, "leaves[0]: the claimed bound does not imply error<=5.01")


def test_rejects_a_tightened_threshold(certificate):
    """τ below the true maximum 5: the leaves' own bounds cannot imply it."""
    cert = copy.deepcopy(certificate)
    cert["proofs"][0]["property"] = "error<=4.99"
    for leaf in cert["proofs"][0]["leaves"]:
        leaf["bound"] = ["0", "4"]  # a lie the recomputation exposes
    _rejected(cert, "the recomputed bound")


def test_rejects_a_changed_weight(certificate):
    cert = copy.deepcopy(certificate)
    cert["model"]["decoder"][0]["weight"][1][0] = "-2"  # output[1] = −2·relu(z): E reaches (1 + 25)/2
    _rejected(cert, "does not imply error<=5.01")


@pytest.mark.parametrize("change, reason", [
    (lambda c: c.update(format="other"), "not a certificate of format"),
    (lambda c: c["proofs"][0].update(semantics="float32"), "the checker covers the real semantics only"),
    (lambda c: c["proofs"][0].update(property="output[9]<=1"), "index 9 is out of range"),
    (lambda c: c["proofs"][0]["leaves"][0].update(lower=["a", "0"]), "'a' is not a number"),
    (lambda c: c["model"]["encoder"][0].update(activation="tanh"), "activation 'tanh' needs Arb balls"),
    (lambda c: c.update(proofs=[]), "proofs: expected a non-empty list"),
])
def test_rejects_malformed_certificates(certificate, change, reason):
    cert = copy.deepcopy(certificate)
    change(cert)
    _rejected(cert, reason)


def test_leaf_bound_is_exact_where_the_model_is_affine():
    """The averager x_hat = ((x1 + x2)/2, ...): E = (x2 − x1)²/4 exactly; symbolic
    intervals give the exact range of each residual, so E's bound is [0, 1/4] on [0, 1]²."""
    spec = LayeredSpec.from_v1(AutoencoderSpec([["1/2", "1/2"]], [0], [[1], [1]], [0, 0], "identity"))
    model = checker_model(spec)
    assert leaf_bound(model, parse_property("error<=1"), [0, 0], [1, 1]) == (0, Fraction(1, 4))
    assert leaf_bound(model, parse_property("output[0]<=1"), [0, 0], [1, 1]) == (0, 1)


def test_leaf_bound_encloses_sampled_values():
    """Zero tolerance against exact point values of the relu model on a grid."""
    model = checker_model(LayeredSpec.from_v1(KINK))
    prop = parse_property("error<=5")
    lo, hi = leaf_bound(model, prop, KINK_BOX.lower, KINK_BOX.upper)
    for i in range(9):
        for j in range(9):
            x1, x2 = Fraction(-1) + Fraction(i, 4), Fraction(j, 8)
            z = max(x1 + x2, Fraction(0))
            e = ((z - x1) ** 2 + (-z - x2) ** 2) / 2
            assert lo <= e <= hi


def test_certificates_refuse_what_the_checker_cannot_check():
    tanh = AutoencoderSpec([[1, 1]], [0], [[1], [1]], [0, 0], "tanh")
    with pytest.raises(UnsupportedError, match="activation 'tanh' needs Arb balls"):
        verify(tanh, KINK_BOX, "error<=10", semantics=("real",), certificate=True)
    with pytest.raises(UnsupportedError, match="the checker bounds error, output and latent properties only"):
        verify(KINK, KINK_BOX, "input_grad_inf<=10", semantics=("real",), certificate=True)
    with pytest.raises(UnsupportedError, match="certificates cover the real semantics only"):
        verify(KINK, KINK_BOX, "error<=10", semantics=("float32",), certificate=True)


@st.composite
def _pwl_problems(draw):
    """Random layered models of identity / relu / leaky_relu layers (and bare linear ones)."""
    d = draw(st.integers(1, 3))
    sizes = [d, *draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)), d]
    n_encoder = draw(st.integers(1, len(sizes) - 2))
    acts = st.sampled_from([None, "identity", "relu", {"name": "leaky_relu", "negative_slope": "1/4"}])
    layers = []
    for k in range(len(sizes) - 1):
        W = draw(st.lists(st.lists(rationals(), min_size=sizes[k], max_size=sizes[k]),
                          min_size=sizes[k + 1], max_size=sizes[k + 1]))
        b = draw(st.lists(rationals(), min_size=sizes[k + 1], max_size=sizes[k + 1]))
        layers.append((W, b, draw(acts)))
    spec = LayeredSpec(layers[:n_encoder], layers[n_encoder:])
    centre = draw(st.lists(rationals(), min_size=d, max_size=d))
    radius = draw(st.lists(st.fractions(0, 1, max_denominator=8), min_size=d, max_size=d))
    box = Box.around(centre, radius)
    ts = draw(st.lists(st.lists(st.fractions(0, 1, max_denominator=9), min_size=d, max_size=d), min_size=4,
                       max_size=4))
    points = [[lo + t * (hi - lo) for lo, hi, t in zip(box.lower, box.upper, ti)] for ti in ts]
    points += [list(c) for c in box.corners(limit=8)]
    return spec, box, points


def _exact_run(spec, x):
    """Latent, output and E at x in exact rationals (plain loops, not the checker's code)."""
    a = list(x)
    latent = None
    for k, layer in enumerate(spec.layers):
        z = [sum((w * v for w, v in zip(row, a)), Fraction(0)) + bias for row, bias in zip(layer.weight, layer.bias)]
        name = "identity" if layer.activation is None else layer.activation.name
        slope = Fraction(1, 4) if name == "leaky_relu" else Fraction(0)
        a = z if name == "identity" else [v if v > 0 else slope * v for v in z]
        if k == len(spec.encoder) - 1:
            latent = a
    error = sum(((o - xi) ** 2 for o, xi in zip(a, x)), Fraction(0)) / len(x)
    return latent, a, error


@settings(max_examples=40, deadline=None)
@given(_pwl_problems())
def test_checker_bound_contains_exact_values(problem):
    """Zero tolerance: the checker's recomputed bound contains every exact value."""
    spec, box, points = problem
    model = checker_model(spec)
    bounds = {"error": leaf_bound(model, parse_property("error<=0"), box.lower, box.upper),
              "output": leaf_bound(model, parse_property("output[0]<=0"), box.lower, box.upper),
              "latent": leaf_bound(model, parse_property("latent[0]<=0"), box.lower, box.upper)}
    for x in points:
        latent, output, error = _exact_run(spec, x)
        assert bounds["error"][0] <= error <= bounds["error"][1]
        assert bounds["output"][0] <= output[0] <= bounds["output"][1]
        assert bounds["latent"][0] <= latent[0] <= bounds["latent"][1]


# ---------------------------------------------------------------- found by the adversarial review


def read_json_text(cert):
    """The certificate through JSON text, as written and read back."""
    return json.loads(json.dumps(cert))



def test_a_relu_output_is_proved_non_negative_with_a_certificate():
    """The checker's lower form of a straddling relu with hi >= −lo is z itself; without
    the floor f(lo) = 0 the part holding the kink never closed, and a one-part proof
    became `unknown` when a certificate was asked for."""
    result = verify(KINK, KINK_BOX, ["latent[0]>=0"], semantics=("real",), max_parts=20, certificate=True)
    assert result.boxes[0][0]["real"].status == "proved"
    assert check_certificate(read_json_text(certificate_json(result))).accepted


def test_a_certificate_of_a_v1_model_is_checked():
    """A case file's v1 model (W_enc, b_enc, W_dec, b_dec) in a certificate crashed the
    checker (exit 3)."""
    cert = certificate_json(verify(KINK, KINK_BOX, ["output[0]<=3"], semantics=("real",), certificate=True))
    v1 = {"W_enc": [["1", "1"]], "b_enc": ["0"], "W_dec": [["1"], ["-1"]], "b_dec": ["0", "0"],
          "activation": "relu"}
    assert check_certificate(read_json_text({**cert, "model": v1})).accepted


def test_a_certificate_is_checked_against_its_case(tmp_path):
    """Without the case, a certificate whose model was changed is a proof about the
    changed model, and is accepted; `--case` binds it to the case verified."""
    cert = certificate_json(verify(KINK, KINK_BOX, ["output[0]<=3"], semantics=("real",), certificate=True))
    case = SimpleNamespace(spec=KINK, boxes=(KINK_BOX,))
    assert check_certificate(read_json_text(cert), case).accepted
    changed = copy.deepcopy(cert)
    changed["model"]["encoder"][0]["weight"] = [["1/2", "1/2"]]
    assert check_certificate(read_json_text(changed)).accepted  # a true statement about another model
    report = check_certificate(read_json_text(changed), case)
    assert not report.accepted and "model: not the case's model (a weight, bias, activation or shape differs)" \
        in report.reasons
    other_box = SimpleNamespace(spec=KINK, boxes=(Box([-1, 0], [1, 2]),))
    report = check_certificate(read_json_text(cert), other_box)
    assert report.reasons == ["proofs[0].box: not one of the case's boxes"]
