"""Layered autoencoders (issue 13): soundness against an independent reference and float
runs written here (numpy batched and in explicit loops, PyTorch), and the v1 spec as a
layered one giving the v1 enclosures bit for bit."""

from __future__ import annotations

import importlib.util
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, Layer, LayeredSpec, enclose, enclose_layered, enclose_many
from verifae.activations import ACTIVATIONS, TRANSCENDENTAL, get_activation
from verifae.backends import get_backend
from verifae.errors import BoxError, SpecError, UnsupportedError
from verifae.layered import gradient_names, layered_forward, layered_parameters
from verifae.methods import EXPENSIVE, LAYERED_FORMS
from verifae.numbers import FORMATS, nearest_floats

from .reference import layered_reference, outside, reference
from .strategies import boxes, points_in, rationals, specs

HAVE_TORCH = importlib.util.find_spec("torch") is not None

#: activation choices: registry names, a configured leaky_relu and None (no activation)
ACTIVATION_CHOICES = (*ACTIVATIONS, {"name": "leaky_relu", "negative_slope": "0.2"}, None)
EXACT_OK = tuple(a for a in ACTIVATION_CHOICES if a is None or get_activation(a).name not in TRANSCENDENTAL)

@st.composite
def layered_specs(draw, activations=ACTIVATION_CHOICES, max_width: int = 8) -> LayeredSpec:
    """Depth 2-4 in total (an encoder and a decoder of 1-3 layers each), widths 1-8."""
    n_enc = draw(st.integers(1, 3))
    n_dec = draw(st.integers(1, 4 - n_enc))
    d = draw(st.integers(1, max_width))
    widths = [d] + [draw(st.integers(1, max_width)) for _ in range(n_enc + n_dec - 1)] + [d]
    v = rationals()
    layers = []
    for k in range(n_enc + n_dec):
        n_in, n_out = widths[k], widths[k + 1]
        W = draw(st.lists(st.lists(v, min_size=n_in, max_size=n_in), min_size=n_out, max_size=n_out))
        b = draw(st.lists(v, min_size=n_out, max_size=n_out))
        layers.append((W, b, draw(st.sampled_from(activations))))
    return LayeredSpec(layers[:n_enc], layers[n_enc:])


@st.composite
def grad_outputs(draw, d: int):
    if draw(st.booleans()):
        return "mse"
    return draw(boxes(d))


# ---------------------------------------------------------------- the spec


def _spec():
    return LayeredSpec(
        [([[1, 2], [3, -1], ["0.5", "0.1"]], [0, 0, 0], "relu"), ([[1, 1, 1]], [0], "tanh")],
        [([[1], [2]], [0, 0])],
    )


def test_shapes_names_and_sizes():
    spec = _spec()
    assert spec.input_dim == 2 and spec.latent_dim == 1 and spec.layer_sizes == (2, 3, 1, 2)
    assert [layer.name for layer in spec.layers] == ["encoder.0", "encoder.1", "decoder.0"]
    assert spec.encoder[0].weight[2, 0] == Fraction(1, 2)
    assert gradient_names(spec) == ("encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias",
                                    "decoder.0.weight", "decoder.0.bias", "input")
    assert spec.derived("k", lambda: 1) == 1 and spec.derived("k", lambda: 2) == 1


