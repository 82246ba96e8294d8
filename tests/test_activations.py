"""Interval extensions of the activations: sound and tight, on every rigorous backend."""

from __future__ import annotations

import re
from fractions import Fraction

import flint
import numpy as np
import pytest
from flint import arb, fmpq
from hypothesis import given
from hypothesis import strategies as st

from verifae import ACTIVATIONS, SpecError, get_backend
from verifae.activations import REGISTRY, TRANSCENDENTAL, Activation, get_activation, validate_activation
from verifae.activations.leaky_relu import LeakyRelu
from verifae.activations.relu import Relu
from verifae.numbers import FORMATS
from verifae.rounding import FloatSemantics

# tanh(400) = 1 - 2exp(-800) needs about 1160 bits to be told apart from 1.
BITS = 1500


def _true(name: str, q: Fraction, derivative: bool) -> arb:
    """act(q) or act'(q) as a 256-bit ball (Arb), with relu'(0) = 0."""
    z = arb(fmpq(q.numerator, q.denominator))
    if name == "identity":
        return arb(1) if derivative else z
    if name == "relu":
        if derivative:
            return arb(1 if q > 0 else 0)
        return z if q > 0 else arb(0)
    if name == "leaky_relu":  # the default negative_slope, 1/100, exactly
        s = fmpq(1, 100)
        if derivative:
            return arb(1) if q > 0 else arb(s)
        return z if q > 0 else arb(s * fmpq(q.numerator, q.denominator))
    if name == "sigmoid":
        s = 1 / (1 + (-z).exp())
        return s * (1 - s) if derivative else s
    t = z.tanh()
    return 1 - t * t if derivative else t


def _interval(backend_name, lo, hi, name, derivative, with_input=False):
    """act or act' over [lo, hi]; with_input also returns the input interval as represented."""
    B = get_backend(backend_name)
    z = B.interval(np.array([lo], dtype=object), np.array([hi], dtype=object))
    out = B.activation_derivative(name, z) if derivative else B.activation(name, z)
    if with_input:
        return B.bounds(out)[0], B.bounds(z)[0]
    return B.bounds(out)[0]


def _backends(name):
    return ["arb", "mpmath"] + ([] if name in TRANSCENDENTAL else ["exact"])


endpoint = st.one_of(
    st.fractions(-6, 6, max_denominator=1000),
    st.sampled_from([Fraction(0), Fraction(-40), Fraction(40), Fraction(400), Fraction(-400)]),
)


@given(
    name=st.sampled_from(ACTIVATIONS),
    derivative=st.booleans(),
    a=endpoint,
    b=endpoint,
    ts=st.lists(st.fractions(0, 1, max_denominator=50), min_size=1, max_size=5),
)
def test_sound_and_tight(name, derivative, a, b, ts):
    lo, hi = min(a, b), max(a, b)
    points = [lo, hi, *(lo + t * (hi - lo) for t in ts)] + ([Fraction(0)] if lo <= 0 <= hi else [])
    with flint.ctx.workprec(BITS):
        values = [_true(name, p, derivative) for p in points]
        for backend in _backends(name):
            (e_lo, e_hi), (z_lo, z_hi) = _interval(backend, lo, hi, name, derivative, with_input=True)
            for p, v in zip(points, values):
                assert arb(e_lo) <= v and v <= arb(e_hi), (backend, p)
            # Tight: the enclosure exceeds the range over the input interval as the
            # backend represents it (an Arb ball is slightly wider than [lo, hi]) by
            # rounding only. The extrema are at the endpoints, or at 0 for the even
            # derivatives.
            extremes = [Fraction(z_lo), Fraction(z_hi)] + ([Fraction(0)] if z_lo <= 0 <= z_hi else [])
            hull = [_true(name, p, derivative) for p in extremes]
            v_lo = min(hull, key=lambda v: v.lower()).lower()
            v_hi = max(hull, key=lambda v: v.upper()).upper()
            # Arb keeps radii to 30 bits; mpmath and exact round only to the 53-bit result.
            rel = 2.0**-27 if backend == "arb" else 2.0**-50
            slack = arb(rel) * (1 + abs(v_lo) + abs(v_hi))
            assert arb(e_lo) >= v_lo - slack and arb(e_hi) <= v_hi + slack, backend


