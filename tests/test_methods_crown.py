"""CROWN for layered models (`verifae.methods.crown`): every bound contains the
high-precision reference (real semantics) and float runs written here (float32 /
float64), zero tolerance; targeted kinks, saturation, overflow and point boxes; relu
phases fixed (the bounds hold on the points of the box with those phases, and an
empty part is proven empty only when no point has them)."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import flint
import numpy as np
import pytest
from flint import fmpq
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, LayeredSpec, enclose_layered
from verifae.activations import get_activation
from verifae.cases import load_case
from verifae.errors import BoxError, UnsupportedError
from verifae.methods import alpha
from verifae.methods.crown import (
    EmptyPart,
    Form,
    crown_bounds,
    minus_identity,
    output_forms,
    prepare_network,
    propagate,
)
from verifae.methods.linear import linear_bounds
from verifae.numbers import FORMATS, nearest_floats
from verifae.verify import verify

from .reference import REFERENCE_BITS, layered_reference, outside
from .strategies import boxes, points_in, rationals

HAVE_TORCH = importlib.util.find_spec("torch") is not None
CASES = Path(__file__).resolve().parent.parent / "cases"

#: the brief's activations, a configured leaky_relu and None (no activation)
CHOICES = ("relu", "leaky_relu", {"name": "leaky_relu", "negative_slope": "0.2"}, "elu", "sigmoid", "tanh",
           "identity", None)


@st.composite
def layered_specs(draw, activations=CHOICES, max_width: int = 8, max_depth: int = 4) -> LayeredSpec:
    """Depth 2-`max_depth` (an encoder and a decoder of at least one layer), widths 1-8,
    small rational weights, mixed activations."""
    depth = draw(st.integers(2, max_depth))
    n_enc = draw(st.integers(1, depth - 1))
    d = draw(st.integers(1, max_width))
    widths = [d] + [draw(st.integers(1, max_width)) for _ in range(depth - 1)] + [d]
    v = rationals()
    layers = []
    for k in range(depth):
        n_in, n_out = widths[k], widths[k + 1]
        W = draw(st.lists(st.lists(v, min_size=n_in, max_size=n_in), min_size=n_out, max_size=n_out))
        b = draw(st.lists(v, min_size=n_out, max_size=n_out))
        layers.append((W, b, draw(st.sampled_from(activations))))
    return LayeredSpec(layers[:n_enc], layers[n_enc:])


def _with_residual(spec: LayeredSpec, ref: dict, x: list[Fraction]) -> dict:
    out = dict(ref)
    with flint.ctx.workprec(REFERENCE_BITS):  # the reference's precision, not flint's default 53 bits
        out["residual"] = [o - fmpq(v.numerator, v.denominator) for o, v in zip(ref["output"], x)]
    return out


def _check_real(spec: LayeredSpec, box: Box, bounds: dict, points: list[list[Fraction]]) -> None:
    keys = [k for k in bounds if not k.startswith("gradients")]
    for x in points:
        ref = _with_residual(spec, layered_reference(spec, x, None), x)
        misses = outside({k: bounds[k] for k in keys}, ref)
        assert not misses, (spec, box, x, misses[:5])


def float_run(spec: LayeredSpec, x: np.ndarray, dtype) -> dict[str, np.ndarray]:
    """An IEEE run in `dtype`, batched over the rows of x (already in `dtype`): numpy's
    matmul and + for each layer, the entry's numpy point function for the activation
    (leaky_relu with fl(s)), r = x_hat − x and E = mean(r²) in `dtype`."""
    fmt = FORMATS[np.dtype(dtype).name]
    a = x
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for layer in spec.layers:
            W = nearest_floats(layer.weight, fmt)[0].astype(dtype)
            b = nearest_floats(layer.bias, fmt)[0].astype(dtype)
            z = a @ W.T + b
            a = z if layer.activation is None else layer.activation.point(z, dtype).astype(dtype)
            out[f"layers.{layer.name}.pre_activation"] = z
            out[f"layers.{layer.name}.post_activation"] = a
        out["latent"] = out[f"layers.{spec.encoder[-1].name}.post_activation"]
        out["output"] = a
        r = (a - x).astype(dtype)
        out["residual"] = r
        out["reconstruction_error"] = np.mean(r * r, axis=-1, dtype=dtype)[:, None]
    return out


def _float_points(box: Box, points: list[list[Fraction]], dtype) -> np.ndarray:
    fmt = FORMATS[np.dtype(dtype).name]
    values = np.array(points, dtype=object)
    return nearest_floats(values, fmt)[0].astype(dtype)


def _check_float(spec: LayeredSpec, bounds: dict, xs: np.ndarray, dtype) -> None:
    runs = float_run(spec, xs, dtype)
    for key, values in runs.items():
        v = values.astype(np.float64)
        lo, hi = bounds[key][..., 0], bounds[key][..., 1]
        bad = ~((lo <= v) & (v <= hi))
        assert not bad.any(), (key, v[bad], np.broadcast_to(lo, v.shape)[bad], np.broadcast_to(hi, v.shape)[bad])


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_real_bounds_contain_the_reference(data):
    spec = data.draw(layered_specs())
    box = data.draw(boxes(spec.input_dim))
    bounds = crown_bounds(spec, box, "real")
    assert bounds is not None
    points = data.draw(points_in(box, count=3))
    _check_real(spec, box, bounds, points)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["float32", "float64"]))
def test_float_bounds_contain_float_runs(data, fmt):
    spec = data.draw(layered_specs())
    box = data.draw(boxes(spec.input_dim))
    bounds = crown_bounds(spec, box, fmt)
    if bounds is None:  # the float interval pass found a possible overflow
        return
    dtype = np.float32 if fmt == "float32" else np.float64
    points = data.draw(points_in(box, count=6))
    _check_float(spec, bounds, _float_points(box, points, dtype), dtype)


# ---------------------------------------------------------------- targeted


def _relu_kink_spec() -> LayeredSpec:
    """Every hidden relu straddles 0 on Box.around([0, 0], 1)."""
    return LayeredSpec(
        [([[1, -1], [1, 1], ["0.5", "-2"]], [0, "0.1", "-0.1"], "relu"),
         ([[1, -1, 1], [-1, 2, "0.5"]], [0, 0], "relu")],
        [([[1, 1], [1, -1]], ["0.25", 0], "leaky_relu"), ([[1, "0.5"], ["-0.5", 1]], [0, 0], None)],
    )


@pytest.mark.parametrize("semantics", ["real", "float64", "float32"])
def test_relu_kinks_inside_the_box(semantics):
    spec = _relu_kink_spec()
    box = Box.around([0, 0], 1)
    bounds = crown_bounds(spec, box, semantics)
    assert bounds is not None
    z = bounds["layers.encoder.0.pre_activation"]
    assert (z[:, 0] < 0).all() and (z[:, 1] > 0).all()  # every first-layer relu straddles its kink
    grid = [[Fraction(i, 4), Fraction(j, 4)] for i in range(-4, 5) for j in range(-4, 5)]
    if semantics == "real":
        _check_real(spec, box, bounds, grid)
    else:
        dtype = np.float32 if semantics == "float32" else np.float64
        _check_float(spec, bounds, _float_points(box, grid, dtype), dtype)


def test_crown_is_tighter_than_interval_where_the_dependency_matters():
    # x_hat = W2 relu(W1 x): identity-like; back-substitution keeps the cancellation x − x
    spec = LayeredSpec([([[1, 0], [0, 1]], [5, 5], "relu")], [([[1, 0], [0, 1]], [-5, -5], None)])
    box = Box.around([0, 0], 1)
    bounds = crown_bounds(spec, box)
    assert bounds is not None
    assert np.allclose(bounds["residual"], 0.0, atol=1e-12)  # interval propagation gives [-2, 2]
    assert bounds["reconstruction_error"][1] < 1e-20


@pytest.mark.parametrize("semantics", ["real", "float32"])
def test_saturated_sigmoid(semantics):
    spec = LayeredSpec([([[40, 40], [-30, -30]], [-20, 10], "sigmoid")],
                       [([[1, 1], [2, -1]], [0, 0], "tanh"), ([[1, 1], [1, -1]], [0, "0.5"], "sigmoid")])
    box = Box.around(["0.5", "1.5"], "0.25")
    bounds = crown_bounds(spec, box, semantics)
    assert bounds is not None
    post = bounds["layers.encoder.0.post_activation"]
    assert post[0, 0] > 0.999 and post[1, 1] < 1e-14  # saturated at 1 and at 0 over the whole box
    grid = [[Fraction(1, 4) + Fraction(i, 8), Fraction(5, 4) + Fraction(j, 8)] for i in range(5) for j in range(5)]
    if semantics == "real":
        _check_real(spec, box, bounds, grid)
    else:
        _check_float(spec, bounds, _float_points(box, grid, np.float32), np.float32)


def test_overflow_is_refused():
    big = Fraction(2) ** 100
    spec = LayeredSpec([([[big, big]], [0], "relu")], [([[big], [1]], [0, 0], None)])
    box = Box.around([1, 1], "0.5")
    assert crown_bounds(spec, box, "float32") is None  # 2^200 overflows float32
    assert crown_bounds(spec, box, "float64") is not None
    assert crown_bounds(spec, box, "real") is not None


@pytest.mark.parametrize("semantics", ["real", "float64", "float32"])
def test_point_box(semantics):
    spec = _relu_kink_spec()
    x = [Fraction(1, 3), Fraction(-1, 7)]
    bounds = crown_bounds(spec, Box.point(x), semantics)
    assert bounds is not None
    if semantics == "real":
        _check_real(spec, Box.point(x), bounds, [x])
        # a point: every bound is as wide as its outward rounding only
        assert np.all(bounds["output"][:, 1] - bounds["output"][:, 0] < 1e-12)
    else:
        dtype = np.float32 if semantics == "float32" else np.float64
        _check_float(spec, bounds, _float_points(Box.point(x), [x], dtype), dtype)


def test_errors():
    spec = _relu_kink_spec()
    with pytest.raises(UnsupportedError, match="unknown semantics 'float16'; valid: real, float32, float64"):
        crown_bounds(spec, Box.around([0, 0], 1), "float16")
    with pytest.raises(BoxError, match="the box has 3 entries but the model's input_dim is 2"):
        crown_bounds(spec, Box.around([0, 0, 0], 1))


@pytest.mark.parametrize("name", ["tiny-relu-2-1-2", "tiny-sigmoid-2-1-2", "tanh-4x2", "relu-kink-2-1-2"])
def test_v1_cases_agree_with_linear(name):
    """As a layered spec, a v1 case gets the output of `linear_bounds` up to rounding (the
    same relaxations); E may be wider (v1's joint error bound)."""
    case = load_case(CASES / f"{name}.json")
    spec = LayeredSpec.from_v1(case.spec)
    for box in case.boxes[:2]:
        ours, theirs = crown_bounds(spec, box), linear_bounds(case.spec, box)
        assert ours is not None and theirs is not None
        width = theirs["output"][:, 1] - theirs["output"][:, 0]
        assert np.all(ours["output"][:, 0] >= theirs["output"][:, 0] - 1e-9 * (1 + width))
        assert np.all(ours["output"][:, 1] <= theirs["output"][:, 1] + 1e-9 * (1 + width))


def test_v1_spec_shapes():
    v1 = AutoencoderSpec([[1, 2], [3, 4], [5, 6]], [1, 2, 3], [[1, 0, 1], [0, 1, 0]], [0, 1], "relu")
    bounds = crown_bounds(LayeredSpec.from_v1(v1), Box.around([0, 0], "0.5"))
    assert bounds is not None
    assert bounds["layers.encoder.0.pre_activation"].shape == (3, 2)
    assert bounds["latent"].shape == (3, 2) and bounds["output"].shape == (2, 2)
    assert bounds["reconstruction_error"].shape == (2,)
    assert get_activation("relu") is not None


@settings(max_examples=40, deadline=None)
@given(lo=rationals(), width=st.fractions(0, 3, max_denominator=16), f_pos=rationals(), f_neg=rationals(),
       t=st.fractions(0, 1, max_denominator=33))
def test_piecewise_scale_contains_every_value(lo, width, f_pos, f_neg, t):
    """`FastBackend.piecewise_scale`: λ⁺ f_pos + λ⁻ f_neg for λ in the interval, exactly
    (Fractions), inside; at the endpoints, at 0 and inside."""
    from verifae.backends.fast import FastBackend

    B = FastBackend()
    a = B.interval(np.array([lo]), np.array([lo + width]))
    fp, fn = float(f_pos), float(f_neg)
    out = B.bounds(B.piecewise_scale(a, np.array([fp]), np.array([fn])))[0]
    lo_f, hi_f = B.bounds(a)[0]
    for lam in (Fraction(lo_f), Fraction(hi_f), Fraction(lo_f) + t * (Fraction(hi_f) - Fraction(lo_f)), Fraction(0)):
        if not Fraction(lo_f) <= lam <= Fraction(hi_f):
            continue
        value = max(lam, 0) * Fraction(fp) + min(lam, 0) * Fraction(fn)
        assert Fraction(out[0]) <= value <= Fraction(out[1])


# ---------------------------------------------------------------- α (optimised slopes)

RELU_CHOICES = ("relu", "leaky_relu", {"name": "leaky_relu", "negative_slope": "0.2"}, "tanh", None)


@pytest.mark.skipif(not HAVE_TORCH, reason="alpha=True optimises with PyTorch")
@settings(max_examples=15, deadline=None)
@given(data=st.data(), semantics=st.sampled_from(["real", "float32", "float64"]))
def test_alpha_bounds_are_sound_and_never_wider(data, semantics):
    """Any slopes in range are sound, so a few optimiser steps test the rigorous pass."""
    spec = data.draw(layered_specs(RELU_CHOICES, max_width=6))
    box = data.draw(boxes(spec.input_dim))
    fixed = crown_bounds(spec, box, semantics)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alpha, "STEPS", 4)
        bounds = crown_bounds(spec, box, semantics, alpha=True)
    assert (fixed is None) == (bounds is None)
    if bounds is None:
        return
    for key in ("output", "residual", "reconstruction_error"):
        assert np.all(bounds[key][..., 0] >= fixed[key][..., 0]) and np.all(bounds[key][..., 1] <= fixed[key][..., 1])
    points = data.draw(points_in(box, count=4))
    if semantics == "real":
        _check_real(spec, box, bounds, points)
    else:
        dtype = np.float32 if semantics == "float32" else np.float64
        _check_float(spec, bounds, _float_points(box, points, dtype), dtype)


