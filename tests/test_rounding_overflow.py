"""Contract item 3 in the float semantics: a run that may overflow never gets a finite
enclosure, whatever the method.

The runs here are this file's own: numpy batched, explicit loops left to right and
right to left (bias first and last), g as fl(2/d)·r and as 2·r/d, E as `mean` and as
a sum then a division, and PyTorch's modules with autograd. Every value is compared
with zero tolerance: a finite run lies in its interval, an inf run in an interval
whose end is inf, a NaN run only in (−inf, inf).
"""

from __future__ import annotations

import importlib.util
import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, LayeredSpec, enclose, enclose_many
from verifae.methods import TIGHTENINGS

#: overflow, inf − inf and 0·inf are part of the arithmetic here, read as unbounded ends:
#: a user must never see numpy warn about them
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

METHODS = ("interval", "linear", "mean-value", "bisect", "auto")
FLOATS = ("float32", "float64")
DTYPES = {"float32": np.float32, "float64": np.float64}


def _act(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """act(z) and act'(z) as user code writes them, in z's dtype."""
    one = z.dtype.type(1)
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if name == "identity":
        return z.copy(), np.ones_like(z)
    if name == "tanh":
        t = np.tanh(z)
        return t, one - t * t
    s = one / (one + np.exp(-z))
    return s, s * (one - s)


def _loop_affine(W: np.ndarray, x: np.ndarray, b: np.ndarray, reverse: bool, bias_first: bool) -> np.ndarray:
    out = np.empty(W.shape[0], dtype=W.dtype)
    order = range(W.shape[1] - 1, -1, -1) if reverse else range(W.shape[1])
    for i in range(W.shape[0]):
        s = b[i] if bias_first else W.dtype.type(0)
        for k in order:
            s = s + W[i, k] * x[k]
        out[i] = s if bias_first else s + b[i]
    return out


def _backward(W_enc, W_dec, act_name, X, Z, H, G):
    dW_dec = G[:, :, None] * H[:, None, :]
    dH = G @ W_dec
    dZ = dH * _act(act_name, Z)[1]
    return {"W_enc": dZ[:, :, None] * X[:, None, :], "b_enc": dZ, "W_dec": dW_dec, "b_dec": G, "input": dZ @ W_enc}


def float_runs(spec: AutoencoderSpec, points: np.ndarray, fmt: str) -> list[dict[str, np.ndarray]]:
    """Every quantity at `points` (values of the format), by several implementations.

    The parameters are generated exactly representable in the format, so `float(q)`
    and the cast are exact: the runs need no rounding code of verifae's."""
    dt = DTYPES[fmt]
    W_enc, b_enc, W_dec, b_dec = (np.array([[float(q) for q in row] for row in np.atleast_2d(a)], dtype=dt)
                                  for a in (spec.W_enc, spec.b_enc, spec.W_dec, spec.b_dec))
    b_enc, b_dec = b_enc[0], b_dec[0]
    X = points.astype(dt)
    d = spec.input_dim
    out = []
    with np.errstate(all="ignore"):  # the overflow is the point of this file
        # numpy batched, g = fl(2/d)·r and E = mean; then g = 2·r/d and E = sum / d
        Z = X @ W_enc.T + b_enc
        H = _act(spec.activation, Z)[0]
        X_hat = H @ W_dec.T + b_dec
        R = X_hat - X
        for G, E in ((dt(2 / d) * R, np.mean(R * R, axis=1)), (dt(2) * R / dt(d), (R * R).sum(axis=1) / dt(d))):
            grads = _backward(W_enc, W_dec, spec.activation, X, Z, H, G)
            out.append({"pre_activation": Z, "hidden": H, "output": X_hat, "reconstruction_error": E,
                        **{f"gradients.{k}": v for k, v in grads.items()}})
        # explicit loops, in both orders, the bias first and last
        for reverse in (False, True):
            Zl = np.array([_loop_affine(W_enc, x, b_enc, reverse, reverse) for x in X]).reshape(len(X), -1)
            Hl = _act(spec.activation, Zl)[0]
            Xl = np.array([_loop_affine(W_dec, hid, b_dec, not reverse, reverse) for hid in Hl])
            Rl = Xl - X
            El = np.empty(len(X), dtype=dt)
            for n, r in enumerate(Rl):
                s = dt(0)
                for v in (r[::-1] if reverse else r):
                    s = s + v * v
                El[n] = s / dt(d)
            Gl = dt(2) * Rl / dt(d)
            dH = np.array([[sum_in_order(W_dec[:, j] * g, reverse) for j in range(W_dec.shape[1])] for g in Gl],
                          dtype=dt).reshape(len(X), -1)
            dZ = dH * _act(spec.activation, Zl)[1]
            dX = np.array([[sum_in_order(W_enc[:, k] * dz, reverse) for k in range(d)] for dz in dZ], dtype=dt)
            out.append({"pre_activation": Zl, "hidden": Hl, "output": Xl, "reconstruction_error": El,
                        "gradients.b_dec": Gl, "gradients.b_enc": dZ, "gradients.input": dX,
                        "gradients.W_dec": Gl[:, :, None] * Hl[:, None, :],
                        "gradients.W_enc": dZ[:, :, None] * X[:, None, :]})
    out += _torch_runs(spec, W_enc, b_enc, W_dec, b_dec, X)
    return out


def sum_in_order(terms: np.ndarray, reverse: bool):
    s = terms.dtype.type(0)
    for v in (terms[::-1] if reverse else terms):
        s = s + v
    return s


def _torch_runs(spec, W_enc, b_enc, W_dec, b_dec, X) -> list[dict[str, np.ndarray]]:
    try:
        import torch
    except ImportError:
        return []
    dt = torch.float32 if W_enc.dtype == np.float32 else torch.float64
    acts = {"relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh(),
            "identity": torch.nn.Identity()}
    h, d = W_enc.shape
    enc, dec = torch.nn.Linear(d, h, dtype=dt), torch.nn.Linear(h, d, dtype=dt)
    with torch.no_grad():
        enc.weight.copy_(torch.from_numpy(W_enc.reshape(h, d))), enc.bias.copy_(torch.from_numpy(b_enc))
        dec.weight.copy_(torch.from_numpy(W_dec.reshape(d, h))), dec.bias.copy_(torch.from_numpy(b_dec))
    values: dict[str, list[np.ndarray]] = {}
    for x in X:
        for m in (enc, dec):
            m.zero_grad()
        xin = torch.tensor(x, dtype=dt, requires_grad=True)
        z = enc(xin)
        z.retain_grad()
        hid = acts[spec.activation](z)
        x_hat = dec(hid)
        x_hat.retain_grad()
        E = torch.nn.functional.mse_loss(x_hat, xin.detach())
        E.backward()
        found = {"pre_activation": z, "hidden": hid, "output": x_hat, "reconstruction_error": E,
                 "gradients.W_enc": enc.weight.grad, "gradients.b_enc": enc.bias.grad,
                 "gradients.W_dec": dec.weight.grad, "gradients.b_dec": dec.bias.grad, "gradients.input": xin.grad}
        for k, v in found.items():
            values.setdefault(k, []).append(v.detach().numpy().copy())
    return [{k: np.array(v) for k, v in values.items()}]


def outside(e, runs: list[dict[str, np.ndarray]]) -> list[str]:
    """Zero tolerance: every run value in its interval; inf only where the end is inf,
    NaN only in (−inf, inf)."""
    found = []
    for name, bounds in e.items():
        lo, hi = bounds[..., 0], bounds[..., 1]
        for n, run in enumerate(runs):
            v = run[name].astype(np.float64)
            ok = (lo <= v) & (v <= hi) | (np.isnan(v) & np.isneginf(lo) & np.isposinf(hi))
            if not ok.all():
                k = np.argwhere(~ok)[0]
                low, high = np.broadcast_to(lo, v.shape)[tuple(k)], np.broadcast_to(hi, v.shape)[tuple(k)]
                found.append(f"{name}{list(k[1:])} run {n}: {v[tuple(k)]!r} not in [{low!r}, {high!r}]")
    return found


# The reproducers of the soundness issue: every method, both rigorous backends.

def _spec(W_dec, hidden=1, d=None, act="identity"):
    d = d or len(W_dec)
    h = len(W_dec[0])
    return AutoencoderSpec([[0] * d] * h, [hidden] * h, W_dec, [0] * d, act)


REPRODUCERS = {
    # each square is 1e38 in float32, their sum overflows: E is inf in every run
    "E sum": (_spec([["1e19"]] * 4), "float32"),
    # 3e38 · 2 is inf in float32 but the real value is 6e38
    "output": (_spec([["3e38"], [0]], hidden=2), "float32"),
    # exact output 0, but left-to-right partial sums overflow
    "partial sums": (AutoencoderSpec([[0]] * 4, [1] * 4, [["3e38", "3e38", "-3e38", "-3e38"]], [0], "identity"),
                     "float32"),
    # r = 2e38 with d = 2: 2·r overflows before /d (and inf·0 in dW_dec is NaN)
    "2r/d float32": (_spec([["2e38"], [0]]), "float32"),
    "2r/d float64": (_spec([["1.5e308"], [0]]), "float64"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", ["arb", "fast"])
@pytest.mark.parametrize("name", list(REPRODUCERS))
def test_reproducers_stay_unbounded(name, backend, method):
    spec, fmt = REPRODUCERS[name]
    box = Box.point([0] * spec.input_dim)
    e = enclose(spec, box, backend=backend, semantics=fmt, method=method)
    runs = float_runs(spec, np.zeros((1, spec.input_dim)), fmt)
    assert outside(dict(e.items()), runs) == []
    assert any("overflow" in note or "exceed" in note for note in e.notes)


def test_reproducer_values():
    """What the runs do there, so that the tests above test something."""
    spec, fmt = REPRODUCERS["E sum"]
    (run, *_) = float_runs(spec, np.zeros((1, 4)), fmt)
    assert np.isposinf(run["reconstruction_error"]).all()
    e = enclose(spec, Box.point([0] * 4), semantics=fmt, method="mean-value")
    assert np.isposinf(e.reconstruction_error[1])
    spec, fmt = REPRODUCERS["2r/d float32"]
    runs = float_runs(spec, np.zeros((1, 2)), fmt)
    assert np.isposinf(runs[1]["gradients.b_dec"][0, 0])  # 2·r/d
    assert np.isfinite(runs[0]["gradients.b_dec"][0, 0])  # fl(2/d)·r
    for method in METHODS:
        e = enclose(spec, Box.point([0, 0]), semantics=fmt, method=method)
        assert tuple(e.gradients["b_dec"][0]) == (-np.inf, np.inf)
        assert tuple(e.gradients["W_dec"][0, 0]) == (-np.inf, np.inf)  # g_0 · hid_0 with g_0 = inf


def test_methods_return_nothing_where_a_run_may_overflow():
    for spec, fmt in REPRODUCERS.values():
        for name, method in TIGHTENINGS.items():
            assert method(spec, Box.point([0] * spec.input_dim), fmt) is None, name


def test_enclose_many_keeps_overflowing_boxes_unbounded():
    spec, fmt = REPRODUCERS["E sum"]
    lower = np.array([[0.0] * 4, [-1.0] * 4])
    upper = np.array([[0.0] * 4, [-1.0] * 4])
    for method in ("interval", "auto"):
        e = enclose_many(spec, (lower, upper), semantics=fmt, method=method)
        assert (e.reconstruction_error == [-np.inf, np.inf]).all()
        assert any("interval propagation only" in n for n in e.notes) == (method != "interval")


# The property: weight scales across the whole format.

def _exponents(fmt: str) -> dict[str, tuple[int, int]]:
    if fmt == "float32":
        return {"unit": (-3, 3), "large": (50, 64), "huge": (110, 115), "edge": (116, 116), "tiny": (-70, -60),
                "subnormal": (-149, -140)}
    # "edge": m·2^e just below realmax, where 2·r overflows and fl(2/d)·r may not
    return {"unit": (-3, 3), "large": (490, 512), "huge": (1005, 1010), "edge": (1012, 1012), "tiny": (-530, -510),
            "subnormal": (-1074, -1062)}


@st.composite
def representable(draw, fmt: str, scale: str) -> Fraction:
    """m·2^e with |m| < 2^11: exactly a value of the format (subnormals included)."""
    lo, hi = _exponents(fmt)[scale]
    m = draw(st.integers(-(2 ** 11) + 1, 2 ** 11 - 1))
    return Fraction(m) * Fraction(2) ** draw(st.integers(lo, hi))


@st.composite
def overflow_cases(draw):
    fmt = draw(st.sampled_from(FLOATS))
    d, h = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    act = draw(st.sampled_from(["relu", "identity", "tanh", "sigmoid"]))
    scales = list(_exponents(fmt))

    def tensor(shape):
        scale = draw(st.sampled_from(scales))
        flat = [draw(representable(fmt, scale)) for _ in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape)

    spec = AutoencoderSpec(tensor((h, d)), tensor((h,)), tensor((d, h)), tensor((d,)), act)
    lower = tensor((d,))
    if draw(st.booleans()):
        upper = lower.copy()  # a point box
    else:  # a thin box: a few ulps of the scale
        upper = lower + np.array([abs(draw(representable(fmt, "unit"))) * Fraction(2) ** -8 for _ in range(d)],
                                 dtype=object)
    method = draw(st.sampled_from(METHODS))
    backend = draw(st.sampled_from(["arb", "fast"]))
    return spec, Box(list(lower), list(upper)), fmt, method, backend


def _format_points(box: Box, fmt: str) -> np.ndarray:
    """Corners and the rounded centre: values of the format inside the box (rounding is
    monotone and the corners are values of the format)."""
    dt = DTYPES[fmt]
    corners = [[float(q) for q in c] for c in box.corners(limit=16)]
    centre = [float(dt(float(q))) for q in box.center]
    return np.array([*corners, centre], dtype=np.float64)


@settings(max_examples=max(20, int(os.environ.get("VERIFAE_EXAMPLES", "150")) // 2))
@given(overflow_cases())
def test_overflow_property(case):
    spec, box, fmt, method, backend = case
    e = enclose(spec, box, backend=backend, semantics=fmt, method=method)
    points = _format_points(box, fmt)
    assert outside(dict(e.items()), float_runs(spec, points, fmt)) == []


# ---------------------------------------------------------------- intermediates of backward kernels
#
# Found by an adversarial review: PyTorch's backward kernels of softplus and elu form an
# intermediate larger than gy·act'(z) (softplus_backward: gy·e^x before /(e^x + 1);
# elu_backward: gy·α before ·e^z), which overflows to ±inf where the gradient itself is
# finite. Before `Activation.backward_growth` and `FloatSemantics.activation_vjp`, every
# method gave a finite enclosure around such an inf run, and `verify` proved a bound the
# run breaks.

_torch_only = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="the runs are PyTorch's kernels")
VJP_METHODS = ["interval", "linear", "alpha", "mean-value", "bisect", "auto"]


def _torch_grads(layers, x, dtype_name):
    """db of the first layer, dX and E of a PyTorch run: nn.Linear and activation modules,
    MSE against the detached input, autograd."""
    import torch

    dtype = getattr(torch, dtype_name)
    modules = []
    for W, b, act in layers:
        linear = torch.nn.Linear(len(W[0]), len(W), dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[float(v) for v in row] for row in W], dtype=dtype))
            linear.bias.copy_(torch.tensor([float(v) for v in b], dtype=dtype))
        modules.append(linear)
        if act is not None:
            modules.append(act)
    xt = torch.tensor([float(v) for v in x], dtype=dtype, requires_grad=True)
    loss = torch.nn.functional.mse_loss(torch.nn.Sequential(*modules)(xt), xt.detach())
    loss.backward()
    return float(modules[0].bias.grad[0]), float(xt.grad[0]), float(loss.detach())


def _holds(pair, v):
    return pair[0] == -np.inf and pair[1] == np.inf if np.isnan(v) else pair[0] <= v <= pair[1]


# z = 19 on softplus's smooth branch (e^19 = 1.8e8): gy = 1e15·2·1.9e16 = 3.8e31 in float32
# and gy·e^19 = 6.8e39 overflows; in float64 the decoder weight 1e150 does the same.
@pytest.mark.parametrize("method", VJP_METHODS)
@pytest.mark.parametrize("semantics, weight", [("float32", "1e15"), ("float64", "1e150")])
@_torch_only
def test_softplus_backward_kernel_overflow_is_unbounded(semantics, weight, method):
    import torch

    spec = LayeredSpec([([["1"]], ["0"], "softplus")], [([[weight]], ["0"], None)])
    e = dict(enclose(spec, Box(["19"], ["19"]), semantics=semantics, method=method).items())
    db, dX, _ = _torch_grads([([["1"]], ["0"], torch.nn.Softplus()), ([[weight]], ["0"], None)], ["19"], semantics)
    assert np.isinf(db) and np.isinf(dX)
    assert _holds(e["gradients.encoder.0.bias"][0], db) and _holds(e["gradients.input"][0], dX)


@pytest.mark.parametrize("method", VJP_METHODS)
@_torch_only
def test_softplus_backward_kernel_overflow_in_a_v1_spec(method):
    import torch

    spec = AutoencoderSpec([["1"]], ["0"], [["1e6"]], ["0"], {"name": "softplus", "beta": "1", "threshold": "64"})
    e = dict(enclose(spec, Box(["60"], ["60"]), semantics="float32", method=method).items())
    db, dX, _ = _torch_grads([([["1"]], ["0"], torch.nn.Softplus(beta=1.0, threshold=64.0)),
                              ([["1e6"]], ["0"], None)], ["60"], "float32")
    assert np.isinf(db)
    assert _holds(e["gradients.b_enc"][0], db) and _holds(e["gradients.input"][0], dX)
    assert any("softplus's backward kernel" in note for note in enclose(spec, Box(["60"], ["60"]),
                                                                         semantics="float32").notes)


@pytest.mark.parametrize("method", ["interval", "auto"])
@_torch_only
def test_softplus_backward_kernel_overflow_in_a_batch(method):
    import torch

    spec = LayeredSpec([([["1"]], ["0"], "softplus")], [([["1e15"]], ["0"], None)])
    e = enclose_many(spec, (np.array([[19.0], [0.0]]), np.array([[19.0], [0.0]])), semantics="float32",
                     method=method, quantities=("gradients",))
    db, _, _ = _torch_grads([([["1"]], ["0"], torch.nn.Softplus()), ([["1e15"]], ["0"], None)], ["19"], "float32")
    assert np.isinf(db) and _holds(e.gradients["encoder.0.bias"][0, 0], db)
    assert np.isfinite(e.gradients["encoder.0.bias"][1, 0]).all()  # the other box stays bounded


# elu with α = 1.5e19 at z = −50: E = 2.25e38 is finite in float32, gy = −3e19, and the
# kernel forms gy·α = −4.5e38 = −inf before the e^−50 that brings it back to −8.7e16.
@pytest.mark.parametrize("method", VJP_METHODS)
@_torch_only
def test_elu_backward_kernel_overflow_is_unbounded(method):
    import torch

    spec = LayeredSpec([([["1"]], ["0"], {"name": "elu", "alpha": "1.5e19"})], [([["1"]], ["0"], None)])
    e = dict(enclose(spec, Box(["-50"], ["-50"]), semantics="float32", method=method).items())
    db, dX, loss = _torch_grads([([["1"]], ["0"], torch.nn.ELU(alpha=1.5e19)), ([["1"]], ["0"], None)], ["-50"],
                                "float32")
    assert np.isfinite(loss) and np.isinf(db)
    assert _holds(e["gradients.encoder.0.bias"][0], db) and _holds(e["gradients.input"][0], dX)


@_torch_only
def test_verify_does_not_prove_a_gradient_bound_the_backward_kernel_breaks(tmp_path):
    import json

    from click.testing import CliRunner

    from verifae.cli import main

    case = {"name": "softplus-backward-overflow",
            "model": {"encoder": [{"weight": [["1"]], "bias": ["0"], "activation": "softplus"}],
                      "decoder": [{"weight": [["1e15"]], "bias": ["0"], "activation": None}]},
            "input": {"lower": ["19"], "upper": ["19"]}, "grad_output": "mse"}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    result = CliRunner().invoke(main, ["verify", str(path), "--property", "input_grad_inf<=1e32",
                                       "--semantics", "float32", "--format", "json"])
    status = json.loads(result.output)["boxes"][0]["properties"][0]["verdicts"]["float32"]["status"]
    assert status != "proved"