@pytest.mark.parametrize("backend", ["arb", "mpmath", "exact"])
def test_relu_derivative_conventions(backend):
    """relu' is [0, 1] on a straddling interval, 0 at 0, and 0 or 1 elsewhere."""
    cases = {(-1, 2): (0, 1), (0, 0): (0, 0), (0, 1): (0, 1), (Fraction(1, 10**9), 1): (1, 1), (-3, 0): (0, 0)}
    for (lo, hi), expected in cases.items():
        got = _interval(backend, Fraction(lo), Fraction(hi), "relu", True)
        assert got[0] <= expected[0] and got[1] >= expected[1]
        assert tuple(got) == expected or backend == "arb"


@pytest.mark.parametrize("backend", ["arb", "mpmath", "exact"])
def test_square_is_not_a_product(backend):
    """[-1, 2]² = [0, 4], while [-1, 2]·[-1, 2] = [-2, 4]."""
    B = get_backend(backend)
    x = B.interval(np.array([-1], dtype=object), np.array([2], dtype=object))
    (lo, hi), = B.bounds(B.square(x))
    assert -(2.0**-25) <= lo <= 0 and 4 <= hi <= 4 + 2.0**-22
    (plo, _), = B.bounds(B.mul(x, x))
    assert plo <= -2


def test_validate_activation():
    assert validate_activation("tanh") == "tanh"
    with pytest.raises(SpecError, match="valid activations are: relu, sigmoid, tanh, identity"):
        validate_activation("softmax")


# ---------------------------------------------------------------- the registry and its entries


@pytest.mark.parametrize("bad", ["softmax", "Relu", "", None, 3, "tanh "])
def test_registry_refuses_unknown_names_with_the_list(bad):
    valid = ", ".join(ACTIVATIONS)
    with pytest.raises(SpecError, match=f"unknown activation {re.escape(repr(bad))}; valid activations are: {valid}$"):
        get_activation(bad)


