"""The mean-value form over layers (`layered_mean_value_bounds`): every key it bounds
(the MSE gradients included) contains the independent reference (real numbers) and
numpy's float runs, batched and in explicit loops (float32, float64), zero tolerance;
overflow gives None."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, LayeredSpec, enclose, enclose_layered
from verifae.activations import get_activation
from verifae.layered import gradient_names
from verifae.methods import layered_mean_value_bounds
from verifae.methods.layered_mean_value import mean_value_applies
from verifae.methods.mean_value import mean_value_bounds
from verifae.numbers import FORMATS

from .reference import REFERENCE_BITS, layered_reference, outside
from .strategies import boxes, points_in
from .test_layered import _float_points, _inside, _numpy_batched, _numpy_loops, _rounded, layered_specs


class Bounds:
    """A method's bounds read as an enclosure by `outside` (its `items`)."""

    def __init__(self, bounds: dict[str, np.ndarray]) -> None:
        self.bounds = bounds

    def items(self):
        return self.bounds.items()


def reference_with_residual(spec: LayeredSpec, x: list[Fraction]) -> dict:
    """The reference (MSE loss) with r = x_hat − x and each layer's input gradient Wᵀ dz
    (from the reference's dz and the exact weights)."""
    ref = layered_reference(spec, x, None)
    q = lambda v: flint.fmpq(v.numerator, v.denominator)  # noqa: E731
    with flint.ctx.workprec(REFERENCE_BITS):
        ref["residual"] = [o - q(v) for o, v in zip(ref["output"], x)]
        for layer in spec.layers:
            dz = ref[f"gradients.{layer.name}.bias"]
            ref[f"gradients.{layer.name}.input_gradient"] = [
                sum((q(layer.weight[j, i]) * dz[j] for j in range(layer.out_features)), flint.fmpq(0))
                for i in range(layer.in_features)]
    return ref


def run_values(spec: LayeredSpec, params, run, x) -> dict[str, np.ndarray]:
    """A float run's value of every key a method bounds, from `_numpy_loops` or one row
    of `_numpy_batched` (r = fl(x_hat − x) as numpy and the loops compute it; the
    gradients for the MSE loss)."""
    found, out, E, grads, gx = run
    values = {"gradients.input": gx}
    for k, layer in enumerate(spec.layers):
        values[f"layers.{layer.name}.pre_activation"] = found[k][0]
        values[f"layers.{layer.name}.post_activation"] = found[k][1]
        values[f"gradients.{layer.name}.weight"], values[f"gradients.{layer.name}.bias"] = grads[k]
        # Wᵀ dz of this run's dz, summed by numpy (a valid order), the first layer's the run's own dX
        values[f"gradients.{layer.name}.input_gradient"] = gx if k == 0 else grads[k][1] @ params[k][0]
    values["latent"] = found[len(spec.encoder) - 1][1]
    values["output"] = out
    values["residual"] = out - x
    values["reconstruction_error"] = E
    return values


def float_misses(spec: LayeredSpec, bounds: dict[str, np.ndarray], box: Box, points, semantics: str) -> list[str]:
    fmt = FORMATS[semantics]
    X = _float_points(box, points, fmt)
    params = _rounded(spec, fmt)
    found, out, E, grads, gx = _numpy_batched(params, X, None)
    misses = []
    for k in range(len(X)):
        rows = ({j: (v[0][k], v[1][k]) for j, v in found.items()}, out[k], E[k],
                {j: (v[0][k], v[1][k]) for j, v in grads.items()}, gx[k])
        for where, run in (("batched", rows), ("loops", _numpy_loops(params, X[k], None))):
            for key, v in run_values(spec, params, run, X[k]).items():
                if key in bounds and not _inside(bounds[key], v):
                    misses.append(f"{where} {k}: {key}")
    return misses