@pytest.mark.skipif(not HAVE_TORCH, reason="alpha=True optimises with PyTorch")
@pytest.mark.parametrize("semantics", ["real", "float32"])
def test_alpha_tightens_relus_straddling_their_kinks(semantics):
    spec = _relu_kink_spec()
    box = Box.around([0, 0], 1)
    fixed, optimised = crown_bounds(spec, box, semantics), crown_bounds(spec, box, semantics, alpha=True)
    assert fixed is not None and optimised is not None
    width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
    assert width(optimised["residual"]).sum() < width(fixed["residual"]).sum()
    grid = [[Fraction(i, 4), Fraction(j, 4)] for i in range(-4, 5) for j in range(-4, 5)]
    if semantics == "real":
        _check_real(spec, box, optimised, grid)
    else:
        _check_float(spec, optimised, _float_points(box, grid, np.float32), np.float32)


def test_alpha_without_torch_is_refused(monkeypatch):
    import importlib.util as util

    real_find = util.find_spec
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None if name == "torch" else real_find(name, *a))
    with pytest.raises(UnsupportedError, match="alpha=True optimises the slopes with PyTorch, which is not installed"):
        crown_bounds(_relu_kink_spec(), Box.around([0, 0], 1), alpha=True)
    # nothing to optimise (no hidden relu or leaky_relu): the fixed slopes, without torch
    spec = LayeredSpec([([[1, 2]], [0], "tanh")], [([[1], [-1]], [0, 0], "relu")])
    box = Box.around([0, 0], 1)
    assert np.array_equal(crown_bounds(spec, box, alpha=True)["output"], crown_bounds(spec, box)["output"])


