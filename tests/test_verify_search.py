"""Branch and bound and counterexample search: verdicts on models whose extremes are
known in closed form (τ just above: proved; just below: violated with a confirmed
counterexample), budgets ending in unknown, float-only violations, and random models
whose verdicts must agree with dense float runs and an exact/Arb reference; relu
phase splitting (closed form, and random deep relu models against exact rationals and
float runs, with the proof's parts covering every sampled point)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import REFERENCE_BITS, reference
from tests.strategies import rationals
from verifae import AutoencoderSpec, Box, LayeredSpec, evaluate
from verifae.verify import runs as verify_runs
from verifae.verify.properties import parse_property
from verifae.verify.search import Searcher, tightest

SEMANTICS = ("real", "float64", "float32")

# x_hat = ((x1 + x2)/2, (x1 + x2)/2): E = (x2 − x1)²/4, at most 1/4 on [0, 1]², reached at (0, 1) and (1, 0)
AVERAGER = AutoencoderSpec([["1/2", "1/2"]], [0], [[1], [1]], [0, 0], "identity")
UNIT = Box([0, 0], [1, 1])
# z = x1 + 2·x2 + 1 in [1, 5/2] on [0, 1/2]², hid = z, x_hat = (z, z): E = ((z − x1)² + (z − x2)²)/2,
# at most 4 at (1/2, 1/2); dX = (1, 2)·(2z − x1 − x2), so max |dX_k| = 2·(x1 + 3·x2 + 2) <= 8
RELU = AutoencoderSpec([[1, 2]], [1], [[1], [1]], [0, 0], "relu")
QUARTER = Box([0, 0], ["1/2", "1/2"])


@pytest.fixture(autouse=True)
def no_torch(monkeypatch):
    """PyTorch's second witness costs seconds to import; its report is tested once, below."""
    monkeypatch.setattr(verify_runs.torch_runs, "available", lambda: False)


def _verdict(spec, box, text, semantics, **budget):
    budget.setdefault("timeout", 20.0)
    budget.setdefault("max_parts", 400)
    return Searcher(spec).verify(parse_property(text), box, semantics, **budget)


def _confirm_independently(spec, prop, semantics, cex):
    """The counterexample is in the box and breaks the property, by verifae.evaluate (v1
    code, not the layered runs the search used) or the flint reference for real."""
    x = [Fraction(v) for v in cex["x"]]
    if semantics == "real":
        import flint

        ref = reference(spec, x, None)  # exact rationals (fmpq), or Arb balls for tanh
        with flint.ctx.workprec(REFERENCE_BITS):
            if prop.kind == "input_grad_inf":
                # some |dX_k| wholly beyond T
                beyond = [flint.arb(abs(v)) > _arb(prop.threshold) for v in ref["gradients.input"]]
                assert any(beyond)
            else:
                value = flint.arb({"error": ref["reconstruction_error"], "output": ref["output"],
                                   "latent": ref["hidden"]}[prop.kind][prop.index or 0])
                t = _arb(prop.threshold)
                assert (value > t) if prop.sense == "<=" else (value < t)
    else:
        run = evaluate(spec, x, backend=semantics)
        value = prop.point_value(run.hidden, run.output, run.reconstruction_error, run.gradients["input"])
        assert prop.violated_by(float(value))
        assert float(value) == cex["value"]
    return x


def _arb(q: Fraction):
    import flint

    return flint.arb(flint.fmpq(q.numerator, q.denominator))


@pytest.mark.parametrize("semantics", SEMANTICS)
@pytest.mark.parametrize("spec, box, above, below", [
    (AVERAGER, UNIT, "error<=0.251", "error<=0.249"),
    (RELU, QUARTER, "error<=4.001", "error<=3.999"),
    (RELU, QUARTER, "output[0]<=2.501", "output[0]<=2.499"),
    (RELU, QUARTER, "latent[0]>=0.999", "latent[0]>=1.001"),
    (RELU, QUARTER, "output[1]>=0.999", "output[1]>=1.001"),
    (RELU, QUARTER, "input_grad_inf<=8.01", "input_grad_inf<=7.99"),
], ids=["averager-error", "relu-error", "relu-output-max", "relu-latent-min", "relu-output-min", "relu-grad"])
def test_closed_form_extremes(spec, box, above, below, semantics):
    proved = _verdict(spec, box, above, semantics)
    assert proved.status == "proved", proved
    assert not proved.open_parts
    violated = _verdict(spec, box, below, semantics)
    assert violated.status == "violated", violated
    prop = parse_property(below)
    x = _confirm_independently(spec, prop, semantics, violated.counterexample)
    assert all(lo <= v <= hi for v, lo, hi in zip(x, box.lower, box.upper))