@settings(max_examples=40)
@given(st.data())
def test_real_bounds_contain_the_reference(data):
    spec = data.draw(layered_specs(max_width=5))
    box = data.draw(boxes(spec.input_dim))
    bounds = layered_mean_value_bounds(spec, box, "real")
    if not mean_value_applies(spec):
        assert bounds is None
        return
    assert bounds is not None
    names = {f"layers.{layer.name}.{part}" for layer in spec.layers for part in ("pre_activation", "post_activation")}
    names |= {f"gradients.{key}" for key in gradient_names(spec)}
    names |= {f"gradients.{layer.name}.input_gradient" for layer in spec.layers}
    assert set(bounds) == names | {"latent", "output", "residual", "reconstruction_error"}
    for x in data.draw(points_in(box, count=2)):
        ref = reference_with_residual(spec, x)
        misses = outside(Bounds(bounds), {key: ref[key] for key in bounds})
        assert not misses, misses[:5]


@settings(max_examples=40)
@given(st.data())
def test_float_bounds_contain_numpy_runs(data):
    semantics = data.draw(st.sampled_from(["float32", "float64"]))
    spec = data.draw(layered_specs(max_width=5))
    box = data.draw(boxes(spec.input_dim))
    bounds = layered_mean_value_bounds(spec, box, semantics)
    if not mean_value_applies(spec):
        assert bounds is None
        return
    assert bounds is not None  # small weights: no float run overflows
    misses = float_misses(spec, bounds, box, data.draw(points_in(box, count=3)), semantics)
    assert not misses, misses[:5]


def _linear_output(spec: LayeredSpec) -> LayeredSpec:
    """The spec with its last layer's activation removed (the Jacobian's factored form)."""
    layers = [(layer.weight, layer.bias, layer.activation) for layer in spec.layers]
    layers[-1] = (*layers[-1][:2], None)
    return LayeredSpec(layers[:len(spec.encoder)], layers[len(spec.encoder):])


@settings(max_examples=30)
@given(st.data())
def test_a_linear_output_layer_keeps_every_bound(data):
    """A last layer without activation keeps its d × d Jacobian factored (W_K J_{K−1} and,
    backward, (W_KᵀW_K) J_{K−1} − W_Kᵀ): every bound, gradients included, holds the
    reference (real) and numpy's runs (float)."""
    spec = _linear_output(data.draw(layered_specs(max_width=5)))
    box = data.draw(boxes(spec.input_dim))
    semantics = data.draw(st.sampled_from(["real", "float32", "float64"]))
    bounds = layered_mean_value_bounds(spec, box, semantics)
    if not mean_value_applies(spec):
        assert bounds is None
        return
    assert bounds is not None
    points = data.draw(points_in(box, count=2))
    if semantics == "real":
        for x in points:
            misses = outside(Bounds(bounds), {key: ref for key, ref in reference_with_residual(spec, x).items()
                                              if key in bounds})
            assert not misses, misses[:5]
    else:
        misses = float_misses(spec, bounds, box, points, semantics)
        assert not misses, misses[:5]


def test_a_linear_output_layer_tightens_the_gradients():
    """On a narrow box the factored backward form keeps the residual's correlation through
    W_Kᵀ: the input gradient is several times narrower than interval propagation's."""
    rng = np.random.default_rng(11)
    spec = LayeredSpec([(rng.normal(0, 0.3, (6, 30)).tolist(), rng.normal(0, 0.1, 6).tolist(), "tanh")],
                       [(rng.normal(0, 0.5, (30, 6)).tolist(), rng.normal(0, 0.1, 30).tolist(), None)])
    box = Box.around(rng.random(30).tolist(), "0.01")
    mv = layered_mean_value_bounds(spec, box, "real")
    assert mv is not None
    e = enclose_layered(spec, box, backend="fast", method="interval")
    width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
    assert np.median(width(mv["gradients.input"]) / width(e.gradients["input"])) < 0.5