def test_shape_errors_name_the_layer_and_both_shapes():
    with pytest.raises(SpecError, match=r"decoder\.0: weight has shape \(2, 4\) but the previous layer "
                                        r"encoder\.0 \(weight shape \(3, 2\)\) gives 3 values"):
        LayeredSpec([([[1, 2]] * 3, [0] * 3, "relu")], [([[1] * 4] * 2, [0, 0], "identity")])
    with pytest.raises(SpecError, match=r"decoder\.0: weight has shape \(3, 3\) .* takes 2 values"):
        LayeredSpec([([[1, 2]] * 3, [0] * 3, "relu")], [([[1] * 3] * 3, [0] * 3, "identity")])
    with pytest.raises(SpecError, match=r"encoder\.0: bias has shape \(2,\) but weight has shape \(3, 2\)"):
        LayeredSpec([([[1, 2]] * 3, [0] * 2, "relu")], [([[1] * 3] * 2, [0, 0], "identity")])
    with pytest.raises(SpecError, match="unknown activation 'softmax'; valid activations are: relu"):
        LayeredSpec([([[1]], [0], "softmax")], [([[1]], [0], "identity")])
    with pytest.raises(SpecError, match="decoder must be a non-empty list"):
        LayeredSpec([([[1]], [0], "relu")], [])
    with pytest.raises(SpecError, match="two layers are called 'a'"):
        LayeredSpec([Layer([[1]], [0], "relu", "a")], [Layer([[1]], [0], "relu", "a")])


def test_from_v1():
    v1 = AutoencoderSpec([[1, 2], [3, 4], [5, 6]], [1, 2, 3], [[1, 0, 1], [0, 1, 0]], [0, 1], "sigmoid")
    spec = LayeredSpec.from_v1(v1)
    assert (len(spec.encoder), len(spec.decoder)) == (1, 1)
    assert spec.encoder[0].activation_name == "sigmoid" and spec.decoder[0].activation is None
    assert (spec.encoder[0].weight == v1.W_enc).all() and (spec.decoder[0].bias == v1.b_dec).all()
    assert spec.latent_dim == v1.hidden_dim and spec.input_dim == v1.input_dim


def test_argument_errors():
    spec = _spec()
    box = Box.around([0, 0], "0.1")
    if "linear" not in LAYERED_FORMS:  # until the linear relaxation over layers is registered
        with pytest.raises(UnsupportedError, match="method 'linear' is not available for layered models yet; "
                                                   "use one of: interval, mean-value, bisect, auto"):
            enclose_layered(spec, box, method="linear")
    with pytest.raises(UnsupportedError, match="max_parts must be at least 1, got 0"):
        enclose_layered(spec, box, method="interval", max_parts=0)
    with pytest.raises(UnsupportedError, match="unknown method"):
        enclose_layered(spec, box, method="magic")
    with pytest.raises(BoxError, match="input_dim is 2"):
        enclose_layered(spec, Box.around([0, 0, 0], 1))
    with pytest.raises(UnsupportedError, match="backend 'exact' .* cannot evaluate 'tanh'"):
        enclose_layered(spec, box, backend="exact")
    with pytest.raises(UnsupportedError, match="LayeredSpec.from_v1"):
        enclose_layered(AutoencoderSpec([[1]], [0], [[1]], [0]), Box.point([0]))  # type: ignore[arg-type]


def test_parameters_are_converted_once_per_layer_and_backend():
    spec = _spec()
    B = get_backend("fast")
    first = layered_parameters(B, spec)
    again = layered_parameters(B, spec)
    assert all(a.weight is b.weight for a, b in zip(first.layers, again.layers))


def test_float_overflow_is_unbounded_with_a_note():
    spec = LayeredSpec([([["1e30"]], [0], "relu"), ([["1e30"]], [0], "identity")], [([[1]], [0], "identity")])
    e = enclose_layered(spec, Box.point([1]), semantics="float32", backend="fast", method="interval")
    assert np.isneginf(e.output[0, 0]) and np.isposinf(e.output[0, 1])
    assert np.isneginf(e.gradients["input"][0, 0]) and np.isposinf(e.gradients["input"][0, 1])
    assert any("float32" in note and "largest finite" in note for note in e.notes)
    real = enclose_layered(spec, Box.point([1]), backend="arb")
    assert np.isfinite(real.output).all() and real.notes == ()


# ---------------------------------------------------------------- soundness, real numbers