@settings(max_examples=60, deadline=None)
@given(z=rationals(4, 97), t=st.fractions(0, 1, max_denominator=50),
       act=st.sampled_from(["relu", "leaky_relu", {"name": "leaky_relu", "negative_slope": "1/3"}, "sigmoid", "elu"]))
def test_origin_slopes_are_lines_below_the_activation(z, t, act):
    """`Activation.origin_slopes` (what α may choose): act(z) >= a z at every z, exactly."""
    entry = get_activation(act)
    slopes = entry.origin_slopes()
    if slopes is None:
        assert entry.name not in ("relu", "leaky_relu")
        return
    lo, hi = (Fraction(v) for v in slopes)
    a = lo + t * (hi - lo)
    s = Fraction(0) if entry.name == "relu" else entry.negative_slope
    value = z if z > 0 else s * z
    assert value >= a * z
    assert alpha.slope_floor(entry) == slopes[0]


# ---------------------------------------------------------------- fixed relu phases

PIECEWISE = ("relu", "leaky_relu", None)


def _phases_of(spec: LayeredSpec, pre: dict, pick: list[bool], positive) -> dict[int, np.ndarray]:
    """Phases of the chosen neurons (`pick`, in layer order) of relu / leaky_relu layers,
    each the sign of that neuron's pre-activation at one point (`positive(v)`: v >= 0)."""
    phases, at = {}, 0
    for k, layer in enumerate(spec.layers):
        z = pre[f"layers.{layer.name}.pre_activation"]
        if layer.activation is None:
            continue
        signs = np.zeros(len(z), dtype=np.int8)
        for j, v in enumerate(z):
            if pick[at % len(pick)]:
                signs[j] = 1 if positive(v) else -1
            at += 1
        phases[k] = signs
    return phases