def _deep() -> LayeredSpec:
    rng = np.random.default_rng(3)
    sizes, acts = [6, 5, 3, 5, 6], ["tanh", "relu", "elu", "sigmoid"]
    layers = [(rng.normal(0, 0.6, (o, i)).tolist(), rng.normal(0, 0.1, o).tolist(), a)
              for i, o, a in zip(sizes[:-1], sizes[1:], acts)]
    return LayeredSpec(layers[:2], layers[2:])


def test_narrow_boxes_are_tighter_than_interval_propagation():
    """The centred form keeps the dependency through all four layers: on a narrow box
    the output, the residual's E and the latent are several times narrower."""
    spec = _deep()
    box = Box.around(["0.1", "-0.2", "0.3", "0.0", "0.5", "-0.4"], "0.01")
    for semantics in ("real", "float32"):
        mv = layered_mean_value_bounds(spec, box, semantics)
        assert mv is not None
        e = enclose_layered(spec, box, semantics=semantics, backend="fast", method="interval")
        width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
        assert (width(mv["output"]) < 0.5 * width(e.output)).all()
        assert width(mv["latent"]).sum() < 0.8 * width(e.latent).sum()


def test_point_box_is_nearly_a_point():
    """On a point box |J|ρ vanishes: the bounds are the centre's interval evaluation (real)
    or the float errors (float32), contain the reference, and are narrow."""
    spec = _deep()
    x = [Fraction(1, 10), Fraction(-1, 5), Fraction(3, 10), Fraction(0), Fraction(1, 2), Fraction(-2, 5)]
    box = Box.point(x)
    real = layered_mean_value_bounds(spec, box, "real")
    assert real is not None and not outside(Bounds(real), reference_with_residual(spec, x) | {})
    assert (real["output"][:, 1] - real["output"][:, 0] < 1e-13).all()
    f32 = layered_mean_value_bounds(spec, box, "float32")
    assert f32 is not None and not float_misses(spec, f32, box, [x], "float32")
    assert (f32["output"][:, 1] - f32["output"][:, 0] < 1e-5).all()


def test_overflow_gives_none_in_float_semantics_only():
    spec = LayeredSpec([([["1e30"]], [0], "relu"), ([["1e30"]], [0], "tanh")], [([[1]], [0], None)])
    box = Box.around([1], "0.1")
    assert layered_mean_value_bounds(spec, box, "float32") is None
    real = layered_mean_value_bounds(spec, box, "real")
    assert real is not None and np.isfinite(real["latent"]).all()
    assert layered_mean_value_bounds(spec, box, "float64") is not None  # 1e60 is a finite double


def test_an_activation_with_a_jump_has_no_mean_value_form(monkeypatch):
    spec = _deep()
    monkeypatch.setattr(type(get_activation("elu")), "continuous", False, raising=False)
    assert not mean_value_applies(spec)
    assert layered_mean_value_bounds(spec, Box.around([0] * 6, "0.1"), "real") is None


def test_a_discontinuous_activation_gets_no_mean_value_form():
    """softplus jumps at PyTorch's threshold (β·z = threshold: from log1p(e^t)/β down to
    z). The mean value theorem does not hold across a jump, so neither mean-value form
    bounds it (`Activation.continuous`), and every method's enclosure still holds both
    sides of the jump: softplus(1) = log(1 + e) at z = 1 and values just above 1 past it."""
    softplus = {"name": "softplus", "beta": "1", "threshold": "1"}
    layered = LayeredSpec([([[1]], [0], softplus)], [([[1]], [0], None)])
    v1 = AutoencoderSpec([[1]], [0], [[1]], [0], softplus)
    box = Box(["0.5"], ["1.5"])
    for semantics in ("real", "float32"):
        assert layered_mean_value_bounds(layered, box, semantics) is None
        assert mean_value_bounds(v1, box, semantics) is None
    for spec in (layered, v1):
        for method in ("mean-value", "linear", "bisect", "auto"):
            out = enclose(spec, box, method=method, max_parts=4).output[0]
            assert out[0] <= 1.000001 and out[1] >= 1.3133, (spec, method, out)