@given(st.data())
def test_real_enclosures_contain_the_reference(data):
    backend = data.draw(st.sampled_from(["arb", "fast", "exact", "mpmath"]))
    spec = data.draw(layered_specs(EXACT_OK if backend == "exact" else ACTIVATION_CHOICES,
                                   max_width=4 if backend == "mpmath" else 8))
    box = data.draw(boxes(spec.input_dim))
    g = data.draw(grad_outputs(spec.input_dim))
    e = enclose_layered(spec, box, grad_output=g, backend=backend, method="interval")
    keys = {name for name, _ in e.items()}
    assert keys == set(layered_reference(spec, list(box.center), None))
    g_points = [None] if g == "mse" else [list(g.lower), list(g.upper), list(g.center)]
    for x in data.draw(points_in(box, count=2)):
        for gp in g_points:
            misses = outside(e, layered_reference(spec, x, gp))
            assert not misses, misses[:5]


def test_batched_forward_contains_the_reference_row_by_row():
    spec = _spec()
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (7, 2))
    B = get_backend("fast")
    fwd = layered_forward(B, layered_parameters(B, spec), B.interval_floats(X, X))
    out = B.bounds(fwd.output)
    assert out.shape == (7, 2, 2)
    class Row:
        def __init__(self, bounds):
            self.bounds = bounds

        def items(self):
            yield "output", self.bounds

    for k, x in enumerate(X):
        assert not outside(Row(out[k]), layered_reference(spec, [Fraction(v) for v in x], None))


@pytest.mark.parametrize("backend", ["float64", "float32", "exact"])
def test_the_point_backends_run_the_layered_functions(backend):
    """The functions run unchanged on the point backends: float64 and float32 give
    numpy's batched run here, exact the reference."""
    spec = LayeredSpec([([[1, "0.5"], ["-0.25", 2]], [0, "0.1"], "relu")],
                       [([["0.3", 1], [1, 0]], [0, 0], {"name": "leaky_relu", "negative_slope": "0.2"})])
    B = get_backend(backend)
    x = [Fraction(1, 4), Fraction(-1, 2)]
    fwd = layered_forward(B, layered_parameters(B, spec), B.interval(np.array(x, dtype=object),
                                                                     np.array(x, dtype=object)))
    out = B.values(fwd.output)
    if backend == "exact":
        ref = layered_reference(spec, x, None)["output"]
        assert [Fraction(int(v.p), int(v.q)) for v in ref] == list(out)
    else:
        fmt = FORMATS[backend]
        _, expected, *_ = _numpy_batched(_rounded(spec, fmt), _float_points(Box.point(x), [x], fmt), None)
        assert out.dtype == fmt.dtype and out.tobytes() == expected[0].tobytes()


# ---------------------------------------------------------------- soundness, float runs


def _rounded(spec: LayeredSpec, fmt) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    out = []
    for layer in spec.layers:
        W = nearest_floats(layer.weight, fmt)[0].astype(fmt.dtype)
        b = nearest_floats(layer.bias, fmt)[0].astype(fmt.dtype)
        out.append((W, b, layer.activation))
    return out


def _numpy_batched(params, X, G):
    """Every quantity for each row of X, numpy's batched kernels."""
    dtype = X.dtype
    found, a, ins, zs = {}, X, [], []
    for k, (W, b, act) in enumerate(params):
        z = a @ W.T + b
        ins.append(a)
        zs.append(z)
        a = z if act is None else act.point(z, dtype.type)
        found[k] = (z, a)
    d = X.shape[-1]
    r = a - X
    E = np.mean(r * r, axis=-1)
    gy = (dtype.type(2) * r / dtype.type(d)) if G is None else G
    grads = {}
    for k in reversed(range(len(params))):
        W, _, act = params[k]
        dz = gy if act is None else gy * act.point_derivative(zs[k], dtype.type)
        grads[k] = (dz[:, :, None] * ins[k][:, None, :], dz)
        gy = dz @ W
    return found, a, E, grads, gy