def test_bound_encloses_the_extreme():
    v = _verdict(RELU, QUARTER, "error<=4.001", "real")
    assert v.lower <= 1 and 4 <= v.upper < 4.001


def test_budget_ends_in_unknown_with_open_parts():
    """τ exactly at the maximum: no finite search can prove it with outward-rounded
    bounds, and no point is beyond it; the budget ends the search honestly."""
    v = _verdict(RELU, QUARTER, "output[0]<=2.5", "real", max_parts=6)
    assert v.status == "unknown" and v.counterexample is None
    assert v.parts == 6 and v.open_parts
    assert v.upper >= 2.5
    assert any(leaf.upper >= 2.5 for leaf in v.open_parts)
    t = _verdict(RELU, QUARTER, "output[0]<=2.5", "float64", timeout=0.2)
    assert t.status == "unknown" and t.seconds < 5


@pytest.mark.parametrize("semantics", ["real", "float32"])
def test_tightest_threshold_brackets_the_extreme(semantics):
    """relu model: E's maximum is 4 and output[1]'s minimum 1 (closed form above)."""
    searcher = Searcher(RELU)
    top = tightest(searcher, parse_property("error<=0"), QUARTER, semantics, timeout=10, max_parts=8)
    assert top["seen"] <= 4 <= top["proved"] < 4 + 1e-5
    bottom = tightest(searcher, parse_property("output[1]>=0"), QUARTER, semantics, timeout=10, max_parts=8)
    assert bottom["proved"] <= 1 <= bottom["seen"] and bottom["proved"] > 1 - 1e-5


def test_float_only_violation():
    """x_hat = 3·(x/3) = x exactly in real numbers, so E = 0; a float32 run rounds 1/3 and
    the products, and its E is positive at most points."""
    spec = AutoencoderSpec([["1/3"]], [0], [[3]], [0], "identity")
    box = Box([1], [2])
    real = _verdict(spec, box, "error<=1e-20", "real")
    assert real.status == "proved"
    f32 = _verdict(spec, box, "error<=1e-20", "float32")
    assert f32.status == "violated"
    cex = f32.counterexample
    assert cex["real"]["violated"] is False
    _confirm_independently(spec, parse_property("error<=1e-20"), "float32", cex)


def test_layered_model_verdicts():
    """A 2-2-1-2-2 relu/identity layered model: x_hat = (s, s) with s = relu(x1) + relu(x2)
    through a latent of one; on [0, 1]² output[0] = x1 + x2 is at most 2."""
    spec = LayeredSpec([([[1, 0], [0, 1]], [0, 0], "relu"), ([[1, 1]], [0], "identity")],
                       [([[1]], [0], "relu"), ([[1], [1]], [0, 0])])
    proved = _verdict(spec, UNIT, "output[0]<=2.01", "real")
    assert proved.status == "proved"
    assert all("interval propagation" in note for note in proved.notes)  # said whenever the method falls back
    assert _verdict(spec, UNIT, "latent[0]>=-0.01", "float32").status == "proved"
    v = _verdict(spec, UNIT, "output[0]<=1.99", "float64")
    assert v.status == "violated" and v.counterexample["value"] > 1.99