def test_registry_entries():
    assert tuple(REGISTRY) == ACTIVATIONS
    assert ACTIVATIONS[:4] == ("relu", "sigmoid", "tanh", "identity")
    assert TRANSCENDENTAL == {name for name, act in REGISTRY.items() if act.transcendental}
    assert TRANSCENDENTAL >= {"sigmoid", "tanh"} and not TRANSCENDENTAL & {"relu", "identity"}
    for name, act in REGISTRY.items():
        assert isinstance(act, Activation) and act.name == name
        assert get_activation(name) is act and get_activation(act) is act
        assert act.config()["name"] == name and act == get_activation(name)
    ops = {name: REGISTRY[name].onnx_op for name in ("relu", "sigmoid", "tanh", "identity")}
    assert ops == {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": "Identity"}
    assert REGISTRY["relu"].value_range("float32") == (0.0, np.inf)
    assert REGISTRY["sigmoid"].value_range("real") == (0.0, 1.0)
    assert REGISTRY["tanh"].value_range("float64") == (-np.inf, np.inf)


@pytest.mark.parametrize("missing", sorted(Activation.__abstractmethods__))
def test_an_activation_missing_a_method_cannot_be_instantiated(missing):
    """Every method of the interface is abstract: leaving one out is a TypeError."""
    members = {k: v for cls in reversed(Relu.__mro__[:-1]) for k, v in vars(cls).items()}
    members.pop(missing)
    complete = type("Complete", (Activation,), {**members, missing: getattr(Relu, missing)})
    complete()  # all of them: fine
    broken = type("Broken", (Activation,), members)
    with pytest.raises(TypeError, match=missing):
        broken()


def _grid(dtype):
    z = np.concatenate([np.linspace(-40, 40, 801), np.linspace(-1, 1, 201),
                        [0.0, -0.0, 1e-30, -1e-30, 1e-45, 88.0, -88.0, 100.0, -100.0, 700.0, -700.0]])
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_point_value_and_derivative_match_torch(name, dtype):
    """The point derivative is PyTorch's autograd (relu'(0) = 0), within a few ulps where
    the kernels differ (sigmoid, tanh); the value likewise."""
    torch = pytest.importorskip("torch")
    act = get_activation(name)
    z = _grid(dtype)
    x = torch.tensor(z, requires_grad=True)
    y = act.torch_module()(x)
    y.backward(torch.ones_like(y))
    with np.errstate(over="ignore"):
        value, derivative = act.point(z, dtype), act.point_derivative(z, dtype)
    assert value.dtype == dtype and derivative.dtype == dtype
    eps = float(np.finfo(dtype).eps)
    if act.transcendental:
        # s(1 − s) and 1 − t² from values s, t within a few ulps: absolute error ~ eps.
        np.testing.assert_allclose(derivative, x.grad.numpy(), rtol=8 * eps, atol=8 * eps)
        np.testing.assert_allclose(value, y.detach().numpy(), rtol=8 * eps, atol=8 * eps)
    else:
        np.testing.assert_array_equal(derivative, x.grad.numpy())
        np.testing.assert_array_equal(value, y.detach().numpy())
    assert derivative[np.flatnonzero(z == 0)[0]] == (0 if name == "relu" else derivative[np.flatnonzero(z == 0)[0]])


def test_reference_agrees_with_independent_formulas():
    with flint.ctx.workprec(200):
        for name in ("relu", "sigmoid", "tanh", "identity"):
            act = get_activation(name)
            for q in (Fraction(-7, 3), Fraction(0), Fraction(1, 10), Fraction(40)):
                z = arb(fmpq(q.numerator, q.denominator))
                for derivative, got in ((False, act.reference(z)), (True, act.reference_derivative(z))):
                    assert got.overlaps(_true(name, q, derivative)), (name, q, derivative)


float_endpoint = st.one_of(
    st.floats(-12, 12, allow_subnormal=False),
    st.floats(-800, 800, allow_subnormal=False),
    st.sampled_from([0.0, 1e-300, -1e-300, 5e-324, 40.0, -40.0]),
)


@given(
    name=st.sampled_from(ACTIVATIONS),
    a=float_endpoint,
    b=float_endpoint,
    ts=st.lists(st.fractions(0, 1, max_denominator=10**6), min_size=1, max_size=6),
)
def test_every_extension_contains_the_200_bit_value(name, a, b, ts):
    """arb, mpmath, exact (where it applies) and fast: the enclosure of act and act' over
    [lo, hi] contains the 200-bit Arb value at the endpoints, at 0 and at random points,
    with zero tolerance."""
    act = get_activation(name)
    lo, hi = min(a, b), max(a, b)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, *(L + t * (H - L) for t in ts)] + ([Fraction(0)] if L <= 0 <= H else [])
    backends = ["arb", "mpmath", "fast"] + ([] if act.transcendental else ["exact"])
    enclosures = {}
    for backend in backends:
        B = get_backend(backend)
        z = B.interval_floats(np.array([lo]), np.array([hi]))
        enclosures[backend] = (B.bounds(B.activation(act, z))[0], B.bounds(B.activation_derivative(act, z))[0])
    for p in points:
        for backend, pair in enclosures.items():
            for (e_lo, e_hi), derivative in zip(pair, (False, True)):
                assert _contains(act, p, derivative, e_lo, e_hi), (backend, derivative, p, e_lo, e_hi)