def _in_part(spec: LayeredSpec, pre: dict, phases: dict[int, np.ndarray], positive, negative) -> bool:
    for k, signs in phases.items():
        z = pre[f"layers.{spec.layers[k].name}.pre_activation"]
        if any((s > 0 and not positive(v)) or (s < 0 and not negative(v)) for s, v in zip(signs, z)):
            return False
    return True


@settings(max_examples=30, deadline=None)
@given(data=st.data(), semantics=st.sampled_from(["real", "float32", "float64"]))
def test_phase_bounds_contain_every_point_of_their_part(data, semantics):
    """Phases taken from one point of the box: the part holds that point, so it is not
    proven empty, and its bounds contain the values at every sampled point (a float run
    for float32 / float64, its phase read from its own float pre-activation) of the part."""
    spec = data.draw(layered_specs(activations=PIECEWISE, max_width=4, max_depth=3))
    box = data.draw(boxes(spec.input_dim))
    points = data.draw(points_in(box, count=8))
    pick = data.draw(st.lists(st.booleans(), min_size=1, max_size=6))
    if semantics == "real":
        refs = [_with_residual(spec, layered_reference(spec, x, None), x) for x in points]
        positive, negative = (lambda v: v >= 0), (lambda v: v <= 0)  # exact fmpq: relu models are rational
        phases = _phases_of(spec, refs[0], pick, positive)
        bounds = crown_bounds(spec, box, "real", phases=phases)
        assert bounds is not None
        for x, ref in zip(points, refs):
            if _in_part(spec, ref, phases, positive, negative):
                keys = [k for k in bounds if not k.startswith("gradients")]
                misses = outside({k: bounds[k] for k in keys}, ref)
                assert not misses, (spec, box, phases, x, misses[:5])
        return
    dtype = np.float32 if semantics == "float32" else np.float64
    xs = _float_points(box, points, dtype)
    runs = float_run(spec, xs, dtype)
    positive, negative = (lambda v: v >= 0), (lambda v: v <= 0)
    first = {key: values[0] for key, values in runs.items()}
    phases = _phases_of(spec, first, pick, positive)
    bounds = crown_bounds(spec, box, semantics, phases=phases)
    if bounds is None:  # a float run may overflow: nothing is bounded
        return
    inside = [i for i in range(len(xs)) if _in_part(spec, {k: v[i] for k, v in runs.items()}, phases,
                                                    positive, negative)]
    assert 0 in inside
    _check_float(spec, bounds, xs[inside], dtype)