def test_torch_run_is_reported(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.undo()  # this one test uses PyTorch
    v = _verdict(RELU, QUARTER, "error<=3.999", "float32")
    assert v.status == "violated"
    torch_run = v.counterexample["runs"]["torch"]
    assert torch_run["violated"] is True and torch_run["value"] > 3.999


@st.composite
def _problems(draw):
    d = draw(st.integers(1, 3))
    h = draw(st.integers(1, 2))
    act = draw(st.sampled_from(["relu", "identity", "tanh"]))
    v = rationals()
    spec = AutoencoderSpec(draw(st.lists(st.lists(v, min_size=d, max_size=d), min_size=h, max_size=h)),
                           draw(st.lists(v, min_size=h, max_size=h)),
                           draw(st.lists(st.lists(v, min_size=h, max_size=h), min_size=d, max_size=d)),
                           draw(st.lists(v, min_size=d, max_size=d)), act)
    centre = draw(st.lists(rationals(), min_size=d, max_size=d))
    box = Box.around(centre, draw(st.sampled_from([Fraction(1, 100), Fraction(1, 4), Fraction(1)])))
    kind = draw(st.sampled_from(["error<=", "output[0]<=", "output[0]>=", "latent[0]>=", "input_grad_inf<="]))
    semantics = draw(st.sampled_from(SEMANTICS))
    return spec, box, kind, semantics, draw(st.floats(0.5, 1.5))


def _dense_values(spec, box, prop, semantics, rng):
    """The property's value on corners and random points: float runs of `semantics`
    (verifae.evaluate), or for real the flint reference (exact, or Arb balls)."""
    d = box.dim
    lo = np.array([float(q) for q in box.lower])
    hi = np.array([float(q) for q in box.upper])
    corners = [np.where([(k >> i) & 1 for i in range(d)], hi, lo) for k in range(2 ** d)]
    points = [np.clip(p, lo, hi) for p in [*corners, *rng.uniform(lo, hi, (30, d))]]
    exact = [[min(max(Fraction(float(v)), a), b) for v, a, b in zip(p, box.lower, box.upper)] for p in points]
    if semantics != "real":
        out = []
        for x in exact:
            run = evaluate(spec, x, backend=semantics)
            out.append(float(prop.point_value(run.hidden, run.output, run.reconstruction_error,
                                              run.gradients["input"])))
        return out, None
    import flint

    values = []
    for x in exact[:10]:
        ref = reference(spec, x, None)
        with flint.ctx.workprec(REFERENCE_BITS):
            pick = {"error": lambda r: r["reconstruction_error"][0], "output": lambda r: r["output"][0],
                    "latent": lambda r: r["hidden"][0],
                    "input_grad_inf": lambda r: max((abs(flint.arb(v)) for v in r["gradients.input"]),
                                                    key=lambda a: a.mid())}
            values.append(flint.arb(pick[prop.kind](ref)))
    return None, values


@settings(max_examples=25, deadline=None)
@given(_problems())
def test_random_models_never_contradict_sampling(problem):
    spec, box, kind, semantics, factor = problem
    rng = np.random.default_rng(0)
    base = parse_property(f"{kind}0")
    floats, balls = _dense_values(spec, box, base, semantics, rng)
    if floats is not None:
        finite = [v for v in floats if np.isfinite(v)]
        typical = max(finite) if base.sense == "<=" else min(finite)
    else:
        typical = float((max if base.sense == "<=" else min)(balls, key=lambda a: a.mid()).mid())
    threshold = Fraction(typical * factor).limit_denominator(10**6) + Fraction(1, 1000)
    prop = parse_property(f"{kind}{threshold}")
    verdict = Searcher(spec).verify(prop, box, semantics, timeout=1.0, max_parts=16)
    if verdict.status == "proved":
        if floats is not None:
            assert not any(prop.violated_by(v) for v in floats)
        else:
            import flint

            with flint.ctx.workprec(REFERENCE_BITS):
                t = _arb(threshold)
                for ball in balls:
                    # a ball wholly beyond T would be a real value that breaks a proved property
                    assert not (ball > t if prop.sense == "<=" else ball < t)
    elif verdict.status == "violated":
        _confirm_independently(spec, prop, semantics, verdict.counterexample)
    assert verdict.lower <= verdict.upper


# ---------------------------------------------------------------- relu phase splitting

# cases/relu-kink-2-1-2: h = relu(x1 + x2) straddles 0 on [−1, 1] × [0, 1], x_hat = (h, −h):
# E = ((h − x1)² + (h + x2)²)/2, at most 5 at (1, 1) (h = 2: (1 + 9)/2)
KINK = AutoencoderSpec([[1, 1]], [0], [[1], [-1]], [0, 0], "relu")
KINK_BOX = Box([-1, 0], [1, 1])


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_phase_split_proves_and_refutes_around_the_maximum(semantics):
    proved = _verdict(KINK, KINK_BOX, "error<=5.001", semantics)
    assert proved.status == "proved", proved
    # the proof fixes the kink's phase, both ways, on the same box
    assert {leaf.phases for leaf in proved.leaves} >= {((0, 0, 1),), ((0, 0, -1),)}
    violated = _verdict(KINK, KINK_BOX, "error<=4.999", semantics)
    assert violated.status == "violated", violated
    _confirm_independently(KINK, parse_property("error<=4.999"), semantics, violated.counterexample)
    inputs_only = Searcher(KINK, phase_split=False).verify(parse_property("error<=5.001"), KINK_BOX, semantics,
                                                           timeout=20, max_parts=400)
    assert inputs_only.status == "proved" and not any(leaf.phases for leaf in inputs_only.leaves)


def test_empty_parts_are_closed_and_left_out_of_the_bound():
    """z = x1 − x2 + 1 >= 1/2 on the box: the phase z <= 0 is an empty part, closed
    vacuously; the verdict's bound is that of the other part."""
    spec = LayeredSpec([([[1, -1]], [1], "relu")], [([[1], [2]], [0, 0])])
    box = Box(["1/2", "1/2"], [1, 1])
    searcher = Searcher(spec)
    prop = parse_property("output[1]<=3.001")
    searcher.use_phases = True
    empty = searcher.bound(prop, box, "real", ((0, 0, -1),))
    assert empty.empty
    full = searcher.bound(prop, box, "float32", ((0, 0, 1),))
    assert not full.empty and full.upper >= 3


def _exact_run(spec: LayeredSpec, x: list[Fraction]) -> tuple[list[list[Fraction]], list[Fraction], list[Fraction]]:
    """Pre-activations, latent and output of a relu / identity layered model at x, in
    exact rationals (an independent reference: plain loops over the exact weights)."""
    pres, a, latent = [], list(x), []
    for k, layer in enumerate(spec.layers):
        z = [sum((w * v for w, v in zip(row, a)), Fraction(0)) + b for row, b in zip(layer.weight, layer.bias)]
        pres.append(z)
        a = z if layer.activation is None else [max(v, Fraction(0)) for v in z]
        if k == len(spec.encoder) - 1:
            latent = a
    return pres, latent, a


def _float_run(spec: LayeredSpec, x: np.ndarray, dtype) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, float]:
    """One IEEE run in `dtype` (numpy matmul; weights rounded to nearest)."""
    pres, a, latent = [], x.astype(dtype), None
    with np.errstate(all="ignore"):
        for k, layer in enumerate(spec.layers):
            W = np.array([[float(w) for w in row] for row in layer.weight]).astype(dtype)
            b = np.array([float(v) for v in layer.bias]).astype(dtype)
            z = (W @ a + b).astype(dtype)
            pres.append(z)
            a = z if layer.activation is None else np.maximum(z, dtype(0))
            if k == len(spec.encoder) - 1:
                latent = a
        r = (a - x.astype(dtype)).astype(dtype)
        return pres, latent, a, float(np.mean(r * r, dtype=dtype))