def _contains(act, p: Fraction, derivative: bool, e_lo: float, e_hi: float) -> bool:
    """Whether act(p) (or act'(p)) lies in [e_lo, e_hi]: decided with a 200-bit Arb ball,
    or, where that ball overlaps an endpoint (tanh(70) = 1 − 2e^-140, sigmoid(1e-300)
    = 1/2 + 2.5e-301), with more bits; never decided by a tolerance."""
    for bits in (200, 800, 3200, 12800):
        with flint.ctx.workprec(bits):
            z = arb(fmpq(p.numerator, p.denominator))
            v = act.reference_derivative(z) if derivative else act.reference(z)
            lo, hi = arb(e_lo), arb(e_hi)
            if lo <= v and v <= hi:
                return True
            if v < lo or v > hi:
                return False
    return False


def test_no_module_outside_the_package_branches_on_an_activation_name():
    """Activation behaviour lives in verifae/activations/: elsewhere no comparison with an
    activation's name written as a string (`act == "tanh"`, `name in ("relu", ...)`) and
    no table keyed by them (libm's K table is keyed by library functions, not activations)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "verifae"
    names = set(ACTIVATIONS)

    def literals(node):
        if isinstance(node, ast.Constant) and node.value in names:
            yield node.value
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for elt in node.elts:
                yield from literals(elt)

    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "activations" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    found += literals(side)
            elif isinstance(node, ast.Dict) and path.name != "libm.py":
                for key in node.keys:
                    if key is not None:
                        found += literals(key)
            elif isinstance(node, ast.match_case):
                found += [v.value for v in ast.walk(node.pattern) if isinstance(v, ast.Constant) and v.value in names]
            offenders += [f"{path.relative_to(root)}:{node.lineno}: {v!r}" for v in found]
    assert not offenders, offenders


# ---------------------------------------------------------------- leaky_relu, an activation with a parameter


SLOPES = ["1/100", "1/3", "0", "1", "0.5", "1e-30"]


def test_leaky_relu_configuration():
    default = get_activation("leaky_relu")
    assert default.config() == {"name": "leaky_relu", "negative_slope": "1/100"}
    configured = get_activation({"name": "leaky_relu", "negative_slope": "0.2"})
    assert configured.negative_slope == Fraction(1, 5) and configured == LeakyRelu(Fraction(1, 5))
    assert get_activation(configured.config()) == configured  # the config round-trips
    assert get_activation({"name": "leaky_relu"}) is default and get_activation({"name": "relu"}) is REGISTRY["relu"]
    with pytest.raises(SpecError, match="must lie in \\[0, 1\\]"):
        LeakyRelu("-0.1")
    with pytest.raises(SpecError, match="must lie in \\[0, 1\\]"):
        LeakyRelu(2)
    with pytest.raises(SpecError, match="negative_slope: .*not a number"):
        LeakyRelu("abc")
    with pytest.raises(SpecError, match="unknown parameter 'alpha'"):
        get_activation({"name": "leaky_relu", "alpha": "0.1"})
    with pytest.raises(SpecError, match="'relu' takes no parameters"):
        get_activation({"name": "relu", "negative_slope": "0.1"})
    with pytest.raises(SpecError, match="valid activations are"):
        get_activation({"negative_slope": "0.1"})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", SLOPES)
def test_leaky_relu_points_are_torchs(slope, dtype):
    """fl(s)·z with s rounded once to the format, bit for bit as PyTorch's kernel."""
    torch = pytest.importorskip("torch")
    act = LeakyRelu(slope)
    z = _grid(dtype)
    x = torch.tensor(z, requires_grad=True)
    y = act.torch_module(dtype)(x)
    y.backward(torch.ones_like(y))
    np.testing.assert_array_equal(act.point(z, dtype), y.detach().numpy())
    np.testing.assert_array_equal(act.point_derivative(z, dtype), x.grad.numpy())
    s_f = float(act.slope_in(FORMATS[np.dtype(dtype).name]))
    assert act.point_derivative(np.zeros(1, dtype), dtype)[0] == s_f  # leaky_relu'(0) = s