def _numpy_loops(params, x, g):
    """The same at one point, every sum an explicit left-to-right loop of scalar operations."""
    t = x.dtype.type
    a, ins, zs, found = list(x), [], [], {}
    for k, (W, b, act) in enumerate(params):
        z = []
        for j in range(W.shape[0]):
            acc = t(0)
            for i in range(W.shape[1]):
                acc = t(acc + W[j, i] * a[i])
            z.append(t(acc + b[j]))
        z_arr = np.array(z, dtype=x.dtype)
        ins.append(np.array(a, dtype=x.dtype))
        zs.append(z_arr)
        a = list(z_arr if act is None else act.point(z_arr, t))
        found[k] = (z_arr, np.array(a, dtype=x.dtype))
    d = len(x)
    r = [t(a[i] - x[i]) for i in range(d)]
    acc = t(0)
    for ri in r:
        acc = t(acc + t(ri * ri))
    E = t(acc / t(d))
    gy = [t(t(2) * ri / t(d)) for ri in r] if g is None else list(g)
    grads = {}
    for k in reversed(range(len(params))):
        W, _, act = params[k]
        if act is None:
            dz = np.array(gy, dtype=x.dtype)
        else:
            dact = act.point_derivative(zs[k], t)
            dz = np.array([t(gy[j] * dact[j]) for j in range(len(gy))], dtype=x.dtype)
        grads[k] = (np.outer(dz, ins[k]), dz)
        gx = []
        for i in range(W.shape[1]):
            acc = t(0)
            for j in range(W.shape[0]):
                acc = t(acc + W[j, i] * dz[j])
            gx.append(acc)
        gy = gx
    return found, np.array(a, dtype=x.dtype), E, grads, np.array(gy, dtype=x.dtype)


def _torch_runs(spec, params, X, G):
    import torch
    import torch.nn.functional as F

    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    modules = []
    for W, b, act in params:
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        modules += [linear, torch.nn.Identity() if act is None else act.torch_module(X.dtype)]
    model = torch.nn.Sequential(*modules)
    runs = []
    for k in range(len(X)):
        model.zero_grad(set_to_none=True)
        x = torch.tensor(X[k], dtype=dtype, requires_grad=True)
        values, a = {}, x
        for j in range(len(params)):
            z = model[2 * j](a)
            a = model[2 * j + 1](z)
            values[j] = (z.detach().numpy(), a.detach().numpy())
        assert torch.equal(a, model(x))  # the Sequential itself computes the same
        loss = F.mse_loss(a, x.detach())
        if G is None:
            loss.backward()
        else:
            a.backward(torch.tensor(G[k], dtype=dtype))
        grads = {j: (model[2 * j].weight.grad.numpy(), model[2 * j].bias.grad.numpy()) for j in range(len(params))}
        runs.append((values, a.detach().numpy(), loss.detach().numpy(), grads, x.grad.numpy()))
    return runs


def _inside(bounds: np.ndarray, v) -> bool:
    """v (a float run's value, inf or NaN possibly) lies in [lo, hi], zero tolerance; a
    value that is not finite only where the enclosure is unbounded."""
    v = np.asarray(v, dtype=np.float64)
    lo, hi = bounds[..., 0], bounds[..., 1]
    unbounded = np.isneginf(lo) & np.isposinf(hi)
    ok = unbounded | (np.isfinite(v) & (lo <= v) & (v <= hi))
    return bool(ok.all())


def _check_run(e, spec, run, where):
    values, out, E, grads, gx = run
    misses = []
    for k, layer in enumerate(spec.layers):
        if not _inside(e.layers[k].pre_activation, values[k][0]):
            misses.append(f"{where}: {layer.name}.pre_activation")
        if not _inside(e.layers[k].post_activation, values[k][1]):
            misses.append(f"{where}: {layer.name}.post_activation")
        if not _inside(e.gradients[f"{layer.name}.weight"], grads[k][0]):
            misses.append(f"{where}: gradients.{layer.name}.weight")
        if not _inside(e.gradients[f"{layer.name}.bias"], grads[k][1]):
            misses.append(f"{where}: gradients.{layer.name}.bias")
    if not _inside(e.output, out):
        misses.append(f"{where}: output")
    if not _inside(e.reconstruction_error, E):
        misses.append(f"{where}: reconstruction_error")
    if not _inside(e.gradients["input"], gx):
        misses.append(f"{where}: gradients.input")
    return misses


