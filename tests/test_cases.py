"""Case format v2 (layered models) through `verifae.cases.load_case` on files, and v1
cases read exactly as before."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from verifae import AutoencoderSpec, LayeredSpec, enclose, enclose_layered
from verifae.cases import Case, CaseError, LayeredCase, load_case

CASES = Path(__file__).resolve().parent.parent / "cases"


def layer(rows, cols, activation="relu", **extra):
    return {"weight": [["0.1"] * cols for _ in range(rows)], "bias": ["0"] * rows, "activation": activation, **extra}


def write(tmp_path, model, box=None):
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"model": model, "input": box or {"center": [0, "0.5"], "radius": "0.1"}}))
    return path


def error(tmp_path, model, box=None) -> tuple[str, str]:
    with pytest.raises(CaseError) as info:
        load_case(write(tmp_path, model, box), layered=True)
    return info.value.path, info.value.message


def test_a_layered_case(tmp_path):
    model = {"encoder": [layer(3, 2), layer(1, 3, {"name": "leaky_relu", "negative_slope": "0.2"}, name="code")],
             "decoder": [layer(2, 1, None, name="out")]}
    case = load_case(write(tmp_path, model), layered=True)
    assert isinstance(case, LayeredCase) and isinstance(case.spec, LayeredSpec)
    spec = case.spec
    assert [x.name for x in spec.layers] == ["encoder.0", "code", "out"]
    assert spec.layer_sizes == (2, 3, 1, 2) and spec.latent_dim == 1
    assert spec.encoder[0].weight[0, 0] == Fraction(1, 10)
    assert spec.encoder[1].activation is not None and spec.encoder[1].activation.config() == {
        "name": "leaky_relu", "negative_slope": "1/5"}
    assert spec.decoder[0].activation is None
    assert case.box.lower[1] == Fraction(2, 5)
    e = enclose_layered(spec, case.box)
    assert [x.name for x in e.layers] == ["encoder.0", "code", "out"]
    assert list(e.gradients) == ["encoder.0.weight", "encoder.0.bias", "code.weight", "code.bias", "out.weight",
                                 "out.bias", "input"]


@pytest.mark.parametrize("model, path, message", [
    ({"encoder": [layer(3, 2), {"weight": [["1"] * 3] * 7, "bias": ["0"] * 8, "activation": "relu"}],
      "decoder": [layer(2, 8)]},
     "model.encoder[1].weight", "expected 8 rows (one per entry of model.encoder[1].bias), got 7"),
    ({"encoder": [layer(4, 2)], "decoder": [layer(8, 3)]},
     "model.decoder[0].weight",
     "shape (8, 3) does not chain: the previous layer gives 4 values (model.encoder[0].weight has shape (4, 2))"),
    ({"encoder": [layer(4, 2)], "decoder": [layer(3, 4)]},
     "model.decoder[0].weight", "ends the decoder with 3 values, but the model's input_dim is 2"),
    ({"encoder": [{"weight": [["1", "2"], ["3"]], "bias": ["0", "0"], "activation": "relu"}],
      "decoder": [layer(2, 2)]},
     "model.encoder[0].weight[1]", "expected 2 numbers, got 1"),
    ({"encoder": [layer(4, 2, "softmax")], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation", "unknown activation 'softmax'; valid activations are: relu, sigmoid, tanh"),
    ({"encoder": [layer(4, 2, {"name": "swish"})], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation.name", "unknown activation 'swish'; valid activations are: relu"),
    ({"encoder": [layer(4, 2, {"negative_slope": "0.2"})], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation.name", "missing key"),
    ({"encoder": [layer(4, 2, {"name": "leaky_relu", "negative_slope": "2"})], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation.negative_slope", "negative_slope must lie in [0, 1], got '2'"),
    ({"encoder": [layer(4, 2, {"name": "leaky_relu", "negative_slope": "x"})], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation.negative_slope", "'x' is not a number"),
    ({"encoder": [layer(4, 2, {"name": "leaky_relu", "slope": "0.2"})], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation.slope", "unknown parameter 'slope'; its parameter is negative_slope"),
    ({"encoder": [layer(4, 2, {"name": "tanh", "slope": "0.2"})], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation.slope", "activation 'tanh' takes no parameters"),
    ({"encoder": [layer(4, 2, 3)], "decoder": [layer(2, 4)]},
     "model.encoder[0].activation", "expected an activation name, an object with a name or null, got a number"),
    ({"encoder": [layer(4, 2, units=4)], "decoder": [layer(2, 4)]},
     "model.encoder[0].units", "unknown key; expected one of weight, bias, activation, name"),
    ({"encoder": [{"weight": [["1", "2"]], "bias": ["0"]}], "decoder": [layer(2, 1)]},
     "model.encoder[0].activation", 'missing key (use null or "identity" for none)'),
    ({"encoder": [layer(4, 2)], "decoder": [layer(2, 4)], "activation": "relu"},
     "model.activation", "unknown key; expected one of encoder, decoder"),
    ({"encoder": [layer(4, 2)]}, "model.decoder", "missing key (a layered model needs both encoder and decoder)"),
    ({"encoder": [], "decoder": [layer(2, 4)]}, "model.encoder", "expected at least one layer"),
    ({"encoder": layer(4, 2), "decoder": [layer(2, 4)]}, "model.encoder", "expected a list of layers, got an object"),
    ({"encoder": ["relu"], "decoder": [layer(2, 4)]}, "model.encoder[0]", "expected a layer object"),
    ({"encoder": [layer(4, 2, name="a")], "decoder": [layer(2, 4, name="a")]},
     "model.decoder[0].name", "layer name 'a' is also the name of model.encoder[0]"),
    ({"encoder": [layer(4, 2, name="")], "decoder": [layer(2, 4)]},
     "model.encoder[0].name", "expected a non-empty string"),
    ({"encoder": [{"weight": [], "bias": [], "activation": "relu"}], "decoder": [layer(2, 4)]},
     "model.encoder[0].bias", "expected at least one number"),
    ({"encoder": [{"weight": [[]], "bias": ["0"], "activation": "relu"}], "decoder": [layer(2, 4)]},
     "model.encoder[0].weight", "the rows are empty"),
    ({"encoder": [{"weight": [["1e400", "0"]], "bias": ["0"], "activation": "relu"}], "decoder": [layer(2, 1)]},
     "model.encoder[0].weight[0][0]", "beyond the double range"),
])
def test_malformed_layers_name_their_field(tmp_path, model, path, message):
    got_path, got_message = error(tmp_path, model)
    assert got_path == path
    assert message in got_message


def test_the_box_must_fit_the_layered_model(tmp_path):
    model = {"encoder": [layer(4, 2)], "decoder": [layer(2, 4)]}
    assert error(tmp_path, model, {"center": [0, 0, 0], "radius": 1}) == (
        "input.center", "expected 2 numbers (input_dim 2), got 3")


def test_a_layered_case_is_refused_where_it_is_not_supported(tmp_path):
    path = write(tmp_path, {"encoder": [layer(4, 2)], "decoder": [layer(2, 4)]})
    with pytest.raises(CaseError, match="model: a layered model .* is not supported here yet"):
        load_case(path)


SMALL_CASES = sorted(p for p in CASES.glob("*.json") if p.stat().st_size < 200_000)
V1_CASES = [p.name for p in SMALL_CASES if '"encoder"' not in p.read_text()]
LAYERED_CASES = [p.name for p in SMALL_CASES if '"encoder"' in p.read_text()]


@pytest.mark.parametrize("name", V1_CASES)
def test_v1_cases_read_as_before(name):
    """A v1 case gives the same Case (an AutoencoderSpec) with layered=True or not, and
    its enclosures are those of the v1 spec as a layered model."""
    case = load_case(CASES / name)
    again = load_case(CASES / name, layered=True)
    assert type(case) is Case and type(again) is Case and isinstance(again.spec, AutoencoderSpec)
    for attr in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert (getattr(case.spec, attr) == getattr(again.spec, attr)).all()
    assert case.spec.activation == again.spec.activation and len(case.boxes) == len(again.boxes)
    assert all((x.lower == y.lower).all() and (x.upper == y.upper).all() for x, y in zip(case.boxes, again.boxes))
    a = enclose(case.spec, case.box, grad_output=case.grad_output, backend="fast", method="interval")
    b = enclose_layered(LayeredSpec.from_v1(case.spec), case.box, grad_output=case.grad_output, backend="fast",
                        method="interval")
    assert a.output.tobytes() == b.output.tobytes() and a.hidden.tobytes() == b.latent.tobytes()
    assert a.gradients["W_enc"].tobytes() == b.gradients["encoder.0.weight"].tobytes()
    assert a.gradients["input"].tobytes() == b.gradients["input"].tobytes()


@pytest.mark.parametrize("name", LAYERED_CASES)
def test_the_committed_layered_cases(name):
    """The layered cases of cases/ are format v2 with exact decimal-string parameters
    (every weight and bias a string, read as its exact decimal)."""
    data = json.loads((CASES / name).read_text())
    case = load_case(CASES / name, layered=True)
    assert isinstance(case, LayeredCase) and case.name == name.removesuffix(".json")
    for part in ("encoder", "decoder"):
        for written, layer_ in zip(data["model"][part], getattr(case.spec, part)):
            assert all(isinstance(v, str) for row in written["weight"] for v in row)
            assert layer_.weight.tolist() == [[Fraction(v) for v in row] for row in written["weight"]]
    assert len(LAYERED_CASES) >= 2 and max(len(load_case(CASES / n, layered=True).spec.layers)
                                           for n in LAYERED_CASES) >= 5


V1_MODEL = {"W_enc": [["1", "-2"]], "b_enc": ["0"], "W_dec": [["1"], ["-1"]], "b_dec": ["0", "0"]}


def test_a_v1_activation_with_parameters(tmp_path):
    """v1's "activation" may be an object as in v2: the spec holds the configured entry,
    and the result of the enclosures is that of the configured activation."""
    path = tmp_path / "case.json"
    model = {**V1_MODEL, "activation": {"name": "leaky_relu", "negative_slope": "0.2"}}
    path.write_text(json.dumps({"model": model, "input": {"lower": ["-1", "0"], "upper": ["0", "1"]}}))
    case = load_case(path)
    assert type(case) is Case
    assert case.spec.activation_config == {"name": "leaky_relu", "negative_slope": "1/5"}
    assert case.spec.activation_name == "leaky_relu"
    # z = x1 - 2 x2 in [-3, 0]: leaky_relu(z) = z/5 in [-3/5, 0] (the default slope would give [-0.03, 0])
    e = enclose(case.spec, case.box, backend="exact", method="interval")
    (lo, hi), = e.hidden.tolist()
    assert Fraction(lo) <= Fraction(-3, 5) < Fraction(lo) + Fraction(1, 10**15) and hi == 0
    # the name alone, or the default configuration written out, is the plain name as before
    for default in ("leaky_relu", {"name": "leaky_relu", "negative_slope": "0.01"}, {"name": "leaky_relu"}):
        path.write_text(json.dumps({"model": {**V1_MODEL, "activation": default}, "input": {"center": [0, 0],
                                                                                           "radius": 1}}))
        assert load_case(path).spec.activation == "leaky_relu"


@pytest.mark.parametrize("activation, path, message", [
    (None, "model.activation", "expected an activation name or an object with a name, got null"),
    (3, "model.activation", "expected an activation name or an object with a name, got a number"),
    ({"name": "selu"}, "model.activation.name", "unknown activation 'selu'; valid activations are: relu"),
    ({"negative_slope": "0.2"}, "model.activation.name", "missing key"),
    ({"name": "leaky_relu", "negative_slope": "2"}, "model.activation.negative_slope",
     "negative_slope must lie in [0, 1], got '2'"),
    ({"name": "elu", "slope": "1"}, "model.activation.slope", "unknown parameter 'slope'"),
    ({"name": "tanh", "beta": "1"}, "model.activation.beta", "activation 'tanh' takes no parameters"),
])
def test_a_malformed_v1_activation_names_its_field(tmp_path, activation, path, message):
    p = tmp_path / "case.json"
    p.write_text(json.dumps({"model": {**V1_MODEL, "activation": activation}, "input": {"center": [0, 0],
                                                                                       "radius": 1}}))
    with pytest.raises(CaseError) as info:
        load_case(p)
    assert info.value.path == path and message in info.value.message


# ---------------------------------------------------------------- the "verify" object (verifae report)

def verify_case(tmp_path, verify) -> Path:
    """tiny-relu-2-1-2 (input_dim 2, latent_dim 1) with a "verify" object."""
    data = json.loads((CASES / "tiny-relu-2-1-2.json").read_text())
    data["verify"] = verify
    path = tmp_path / "case.json"
    path.write_text(json.dumps(data))
    return path


def test_the_verify_object_parses(tmp_path):
    from verifae.cases import VerifySettings

    case = load_case(verify_case(tmp_path, {
        "properties": ["error<=4.5", "output[1]>=-1", "latent[0]<=3"], "semantics": ["real", "float32"],
        "timeout": "0.5", "max_parts": 7, "eps": ["0.1", 0.25], "centers": [["0.25", 0], [1, "1/3"]],
        "clip": [0, 1]}), layered=True)
    v = case.verify
    assert isinstance(v, VerifySettings)
    assert [p.text for p in v.properties] == ["error<=4.5", "output[1]>=-1", "latent[0]<=3"]
    assert v.properties[0].threshold == Fraction(9, 2) and v.properties[1].sense == ">="
    assert (v.semantics, v.timeout, v.max_parts) == (("real", "float32"), 0.5, 7)
    assert v.eps == (Fraction(1, 10), Fraction(1, 4)) and v.eps_text == ("0.1", "0.25")
    assert v.clip == (0, 1) and v.centers[1] == (1, Fraction(1, 3))
    # the boxes of radius eps around the centers, clipped as `verifae case --clip 0 1` clips them
    low, high = v.boxes_at(Fraction(1, 4))
    assert list(low.lower) == [0, 0] and list(low.upper) == [Fraction(1, 2), Fraction(1, 4)]
    assert list(high.lower) == [Fraction(3, 4), Fraction(1, 12)] and list(high.upper) == [1, Fraction(7, 12)]
    # the defaults, and a case without the object
    v = load_case(verify_case(tmp_path, {"properties": ["error<=1"]}), layered=True).verify
    assert v is not None and (v.semantics, v.timeout, v.max_parts, v.eps, v.clip) == (("real",), 2.0, 20, (), None)
    assert load_case(CASES / "tiny-relu-2-1-2.json").verify is None
    committed = load_case(CASES / "digits-layered-64-32-8-32-64-four-boxes.json", layered=True)
    assert committed.verify is not None
    assert [(list(b.lower), list(b.upper)) for b in committed.verify.boxes_at(Fraction(1, 50))] == \
        [(list(b.lower), list(b.upper)) for b in committed.boxes]  # the case's boxes are those of eps 0.02


@pytest.mark.parametrize("verify, path, message", [
    ("error<=1", "verify", "expected an object with properties (and optionally semantics, timeout, max_parts, "
                           "eps, centers, clip), got a string"),
    ({"property": ["error<=1"]}, "verify.property",
     "unknown key; expected one of properties, semantics, timeout, max_parts, eps, centers, clip"),
    ({}, "verify.properties", 'missing key (a list of properties such as "error<=0.05")'),
    ({"properties": []}, "verify.properties",
     'expected a non-empty list of properties such as "error<=0.05", got an empty list'),
    ({"properties": ["error<=1", "error<1"]}, "verify.properties[1]",
     "'error<1': comparison '<' is not supported; use <= or >="),
    ({"properties": ["output[2]<=1"]}, "verify.properties[0]",
     "'output[2]<=1': index 2 is out of range; the model's output has 2 entries (indices 0 to 1)"),
    ({"properties": ["latent[1]<=1"]}, "verify.properties[0]",
     "'latent[1]<=1': index 1 is out of range; the model's latent has 1 entries (indices 0 to 0)"),
    ({"properties": [3]}, "verify.properties[0]", 'expected a property string such as "error<=0.05", got a number'),
    ({"properties": ["error<=1"], "semantics": ["real", "float16"]}, "verify.semantics[1]",
     "unknown semantics 'float16'; valid: real, float64, float32"),
    ({"properties": ["error<=1"], "semantics": ["real", "real"]}, "verify.semantics[1]", "'real' is listed twice"),
    ({"properties": ["error<=1"], "timeout": 0}, "verify.timeout", "0.0: expected a positive number of seconds"),
    ({"properties": ["error<=1"], "max_parts": "10"}, "verify.max_parts",
     "expected an integer at least 1, got a string"),
    ({"properties": ["error<=1"], "max_parts": 0}, "verify.max_parts", "expected an integer at least 1, got 0"),
    ({"properties": ["error<=1"], "eps": ["0.1"]}, "verify.centers",
     "missing key (eps and centers go together: the boxes of radius eps around each center)"),
    ({"properties": ["error<=1"], "eps": ["-0.1"], "centers": [[0, 0]]}, "verify.eps[0]", "-0.1 is negative"),
    ({"properties": ["error<=1"], "eps": ["0.1"], "centers": [[0, 0], [0]]}, "verify.centers[1]",
     "expected 2 numbers, got 1"),
    ({"properties": ["error<=1"], "eps": ["0.1"], "centers": [[0, 0]], "clip": [1, 0]}, "verify.clip",
     "the lower end 1.0 exceeds the upper end 0.0"),
    ({"properties": ["error<=1"], "eps": ["0.1"], "centers": [[0, "1.5"]], "clip": [0, 1]}, "verify.centers[0][1]",
     "1.5 lies outside the clip range [0.0, 1.0]"),
])
def test_a_malformed_verify_object_names_its_field(tmp_path, verify, path, message):
    with pytest.raises(CaseError) as info:
        load_case(verify_case(tmp_path, verify), layered=True)
    assert (info.value.path, info.value.message) == (path, message)