@pytest.mark.parametrize("semantics", ["real", "float64", "float32"])
def test_a_phase_no_point_has_is_an_empty_part(semantics):
    """z = x1 − x2 + 1 >= 1/2 on the box: z <= 0 holds nowhere (empty), z >= 0 everywhere
    (the same bounds as without phases, where relu is already exact)."""
    spec = LayeredSpec([([[1, -1]], [1], "relu")], [([[1], [2]], [0, 0])])
    box = Box(["1/2", "1/2"], [1, 1])
    with pytest.raises(EmptyPart):
        crown_bounds(spec, box, semantics, phases={0: np.array([-1])})
    free = crown_bounds(spec, box, semantics)
    fixed = crown_bounds(spec, box, semantics, phases={0: np.array([1])})
    assert free is not None and fixed is not None
    assert np.array_equal(free["output"], fixed["output"])
    assert fixed["output"][1, 0] <= 1 and fixed["output"][1, 1] >= 3  # 2z on z in [1/2, 3/2]


@pytest.mark.parametrize("semantics", ["real", "float32"])
def test_phases_make_a_straddling_relu_exact(semantics):
    """h = relu(z), z = x1 + x2 on [−1, 1]², x_hat = (h, h): without phases relu's
    lower line (h >= 0 or h >= z) and chord make no line exact; on each phase h is:
    x_hat = 0 (z <= 0) or z with z clipped to [0, 2] (z >= 0), up to outward rounding.
    (The phase bounds z_j's interval only: it is not imposed on x, so a bound that
    back-substitutes through z, not through h, does not see it.)"""
    spec = LayeredSpec([([[1, 1]], [0], "relu")], [([[1], [1]], [0, 0])])
    box = Box([-1, -1], [1, 1])
    up = crown_bounds(spec, box, semantics, phases={0: np.array([1])})
    down = crown_bounds(spec, box, semantics, phases={0: np.array([-1])})
    assert up is not None and down is not None
    tiny = 1e-6
    for i in range(2):
        assert -tiny < down["output"][i, 0] <= 0 <= down["output"][i, 1] < tiny
        assert -tiny < up["output"][i, 0] <= 0 and 2 <= up["output"][i, 1] < 2 + tiny
    assert up["layers.encoder.0.pre_activation"][0, 0] == 0
    assert down["layers.encoder.0.pre_activation"][0, 1] == 0