def _float_points(box: Box, points, fmt) -> np.ndarray:
    """The points rounded to nearest in the format: the inputs a float run sees."""
    return np.array([nearest_floats(np.array(p, dtype=object), fmt)[0] for p in points]).astype(fmt.dtype)


@given(st.data())
def test_float_enclosures_contain_numpy_and_torch_runs(data):
    semantics = data.draw(st.sampled_from(["float32", "float64"]))
    backend = data.draw(st.sampled_from(["arb", "fast"]))
    spec = data.draw(layered_specs())
    box = data.draw(boxes(spec.input_dim))
    g = data.draw(grad_outputs(spec.input_dim))
    e = enclose_layered(spec, box, grad_output=g, backend=backend, semantics=semantics, method="interval")
    fmt = FORMATS[semantics]
    params = _rounded(spec, fmt)
    X = _float_points(box, data.draw(points_in(box, count=3)), fmt)
    G = None if g == "mse" else _float_points(g, [list(g.lower), list(g.upper), list(g.center)] * len(X), fmt)[
        : len(X)]
    misses = []
    found, out, E, grads, gx = _numpy_batched(params, X, G)
    for k in range(len(X)):
        run = ({j: (v[0][k], v[1][k]) for j, v in found.items()}, out[k], E[k],
               {j: (v[0][k], v[1][k]) for j, v in grads.items()}, gx[k])
        misses += _check_run(e, spec, run, f"numpy batched {k}")
        misses += _check_run(e, spec, _numpy_loops(params, X[k], None if G is None else G[k]), f"loops {k}")
    if HAVE_TORCH:
        for k, run in enumerate(_torch_runs(spec, params, X, G)):
            misses += _check_run(e, spec, run, f"torch {k}")
    assert not misses, misses[:5]


# ---------------------------------------------------------------- v1 as a layered model

V1_KEYS = {"W_enc": "encoder.0.weight", "b_enc": "encoder.0.bias", "W_dec": "decoder.0.weight",
           "b_dec": "decoder.0.bias", "input": "input"}


@given(st.data())
def test_from_v1_gives_the_v1_enclosures_bit_for_bit(data):
    backend = data.draw(st.sampled_from(["arb", "fast", "mpmath", "exact"]))
    activations = tuple(a for a in ACTIVATIONS if backend != "exact" or a not in TRANSCENDENTAL)
    v1 = data.draw(specs(activations=activations, max_d=8, max_h=8))
    semantics = data.draw(st.sampled_from(["real", "float64", "float32"]))
    box = data.draw(boxes(v1.input_dim))
    g = data.draw(grad_outputs(v1.input_dim))
    a = enclose(v1, box, grad_output=g, backend=backend, semantics=semantics, method="interval")
    b = enclose_layered(LayeredSpec.from_v1(v1), box, grad_output=g, backend=backend, semantics=semantics,
                        method="interval")
    assert (b.backend, b.precision, b.semantics, b.method, b.notes) == (a.backend, a.precision, a.semantics,
                                                                         a.method, a.notes)
    pairs = [(a.pre_activation, b.layers[0].pre_activation), (a.hidden, b.layers[0].post_activation),
             (a.hidden, b.latent), (a.output, b.layers[1].pre_activation), (a.output, b.output),
             (a.reconstruction_error, b.reconstruction_error)]
    pairs += [(a.gradients[k], b.gradients[v]) for k, v in V1_KEYS.items()]
    assert list(b.gradients) == list(V1_KEYS.values())
    for x, y in pairs:
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


# ---------------------------------------------------------------- the tightening methods over layers

#: every method a layered model takes but the expensive ones ("alpha": its soundness is
#: tested in tests/test_methods_crown.py, and its path through the API below)
LAYERED_METHOD_NAMES = ("interval", *(m for m in LAYERED_FORMS if m not in EXPENSIVE), "bisect", "auto")