@st.composite
def _relu_problems(draw):
    """A d-h1-h2-d relu / relu / identity model (two relu layers), a wide box (so that
    neurons straddle 0), a property and T's margin beyond the extreme seen."""
    d, h1, h2 = draw(st.integers(1, 3)), draw(st.integers(2, 6)), draw(st.integers(1, 4))
    v = rationals()

    def layer(n_out, n_in, act):
        return (draw(st.lists(st.lists(v, min_size=n_in, max_size=n_in), min_size=n_out, max_size=n_out)),
                draw(st.lists(v, min_size=n_out, max_size=n_out)), act)

    spec = LayeredSpec([layer(h1, d, "relu"), layer(h2, h1, "relu")], [layer(d, h2, None)])
    centre = draw(st.lists(rationals(), min_size=d, max_size=d))
    box = Box.around(centre, draw(st.sampled_from([Fraction(1, 4), Fraction(1), Fraction(2)])))
    kind = draw(st.sampled_from(["error<=", "output[0]<=", "output[0]>=", "latent[0]<=", "latent[0]>="]))
    return spec, box, kind, draw(st.sampled_from(SEMANTICS)), draw(st.sampled_from([-0.05, 0.02, 0.1, 0.3]))


@settings(max_examples=40, deadline=None)
@given(_relu_problems())
def test_random_relu_models_with_phase_splits_never_contradict_sampling(problem):
    """Zero tolerance: a proved verdict has no sampled point (exact rationals for real,
    a numpy run for float32 / float64) beyond T, and its parts cover every sampled
    point: some leaf holds it in its box with its phases (read from the exact, or the
    run's float, pre-activations; z = 0 fits both). A violated one is confirmed."""
    spec, box, kind, semantics, margin = problem
    d = box.dim
    rng = np.random.default_rng(0)
    lo = np.array([float(q) for q in box.lower])
    hi = np.array([float(q) for q in box.upper])
    corners = [np.where([(k >> i) & 1 for i in range(d)], hi, lo) for k in range(2 ** d)]
    points = [[min(max(Fraction(float(v)), a), b) for v, a, b in zip(p, box.lower, box.upper)]
              for p in [*corners, *rng.uniform(lo, hi, (25, d))]]
    dtype = {"float32": np.float32, "float64": np.float64}.get(semantics)
    samples = []  # (point, pre-activations, value)
    for x in points:
        if dtype is None:
            pres, latent, output = _exact_run(spec, x)
            error = sum(((o - v) ** 2 for o, v in zip(output, x)), Fraction(0)) / d
            samples.append((x, pres, {"error": error, "output": output[0], "latent": latent[0]}))
        else:
            xf = np.array([float(v) for v in x]).astype(dtype)  # the run rounds its input to nearest
            pres, latent, output, error = _float_run(spec, xf, dtype)
            samples.append((x, pres, {"error": error, "output": float(output[0]), "latent": float(latent[0])}))
    values = [s[2][kind.split("[")[0].rstrip("<=>")] for s in samples]
    base = parse_property(f"{kind}0")
    finite = [float(v) for v in values if np.isfinite(float(v))]
    # T a little beyond the extreme seen (or before it: margin < 0), relative to the spread
    spread = max(finite) - min(finite) + 1e-3
    typical = max(finite) + margin * spread if base.sense == "<=" else min(finite) - margin * spread
    threshold = Fraction(typical).limit_denominator(10**6)
    prop = parse_property(f"{kind}{threshold}")
    verdict = Searcher(spec).verify(prop, box, semantics, timeout=2.0, max_parts=24)
    assert verdict.lower <= verdict.upper
    if verdict.status == "violated":
        cex = verdict.counterexample
        x = [Fraction(v) for v in cex["x"]]
        assert all(a <= v <= b for v, a, b in zip(x, box.lower, box.upper))
        if dtype is None:
            _, latent, output = _exact_run(spec, x)
            error = sum(((o - v) ** 2 for o, v in zip(output, x)), Fraction(0)) / d
            value = {"error": error, "output": output[0], "latent": latent[0]}[prop.kind]
            assert value > threshold if prop.sense == "<=" else value < threshold
        else:
            assert prop.violated_by(cex["value"])
        return
    if verdict.status != "proved":
        return
    for (x, pres, _), v in zip(samples, values):
        if dtype is None:
            assert (v <= threshold) if prop.sense == "<=" else (v >= threshold), (x, v)
        else:
            assert not prop.violated_by(float(v)), (x, v)
        holders = [leaf for leaf in verdict.leaves
                   if all(a <= c <= b for c, a, b in zip(x, leaf.box.lower, leaf.box.upper))
                   and all((pres[k][j] >= 0) if sign > 0 else (pres[k][j] <= 0) for k, j, sign in leaf.phases)]
        assert holders, (x, [leaf.phases for leaf in verdict.leaves])
        assert not any(leaf.empty for leaf in holders)  # a point of the box: its part is not empty