def test_phases_are_checked():
    spec = LayeredSpec([([[1, 1]], [0], "relu"), ([[1]], [0], "tanh")], [([[1], [1]], [0, 0])])
    box = Box([-1, -1], [1, 1])
    with pytest.raises(UnsupportedError, match="layer 1 has no relu / leaky_relu activation"):
        crown_bounds(spec, box, phases={1: np.array([1])})
    with pytest.raises(UnsupportedError, match="layer 5 is out of range"):
        crown_bounds(spec, box, phases={5: np.array([1])})
    with pytest.raises(UnsupportedError, match=r"layer 0 needs 1 signs in \{-1, 0, 1\}"):
        crown_bounds(spec, box, phases={0: np.array([2])})


# ---------------------------------------------------------------- the factored coefficient at the input

#: subnormals, exact zeros, the smallest normal, and weights whose products overflow double
_EDGE_WEIGHTS = [0, Fraction(2) ** -1074, -Fraction(2) ** -1074, Fraction(2) ** -1060, Fraction(2) ** -1022,
                 Fraction(2) ** 600, -Fraction(2) ** 600, Fraction(2) ** 1000, 1, -1, Fraction(1, 3)]


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_edge_weights_through_the_factored_input_product(data):
    """Back-substitution keeps the input coefficient as P W_0 (`InputProduct`, a
    `DenseProduct` when concretized): with subnormal, zero and huge weights (products
    beyond the double range) every bound contains the reference, zero tolerance, and a
    bound that cannot be proven is infinite, never NaN."""
    values = st.one_of(st.sampled_from(_EDGE_WEIGHTS), rationals())
    spec = data.draw(layered_specs(activations=("relu", "leaky_relu", "identity", None), max_width=4, max_depth=3)
                     .map(lambda s: LayeredSpec([(
                         [[data.draw(values) if data.draw(st.booleans()) else w for w in row] for row in layer.weight],
                         layer.bias, layer.activation) for layer in s.encoder],
                         [(layer.weight, layer.bias, layer.activation) for layer in s.decoder])))
    box = data.draw(boxes(spec.input_dim))
    bounds = crown_bounds(spec, box, "real")
    assert bounds is not None
    assert not any(np.isnan(v).any() for v in bounds.values())
    _check_real(spec, box, bounds, data.draw(points_in(box, count=3)))