@settings(max_examples=30)
@given(st.data())
def test_every_method_contains_the_reference(data):
    method = data.draw(st.sampled_from(LAYERED_METHOD_NAMES))
    backend = data.draw(st.sampled_from(["fast", "fast", "arb"]))
    spec = data.draw(layered_specs(max_width=4))
    box = data.draw(boxes(spec.input_dim))
    g = data.draw(grad_outputs(spec.input_dim))
    e = enclose_layered(spec, box, grad_output=g, backend=backend, method=method, max_parts=4)
    assert e.method == method and e.latent is e.layers[len(spec.encoder) - 1].post_activation
    g_points = [None] if g == "mse" else [list(g.lower), list(g.upper)]
    for x in data.draw(points_in(box, count=2)):
        for gp in g_points:
            misses = outside(e, layered_reference(spec, x, gp))
            assert not misses, misses[:5]


@settings(max_examples=6)
@given(st.data())
def test_wide_layers_contain_the_reference(data):
    """Widths up to 12 (the other properties stop at 4 or 8 for time), every activation
    mixed, the default method, real and float32 against the reference and float runs."""
    spec = data.draw(layered_specs(max_width=12))
    box = data.draw(boxes(spec.input_dim))
    semantics = data.draw(st.sampled_from(["real", "float32"]))
    e = enclose_layered(spec, box, backend="fast", semantics=semantics, max_parts=2)
    points = data.draw(points_in(box, count=2))
    if semantics == "real":
        for x in points:
            misses = outside(e, layered_reference(spec, x, None))
            assert not misses, misses[:5]
    else:
        misses = _float_misses(e, spec, box, "mse", points, semantics)
        assert not misses, misses[:5]


def _float_misses(e, spec, box, g, points, semantics):
    fmt = FORMATS[semantics]
    params = _rounded(spec, fmt)
    X = _float_points(box, points, fmt)
    G = None if g == "mse" else _float_points(g, [list(g.lower), list(g.upper), list(g.center)] * len(X), fmt)[
        : len(X)]
    misses = []
    found, out, E, grads, gx = _numpy_batched(params, X, G)
    for k in range(len(X)):
        run = ({j: (v[0][k], v[1][k]) for j, v in found.items()}, out[k], E[k],
               {j: (v[0][k], v[1][k]) for j, v in grads.items()}, gx[k])
        misses += _check_run(e, spec, run, f"numpy batched {k}")
        misses += _check_run(e, spec, _numpy_loops(params, X[k], None if G is None else G[k]), f"loops {k}")
    if HAVE_TORCH:
        for k, run in enumerate(_torch_runs(spec, params, X, G)):
            misses += _check_run(e, spec, run, f"torch {k}")
    return misses


@settings(max_examples=20)
@given(st.data())
def test_every_method_contains_float_runs(data):
    method = data.draw(st.sampled_from(LAYERED_METHOD_NAMES[1:]))
    semantics = data.draw(st.sampled_from(["float32", "float64"]))
    spec = data.draw(layered_specs(max_width=4))
    box = data.draw(boxes(spec.input_dim))
    g = data.draw(grad_outputs(spec.input_dim))
    e = enclose_layered(spec, box, grad_output=g, backend="fast", semantics=semantics, method=method, max_parts=4)
    misses = _float_misses(e, spec, box, g, data.draw(points_in(box, count=2)), semantics)
    assert not misses, misses[:5]


def _within_bounds(inner: np.ndarray, outer: np.ndarray) -> bool:
    return bool(((outer[..., 0] <= inner[..., 0]) & (inner[..., 1] <= outer[..., 1])).all())