@given(
    slope=st.sampled_from(SLOPES),
    a=float_endpoint,
    b=float_endpoint,
    ts=st.lists(st.fractions(0, 1, max_denominator=10**6), min_size=1, max_size=6),
)
def test_leaky_relu_extensions_contain_the_exact_value(slope, a, b, ts):
    act = LeakyRelu(slope)
    lo, hi = min(a, b), max(a, b)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, *(L + t * (H - L) for t in ts)] + ([Fraction(0)] if L <= 0 <= H else [])
    s = act.negative_slope
    for backend in ("arb", "mpmath", "fast", "exact"):
        B = get_backend(backend)
        z = B.interval_floats(np.array([lo]), np.array([hi]))
        (v_lo, v_hi), = B.bounds(B.activation(act, z))
        (d_lo, d_hi), = B.bounds(B.activation_derivative(act, z))
        for p in points:
            value, slope_at = (p, 1) if p > 0 else (s * p, s)
            assert Fraction(v_lo) <= value <= Fraction(v_hi), (backend, p)
            assert Fraction(d_lo) <= slope_at <= Fraction(d_hi), (backend, p)


@given(
    slope=st.sampled_from(SLOPES),
    a=st.floats(-30, 30, allow_subnormal=False),
    b=st.floats(-30, 30, allow_subnormal=False),
    ts=st.lists(st.fractions(0, 1, max_denominator=1000), min_size=3, max_size=12),
)
def test_leaky_relu_relaxation_lines_bound_it(slope, a, b, ts):
    """Both the parallel pair and the triangle, checked in exact rationals; exact (zero
    offsets) off 0 when s is a double."""
    act = LeakyRelu(slope)
    lo, hi = min(a, b), max(a, b)
    s = act.negative_slope
    parallel = act.relaxation(lo, hi)
    aL, cL, aU, cU = act.relaxation_lines(lo, hi, parallel)
    L, H = Fraction(lo), Fraction(hi)
    for p in [L, H, Fraction(0), *(L + t * (H - L) for t in ts)]:
        if not L <= p <= H:
            continue
        f = p if p > 0 else s * p
        a, pL, pU = parallel
        assert Fraction(a) * p + Fraction(pL) <= f <= Fraction(a) * p + Fraction(pU)
        assert Fraction(aL) * p + Fraction(cL) <= f <= Fraction(aU) * p + Fraction(cU)
    if not lo < 0 < hi and Fraction(float(s)) == s:
        assert parallel[1:] == (0.0, 0.0)


@pytest.mark.parametrize("fmt", ["float32", "float64"])
@pytest.mark.parametrize("slope", SLOPES)
def test_leaky_relu_float_model_contains_float_runs(slope, fmt):
    """FloatSemantics' leaky_relu and its derivative contain every fl(fl(s)·z), and
    float_error bounds |fl(fl(s)·z) − s·z| (the linear method's e2)."""
    act = LeakyRelu(slope)
    dtype = FORMATS[fmt].dtype
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, 10, 300), -np.exp2(rng.uniform(-140, 20, 100)), [0.0, -1e-45]]).astype(dtype)
    run, run_d = act.point(z, dtype), act.point_derivative(z, dtype)
    for backend in ("arb", "fast", "exact"):
        F = FloatSemantics(get_backend(backend), FORMATS[fmt])
        zf = F.interval_floats(z.astype(np.float64), z.astype(np.float64))
        value = F.bounds(F.activation(act, zf))
        deriv = F.bounds(F.activation_derivative(act, zf))
        assert np.all((value[:, 0] <= run) & (run <= value[:, 1])), backend
        assert np.all((deriv[:, 0] <= run_d) & (run_d <= deriv[:, 1])), backend
    B = get_backend("fast")
    mag = np.abs(z.astype(np.float64))
    e2 = act.float_error(B, fmt, mag, mag)
    s = act.negative_slope
    for zi, ri, ei in zip(z, run, e2):
        exact = Fraction(float(zi)) if zi > 0 else s * Fraction(float(zi))
        assert abs(Fraction(float(ri)) - exact) <= Fraction(float(ei))