@settings(max_examples=25, deadline=None)
@given(data=st.data(), semantics=st.sampled_from(["real", "float32", "float64"]))
def test_factored_forms_agree_with_the_formed_matrix(data, semantics):
    """A form whose input coefficient is kept as factors concretizes (through
    `DenseProduct`) to what the formed interval matrix Λ = P W_0 gives (`Form.Lam`, the
    backend's interval product), within rounding-level terms, for the output, the
    residual's Λ − I and both sides; and the upper and lower forms share their product
    when one slope per neuron moved both."""
    spec = data.draw(layered_specs())
    box = data.draw(boxes(spec.input_dim))
    net = prepare_network(spec, box, semantics)
    if net is None:
        return
    upper, lower = output_forms(net, propagate(net))
    if upper.product is None:  # one layer below the output has no back-substitution: nothing factored
        return
    B = net.B
    residual = (minus_identity(B, upper), True), (minus_identity(B, lower), False)
    for form, up in ((upper, True), (lower, False), *residual):
        formed = Form(form.Lam, form.const, form.slack)
        a, b = form.concretize(B, net.x, up), formed.concretize(B, net.x, up)
        scale = np.abs(a) + np.abs(b) + np.abs(form.concretize(B, net.x, not up))
        finite = np.isfinite(a) & np.isfinite(b)
        assert np.all(np.abs(a - b)[finite] <= 1e-9 * scale[finite] + 1e-300)


# ---------------------------------------------------------------- found by the adversarial review
# The factored last step reused one pass's scaled rows for the other pass, keyed by the
# id() of a merged tensor freed in between: a silu or gelu output (one slope for both
# lines, of either sign) got the upper form's rows in its lower form, and `verify`
# proved output[0] >= 4.8 where the true value is 4.7493.

_SILU_W0 = [[0.1, -1.1], [-1.2, 1.5], [0.8, -1.0], [-1.9, 1.1]]
_SILU_B0 = [0.3, 0.0, -0.1, 0.4]
_SILU_W1 = [[5.7, 3.1, 0.0, 0.8], [-2.4, -5.6, 0.6, -0.4]]
_SILU_B1 = [3.9, -0.7]


@pytest.mark.parametrize("act", ["silu", "gelu"])
def test_an_output_activation_with_one_slope_of_either_sign_is_enclosed(act):
    spec = LayeredSpec(encoder=[(_SILU_W0, _SILU_B0, "relu")], decoder=[(_SILU_W1, _SILU_B1, act)])
    box = Box([-0.8, -0.3], [0.2, 0.7])
    crown = crown_bounds(spec, box, "real")
    enclosure = enclose_layered(spec, box, method="linear", backend="fast")
    for x in ([Fraction(0.2), Fraction(0.28)], [Fraction(-0.8), Fraction(0.7)], [Fraction(0), Fraction(0)]):
        ref = layered_reference(spec, x, None)
        assert not outside(enclosure, ref), (act, x)
        assert not outside({k: crown[k] for k in ("output", "residual")},
                           {"output": ref["output"], "residual": [o - fmpq(v.numerator, v.denominator)
                                                                  for o, v in zip(ref["output"], x)]})
    result = verify(spec, box, ["output[0]>=4.8"], semantics=("real",), max_parts=1)
    assert result.boxes[0][0]["real"].status != "proved"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["silu", "gelu"]))
def test_relu_then_non_monotone_outputs_contain_the_reference(seed, act):
    """Random relu → silu/gelu models (the adversary's sweep missed on 7 of 200 seeds)."""
    rng = np.random.default_rng(seed)
    W0, B0 = np.round(rng.normal(0, 1.2, (4, 2)), 1), np.round(rng.normal(0, 0.3, 4), 1)
    W1, B1 = np.round(rng.normal(0, 3, (2, 4)), 1), np.round(rng.normal(0, 2, 2), 1)
    spec = LayeredSpec(encoder=[(W0, B0, "relu")], decoder=[(W1, B1, act)])
    lo = np.round(rng.uniform(-1, 0.5, 2), 1)
    box = Box(lo, lo + 1)
    enclosure = enclose_layered(spec, box, method="linear", backend="fast")
    for _ in range(4):
        x = [Fraction(float(v)) for v in lo + rng.uniform(0, 1, 2)]
        assert not outside(enclosure, layered_reference(spec, x, None)), (seed, act, x)