@settings(max_examples=15)
@given(st.data())
def test_auto_is_never_wider_than_interval_or_any_member(data):
    spec = data.draw(layered_specs(max_width=4))
    semantics = data.draw(st.sampled_from(["real", "float32"]))
    box = data.draw(boxes(spec.input_dim))
    run = lambda m: dict(enclose_layered(spec, box, backend="fast", semantics=semantics, method=m,  # noqa: E731
                                         max_parts=3).items())
    auto = run("auto")
    for method in LAYERED_METHOD_NAMES[:-1]:
        other = run(method)
        wider = [key for key in auto if not _within_bounds(auto[key], other[key])]
        assert not wider, (method, wider[:5])


def test_narrow_box_tightens_every_quantity_and_gradient():
    """A 2-3-1-3-2 tanh/relu/sigmoid model on a narrow box: auto is inside interval
    propagation everywhere and strictly narrower for the output, E, dX and the first
    layer's weight gradient (the tighter residual carried through the backward pass)."""
    spec = LayeredSpec([([[1, "-0.5"], ["0.3", 2], [-1, 1]], ["0.1", 0, "-0.2"], "tanh"),
                        ([[1, -1, "0.5"]], [0], "relu")],
                       [([["0.7"], [-1], [2]], [0, "0.1", 0], "sigmoid"), ([[1, "0.5", -1], [0, 1, 1]], [0, 0], None)])
    box = Box.around(["0.3", "-0.1"], "0.01")
    for semantics in ("real", "float64"):
        e = enclose_layered(spec, box, backend="fast", semantics=semantics, method="interval")
        a = enclose_layered(spec, box, backend="fast", semantics=semantics)
        assert a.method == "auto"
        for (name, x), (_, y) in zip(a.items(), e.items()):
            assert _within_bounds(x, y), name
        width = lambda b: float((b[..., 1] - b[..., 0]).sum())  # noqa: E731
        for name in ("output", "reconstruction_error"):
            assert width(getattr(a, name)) < 0.5 * width(getattr(e, name)), name
        for key in ("input", "encoder.0.weight"):
            assert width(a.gradients[key]) < 0.7 * width(e.gradients[key]), key


@pytest.mark.parametrize("method", ["auto", "mean-value", "bisect"])
def test_overflow_stays_unbounded_whatever_the_method(method):
    spec = LayeredSpec([([["1e30"]], [0], "relu"), ([["1e30"]], [0], "identity")], [([[1]], [0], None)])
    e = enclose_layered(spec, Box.around([1], "0.1"), semantics="float32", backend="fast", method=method, max_parts=8)
    assert e.method == method
    assert np.isneginf(e.output[0, 0]) and np.isposinf(e.output[0, 1])
    assert any("float32: a run may overflow" in note for note in e.notes)
    real = enclose_layered(spec, Box.around([1], "0.1"), backend="fast", method=method, max_parts=8)
    assert np.isfinite(real.output).all() and real.notes == ()


def test_enclose_takes_a_layered_spec():
    spec = _spec()
    box = Box.around(["0.2", "-0.1"], "0.05")
    for semantics in ("real", "float32"):
        a = enclose(spec, box, semantics=semantics, backend="fast")
        b = enclose_layered(spec, box, semantics=semantics, backend="fast")
        assert a.method == "auto" and [k for k, _ in a.items()] == [k for k, _ in b.items()]
        assert all(x.tobytes() == y.tobytes() for (_, x), (_, y) in zip(a.items(), b.items()))


def test_enclose_many_of_a_layered_spec():
    spec = _spec()
    rng = np.random.default_rng(5)
    lower = rng.uniform(-1, 1, (4, 2))
    upper = lower + [[0.01], [0.1], [0], [0.5]]
    seen: list[tuple[int, int]] = []
    many = enclose_many(spec, (lower, upper), method="auto", quantities=("layers", "output", "gradients.input"),
                        progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)] and many.backend == "fast" and len(many) == 4
    assert many.latent is None and many.reconstruction_error is None and list(many.gradients) == ["input"]
    assert [name for name, _ in many.items()] == [
        *(f"layers.{layer.name}.{part}" for layer in spec.layers for part in ("pre_activation", "post_activation")),
        "output", "gradients.input"]
    plain = enclose_many(spec, (lower, upper), quantities=("output", "gradients"))
    assert plain.method == "interval" and list(plain.gradients) == list(gradient_names(spec))
    for k in range(4):
        box = Box(lower[k], upper[k])
        one = enclose_layered(spec, box, backend="fast", method="auto")
        assert _within_bounds(many.output[k], plain.output[k])
        for x in ([Fraction(v) for v in lower[k]], [Fraction(v) for v in upper[k]]):
            ref = layered_reference(spec, x, None)
            misses = outside(many_row(many, k), ref)
            assert not misses, misses[:5]
        width = lambda b: float((b[..., 1] - b[..., 0]).sum())  # noqa: E731
        assert width(many.output[k]) <= width(one.output) * (1 + 1e-9) + 1e-12
    default = enclose_many(spec, (lower, upper))
    assert [name for name, _ in default.items()][-3:] == ["latent", "output", "reconstruction_error"]
    with pytest.raises(UnsupportedError, match="unknown quantity 'hidden'"):
        enclose_many(spec, (lower, upper), quantities=("hidden",))
    if "linear" not in LAYERED_FORMS:
        with pytest.raises(UnsupportedError, match="method 'linear' is not available for layered models yet"):
            enclose_many(spec, (lower, upper), method="linear")


class many_row:
    """Row k of a batch enclosure, read as an enclosure by `outside`."""

    def __init__(self, many, k):
        self.many, self.k = many, k

    def items(self):
        for name, array in self.many.items():
            yield name, array[self.k]


def test_enclose_many_keeps_overflowing_boxes_unbounded():
    spec = LayeredSpec([([["1e30"]], [0], "relu"), ([["1e30"]], [0], "identity")], [([[1]], [0], None)])
    lower = np.array([[1.0], [-1.0]])
    many = enclose_many(spec, (lower, lower + 0.1), semantics="float32", method="auto", quantities=("output",))
    assert np.isneginf(many.output[0, 0, 0]) and np.isposinf(many.output[0, 0, 1])
    assert np.isfinite(many.output[1]).all()  # relu(−1e30·x) = 0 for x < 0: no overflow in box 1
    assert any("a run may overflow" in note for note in many.notes)


@pytest.mark.skipif(not HAVE_TORCH, reason="method 'alpha' optimises relu slopes with PyTorch")
def test_alpha_through_the_api_contains_the_reference_and_is_never_wider_than_linear():
    """method="alpha" (optimised relu slopes) for a layered and a v1 spec: inside linear's
    enclosure, and containing the exact reference at the box's corners and centre."""
    layered = LayeredSpec([([[1, "-0.5"], ["0.3", 2], [-1, 1]], ["0.1", 0, "-0.2"], "relu"),
                           ([[1, -1, "0.5"], ["-0.4", 1, 1]], [0, "0.1"], "relu")],
                          [([["0.7", 1], [-1, "0.2"]], [0, "0.1"], "relu"), ([[1, "0.5"], [0, 1]], [0, 0], None)])
    v1 = AutoencoderSpec([[1, "-0.5"], ["0.3", 2], [-1, 1]], ["0.1", 0, "-0.2"],
                         [[1, -1, "0.5"], ["-0.4", 1, 1]], [0, "0.1"], "relu")
    box = Box.around(["0.3", "-0.1"], "0.4")
    corners = [[box.lower[0], box.lower[1]], [box.lower[0], box.upper[1]], [box.upper[0], box.lower[1]],
               [box.upper[0], box.upper[1]], list(box.center)]
    for spec in (layered, v1):
        alpha = enclose(spec, box, method="alpha", backend="fast")
        linear = enclose(spec, box, method="linear", backend="fast")
        assert alpha.method == "alpha"
        for name in ("output", "reconstruction_error"):
            assert _within_bounds(getattr(alpha, name), getattr(linear, name)), name
        for x in corners:
            ref = layered_reference(spec, x, None) if isinstance(spec, LayeredSpec) else reference(spec, x, None)
            assert not outside(alpha, ref), (spec, x)
