"""Interval extensions of the activations: sound and tight, on every rigorous backend."""

from __future__ import annotations

import re
from fractions import Fraction

import flint
import numpy as np
import pytest
from flint import arb, fmpq
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import ACTIVATIONS, AutoencoderSpec, Box, LayeredSpec, SpecError, enclose, enclose_many, get_backend
from verifae.activations import REGISTRY, TRANSCENDENTAL, Activation, get_activation, validate_activation
from verifae.activations.elu import Elu
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
    if name == "elu":  # the default alpha, 1; elu'(0) = alpha
        if derivative:
            return arb(1) if q > 0 else z.exp()
        return z if q > 0 else z.exp() - 1
    if name == "sigmoid":
        s = 1 / (1 + (-z).exp())
        return s * (1 - s) if derivative else s
    if name == "softplus":  # beta 1, threshold 20: the identity above 20, PyTorch's switch
        if q > 20:
            return arb(1) if derivative else z
        return z.exp() / (1 + z.exp()) if derivative else (1 + z.exp()).log()
    if name == "silu":
        s = 1 / (1 + (-z).exp())
        return s * (1 + z * (1 - s)) if derivative else z * s
    if name == "gelu":  # 1 + erf(z/√2) = erfc(−z/√2), without cancellation for z ≪ 0
        cdf = (-z / arb(2).sqrt()).erfc() / 2
        return cdf + z * (-z * z / 2).exp() / (2 * arb.pi()).sqrt() if derivative else z * cdf
    t = z.tanh()
    return 1 - t * t if derivative else t


#: interior critical points of act (False) and act' (True), to 60 digits (mpmath, independent
#: of the package): silu's minimum and silu''s extrema, gelu's likewise
def _criticals() -> dict[tuple[str, bool], list[Fraction]]:
    import mpmath

    mp = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp
    mp.dps = 60
    s = lambda z: 1 / (1 + mp.exp(-z))  # noqa: E731
    silu_min = mp.findroot(lambda z: 1 + z * (1 - s(z)), -1.28)
    silu_c = mp.findroot(lambda z: 2 - z * mp.tanh(z / 2), 2.4)
    Phi = lambda z: mp.erfc(-z / mp.sqrt(2)) / 2  # noqa: E731
    gelu_min = mp.findroot(lambda z: Phi(z) + z * mp.npdf(z), -0.75)
    q = lambda v: Fraction(mpmath.nstr(v, 60, min_fixed=-100, max_fixed=100))  # noqa: E731
    return {("silu", False): [q(silu_min)], ("silu", True): [q(-silu_c), q(silu_c)],
            ("gelu", False): [q(gelu_min)], ("gelu", True): [q(-mp.sqrt(2)), q(mp.sqrt(2))]}


CRITICALS = _criticals()


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
    st.sampled_from([Fraction(0), Fraction(-40), Fraction(40), Fraction(400), Fraction(-400), Fraction(20),
                     Fraction(-5, 4), Fraction(-3, 4), Fraction(12, 5), Fraction(-12, 5), Fraction(199999, 10000)]),
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
    points += [c for c in CRITICALS.get((name, derivative), []) + [Fraction(20)] if lo <= c <= hi]
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
            extremes += [c for c in CRITICALS.get((name, derivative), []) if z_lo <= c <= z_hi]
            if name == "softplus" and z_lo <= 20 <= z_hi:
                extremes.append(Fraction(20))  # the smooth piece's end
            hull = [_true(name, p, derivative) for p in extremes]
            if name == "softplus" and z_lo <= 20 < z_hi:  # the identity piece's infimum
                hull.append(arb(1) if derivative else arb(20))
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
        for name in ("relu", "sigmoid", "tanh", "identity", "softplus", "silu", "gelu"):
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


def _decided_inside(value_at, lo: Fraction | float, hi: Fraction | float, precisions=(200, 800, 3200, 12800)) -> bool:
    """Whether the exact value lies in [lo, hi], decided by Arb balls `value_at(bits)` at
    growing precision: a ball inside answers yes, one disjoint from [lo, hi] answers no,
    one that overlaps an endpoint asks for more bits (tanh(70) = 1 − 2e^-140, sigmoid(1e-300)
    = 1/2 + 2.5e-301). Undecided at the last precision counts as outside: never a tolerance."""
    def exact(x: Fraction | float) -> arb:  # a double (±inf included) or a rational, as an exact ball
        return arb(x) if isinstance(x, float) else arb(fmpq(x.numerator, x.denominator))

    for bits in precisions:
        with flint.ctx.workprec(bits):
            v = value_at(bits)
            a, b = exact(lo), exact(hi)
            if a <= v and v <= b:
                return True
            if v < a or v > b:
                return False
    return False


def _contains(act, p: Fraction, derivative: bool, e_lo: float, e_hi: float) -> bool:
    """Whether act(p) (or act'(p)) lies in [e_lo, e_hi]. silu(p) = p·s(p) and gelu(p) = p·Φ(p)
    are below p for p > 0 by the maths; p − gelu(p) ~ e^(−p²/2) is beyond any precision
    for large p, so there only the lower side is decided."""
    if not derivative and act.name in ("silu", "gelu") and p > 0 and Fraction(e_hi) >= p:
        e_hi = np.inf
    def value_at(bits: int) -> arb:
        z = arb(fmpq(p.numerator, p.denominator))
        return act.reference_derivative(z) if derivative else act.reference(z)

    return _decided_inside(value_at, e_lo, e_hi)


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
        if path.relative_to(root).as_posix() == "verify/checker.py":
            continue  # the independent certificate checker restates the functions it checks (issue 16)
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


# ---------------------------------------------------------------- elu, exp-based with a parameter


ALPHAS = ["1", "0.5", "2", "1/10", "3"]


def _elu_exact(alpha: Fraction, p: Fraction, derivative: bool, bits: int) -> arb:
    """elu(p) or elu'(p) as an Arb ball, written independently of the package."""
    with flint.ctx.workprec(bits):
        z = arb(fmpq(p.numerator, p.denominator))
        A = arb(fmpq(alpha.numerator, alpha.denominator))
        if p > 0:
            return arb(1) if derivative else z
        return A * z.exp() if derivative else A * z.expm1()


def _elu_in(alpha: Fraction, p: Fraction, derivative: bool, e_lo: float, e_hi: float) -> bool:
    return _decided_inside(lambda bits: _elu_exact(alpha, p, derivative, bits), e_lo, e_hi, (200, 800, 3200))


def _elu_between(alpha: Fraction, p: Fraction, lo: Fraction, hi: Fraction) -> bool:
    """lo <= elu(p) <= hi for exact rationals lo, hi."""
    return _decided_inside(lambda bits: _elu_exact(alpha, p, False, bits), lo, hi, (300, 1200, 4800))


def test_elu_configuration():
    default = get_activation("elu")
    assert default.config() == {"name": "elu", "alpha": "1"} and default.onnx_op == "Elu"
    assert default.transcendental and "elu" in TRANSCENDENTAL
    configured = get_activation({"name": "elu", "alpha": "0.5"})
    assert configured.alpha == Fraction(1, 2) and configured == Elu(Fraction(1, 2))
    assert get_activation(configured.config()) == configured
    assert get_activation({"name": "elu"}) is default
    for bad in ("0", "-1", 0, -0.5):
        with pytest.raises(SpecError, match="elu: alpha must be > 0"):
            Elu(bad)
    for bad in ("1e30", "1e-30"):
        with pytest.raises(SpecError, match="elu: alpha must lie in"):
            Elu(bad)
    with pytest.raises(SpecError, match="elu: alpha: .*not a number"):
        Elu("abc")
    with pytest.raises(SpecError, match="elu: unknown parameter 'negative_slope'"):
        get_activation({"name": "elu", "negative_slope": "0.1"})
    assert Elu("2").value_range("real") == (-2.0, np.inf)
    assert Elu("2").value_range("float32") == (-np.inf, np.inf)
    with pytest.raises(Exception, match="exact"):
        B = get_backend("exact")
        B.activation(Elu(), B.interval(np.array([-1], dtype=object), np.array([1], dtype=object)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_elu_points_and_torch(alpha, dtype):
    """numpy's α(exp(z) − 1) and PyTorch's expm1 kernel agree within a few ulps (absolute
    near 0, where exp(z) − 1 cancels); the derivative at 0 is α as in PyTorch; z = −1000
    saturates to −α with derivative 0; subnormal z."""
    torch = pytest.importorskip("torch")
    act = Elu(alpha)
    z = np.concatenate([_grid(dtype), [-1000.0, -1e-40, 1e-40, -1e-310, -5e-324]]).astype(dtype)
    x = torch.tensor(z, requires_grad=True)
    y = act.torch_module(dtype)(x)
    y.backward(torch.ones_like(y))
    with np.errstate(over="ignore", invalid="ignore"):
        value, derivative = act.point(z, dtype), act.point_derivative(z, dtype)
    assert value.dtype == dtype and derivative.dtype == dtype
    a_f = float(act.alpha_in(FORMATS[np.dtype(dtype).name]))
    eps = float(np.finfo(dtype).eps)
    np.testing.assert_allclose(value, y.detach().numpy(), rtol=8 * eps, atol=8 * eps * a_f)
    np.testing.assert_allclose(derivative, x.grad.numpy(), rtol=8 * eps, atol=0)
    zero = np.flatnonzero(z == 0)
    assert np.all(x.grad.numpy()[zero] == a_f) and np.all(derivative[zero] == a_f)  # elu'(0) = α
    sat = np.flatnonzero(z == -1000)
    assert np.all(value[sat] == -a_f) and np.all(derivative[sat] == 0)


elu_endpoint = st.one_of(
    st.floats(-12, 12, allow_subnormal=False),
    st.floats(-1100, 800, allow_subnormal=False),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, -5e-324, -1000.0, -999.0, 40.0, -40.0, -0.6931471805599453]),
)


@given(
    alpha=st.sampled_from(ALPHAS),
    a=elu_endpoint,
    b=elu_endpoint,
    ts=st.lists(st.fractions(0, 1, max_denominator=10**6), min_size=1, max_size=6),
)
def test_elu_extensions_contain_the_exact_value(alpha, a, b, ts):
    """arb, mpmath and fast: value and derivative at the endpoints, 0 and random points,
    zero tolerance, for α below, at and above 1 (the derivative jumps up or down at 0)."""
    act = Elu(alpha)
    lo, hi = min(a, b), max(a, b)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, *(L + t * (H - L) for t in ts)] + ([Fraction(0)] if L <= 0 <= H else [])
    for backend in ("arb", "mpmath", "fast"):
        B = get_backend(backend)
        z = B.interval_floats(np.array([lo]), np.array([hi]))
        (v_lo, v_hi), = B.bounds(B.activation(act, z))
        (d_lo, d_hi), = B.bounds(B.activation_derivative(act, z))
        for p in points:
            assert _elu_in(act.alpha, p, False, v_lo, v_hi), (backend, p, v_lo, v_hi)
            assert _elu_in(act.alpha, p, True, d_lo, d_hi), (backend, p, d_lo, d_hi)


@pytest.mark.parametrize("backend", ["arb", "mpmath", "fast"])
@pytest.mark.parametrize(
    "alpha, lo, hi, expected",
    [
        # the kink inside the box: [α e^lo, α] ∪ {1}
        ("2", -1, 1, (min(2 * np.exp(-1), 1.0), 2.0)),
        ("2", -2, 1, (2 * np.exp(-2), 2.0)),
        ("0.5", -1, 1, (0.5 * np.exp(-1), 1.0)),
        ("1", -1, 1, (np.exp(-1), 1.0)),
        # the kink at the edge of the box
        ("2", 0, 1, (1.0, 2.0)),
        ("0.5", 0, 1, (0.5, 1.0)),
        ("2", -1, 0, (2 * np.exp(-1), 2.0)),
        ("0.5", -1, 0, (0.5 * np.exp(-1), 0.5)),
        ("2", 1e-300, 1, (1.0, 1.0)),
        # saturation
        ("1", -1000, -999, (0.0, np.exp(-999))),
    ],
)
def test_elu_derivative_ranges(backend, alpha, lo, hi, expected):
    """The derivative's range over boxes with the kink inside, at the edge and far away:
    tight (within a few ulps of the hull) as well as sound."""
    act = Elu(alpha)
    B = get_backend(backend)
    z = B.interval_floats(np.array([float(lo)]), np.array([float(hi)]))
    (d_lo, d_hi), = B.bounds(B.activation_derivative(act, z))
    for p in (Fraction(lo), Fraction(0), Fraction(hi)):
        if lo <= p <= hi:
            assert _elu_in(act.alpha, p, True, d_lo, d_hi), p
    (z_lo, z_hi), = B.bounds(z)
    if (z_lo > 0) != (lo > 0) or (z_hi > 0) != (hi > 0):
        return  # an Arb ball slightly wider than [lo, hi] crosses 0: its range is wider
    tol = 2.0**-26 if backend == "arb" else 1e-12  # Arb keeps radii to 30 bits
    assert abs(d_lo - expected[0]) <= tol * expected[0] + 1e-300
    assert abs(d_hi - expected[1]) <= tol * expected[1] + 1e-300


@pytest.mark.parametrize("backend", ["arb", "mpmath", "fast"])
def test_elu_value_near_zero_and_saturated(backend):
    """Subnormal z: elu(z) ≈ z without cancellation in the rigorous backends; z = −1000:
    −α."""
    act = Elu("2")
    B = get_backend(backend)
    z = B.interval_floats(np.array([-5e-324, -1000.0]), np.array([5e-324, -1000.0]))
    (s_lo, s_hi), (w_lo, w_hi) = B.bounds(B.activation(act, z))
    assert s_lo <= -1e-323 and s_hi >= 5e-324 and s_lo >= -1e-300 and s_hi <= 1e-300
    assert w_lo <= -2.0 <= w_hi and w_hi - w_lo <= 1e-12


@given(
    alpha=st.sampled_from(ALPHAS),
    a=st.floats(-30, 30, allow_subnormal=False) | st.sampled_from([0.0, -1000.0, -0.6931471805599453, 1e-300]),
    b=st.floats(-30, 30, allow_subnormal=False) | st.sampled_from([0.0, -1e-300]),
    ts=st.lists(st.fractions(0, 1, max_denominator=1000), min_size=3, max_size=12),
)
def test_elu_relaxation_bounds_it(alpha, a, b, ts):
    """a z + cL <= elu(z) <= a z + cU at the endpoints, 0, the tangency point ln(a/α)
    and random points, decided with Arb (zero tolerance); also for α > 1, where elu is
    not convex at 0."""
    act = Elu(alpha)
    lo, hi = min(a, b), max(a, b)
    slope, cL, cU = act.relaxation(lo, hi)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, Fraction(0), *(L + t * (H - L) for t in ts)]
    if slope > 0:
        star = float(np.log(slope / float(act.alpha)))
        points += [Fraction(star), Fraction(np.nextafter(star, -np.inf)), Fraction(np.nextafter(star, np.inf))]
    for p in points:
        if not L <= p <= H:
            continue
        if p > 0:  # elu(p) = p: exact rationals
            assert Fraction(slope) * p + Fraction(cL) <= p <= Fraction(slope) * p + Fraction(cU), p
            continue
        # elu(p) − slope·p − c is transcendental (nonzero) for p < 0, exactly 0 − c at 0
        lower = (Fraction(slope) * p + Fraction(cL), Fraction(slope) * p + Fraction(cU))
        assert _elu_between(act.alpha, p, *lower), (p, slope, cL, cU)
    # tight enough to be useful: the offsets are not looser than the function's spread
    assert cU - cL <= 2 * (hi - lo) * max(1.0, float(act.alpha)) + 1e-9


@pytest.mark.parametrize("fmt", ["float32", "float64"])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_elu_float_model_contains_float_runs(alpha, fmt):
    """FloatSemantics' elu and elu' contain numpy's α(exp(z) − 1) and α·exp(z) and
    PyTorch's ELU kernel (expm1 forward, its own exp backward), near 0 (cancellation),
    saturated and subnormal; float_error bounds |run − elu(z)| with the exact α."""
    act = Elu(alpha)
    dtype = FORMATS[fmt].dtype
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.normal(0, 10, 300), -np.exp2(rng.uniform(-160, 10, 300)),
                        [0.0, -1e-45, -1000.0, -1e-310, 1e-30]]).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        runs = [(act.point(z, dtype), act.point_derivative(z, dtype))]
    torch = None
    try:
        import torch
    except ImportError:
        pass
    if torch is not None:
        x = torch.tensor(z, requires_grad=True)
        y = act.torch_module(dtype)(x)
        y.backward(torch.ones_like(y))
        runs.append((y.detach().numpy(), x.grad.numpy()))
    for backend in ("arb", "fast"):
        F = FloatSemantics(get_backend(backend), FORMATS[fmt])
        zf = F.interval_floats(z.astype(np.float64), z.astype(np.float64))
        value = F.bounds(F.activation(act, zf))
        deriv = F.bounds(F.activation_derivative(act, zf))
        for run, run_d in runs:
            assert np.all((value[:, 0] <= run) & (run <= value[:, 1])), backend
            assert np.all((deriv[:, 0] <= run_d) & (run_d <= deriv[:, 1])), backend
    B = get_backend("fast")
    mag = np.abs(z.astype(np.float64))
    e2 = act.float_error(B, fmt, mag, mag)
    for run, _ in runs:
        for zi, ri, ei in zip(z, run, e2):
            p = Fraction(float(zi))
            with flint.ctx.workprec(300):
                exact = _elu_exact(act.alpha, p, False, 300)
                assert abs(arb(float(ri)) - exact) <= arb(float(ei)), (zi, ri, ei)


# ---------------------------------------------------------------- elu end to end


def _elu_end_to_end(spec, box, method, xs, seed, real_reference=True):
    """The real enclosure contains the independent 256-bit reference (tests/reference.py)
    at the points xs; the float32/float64 enclosures contain numpy, explicit-loop and
    (when installed) PyTorch runs (the Float-run check)."""
    from verifae import enclose
    from verifae.check import check

    from .reference import outside, reference

    real = enclose(spec, box, semantics="real", backend="arb", method=method)
    for x in xs if real_reference else []:
        misses = outside(real, reference(spec, x, None))
        assert not misses, (method, x, misses[:3])
    result = check(spec, box, runs=12, seed=seed, method=method, enclosures={"real": real},
                   reference=False, torch_worker=False)
    assert result.ok, (method, result.formats)


_ELU_SPECS = {
    # the kink at 0 inside the box: z = x crosses 0
    "kink": (AutoencoderSpec([[1]], [0], [[2]], [0], "elu"), Box([-1], [1])),
    # the kink at the edge of the box
    "edge": (AutoencoderSpec([[1], [-1]], [0, 0], [[1, "0.5"]], ["0.1"], "elu"), Box([0], ["0.5"])),
    # saturation: z = x − 100 (a 256-bit ball still resolves elu(z) > −1 there) ...
    "saturated": (AutoencoderSpec([[1, "0.3"]], [-100], [["0.7"], [-1]], [0, 1], "elu"), Box.around([0, 1], "0.1")),
    # ... and z = x − 1000, float runs only (elu(z) + 1 = e^-1000 is below a 256-bit
    # ball's radius around −1, while the real enclosure's lower end is exactly −1)
    "saturated-1000": (AutoencoderSpec([[1, "0.3"]], [-1000], [["0.7"], [-1]], [0, 1], "elu"),
                       Box.around([0, 1], "0.1")),
    # subnormal pre-activations
    "subnormal": (AutoencoderSpec([["1e-300"]], [0], [[1]], [0], "elu"), Box(["-1e-10"], ["1e-10"])),
}


@pytest.mark.parametrize("method", ["interval", "linear", "mean-value", "bisect", "auto"])
@pytest.mark.parametrize("case", sorted(_ELU_SPECS))
def test_elu_end_to_end_cases(case, method):
    spec, box = _ELU_SPECS[case]
    xs = [list(box.lower), list(box.upper), list(box.center)]
    _elu_end_to_end(spec, box, method, xs, seed=3, real_reference=case != "saturated-1000")


@settings(max_examples=12)
@given(data=st.data(), method=st.sampled_from(["interval", "linear", "mean-value", "bisect", "auto"]))
def test_elu_end_to_end_random(data, method):
    from .strategies import boxes, points_in, specs

    spec = data.draw(specs(activations=("elu",), max_d=4, max_h=3), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    xs = data.draw(points_in(box, count=3), label="points")
    _elu_end_to_end(spec, box, method, xs, seed=data.draw(st.integers(0, 1000), label="seed"))


# ---------------------------------------------------------------- softplus, silu and gelu


def _smooth_exact(name: str, params: dict, p: Fraction, derivative: bool, bits: int) -> arb:
    """softplus (with its parameters), silu or gelu at p, written independently of the package
    (softplus: PyTorch's switch, z itself where β·z > T)."""
    with flint.ctx.workprec(bits):
        z = arb(fmpq(p.numerator, p.denominator))
        if name == "softplus":
            b, t = Fraction(params.get("beta", 1)), Fraction(params.get("threshold", 20))
            if b * p > t:
                return arb(1) if derivative else z
            B = arb(fmpq(b.numerator, b.denominator))
            e = (B * z).exp()
            return e / (1 + e) if derivative else e.log1p() / B
        return _true(name, p, derivative)


SMOOTH_CONFIGS = [
    ("softplus", {}), ("softplus", {"beta": "3", "threshold": "10"}), ("softplus", {"beta": "1/2", "threshold": "-2"}),
    ("softplus", {"beta": "0.1", "threshold": "15"}), ("silu", {}), ("gelu", {}),
]


def _entry(name, params):
    return get_activation({"name": name, **params})


def test_softplus_configuration():
    from verifae.activations.softplus import Softplus

    default = get_activation("softplus")
    assert default.config() == {"name": "softplus", "beta": "1", "threshold": "20"} and default.onnx_op == "Softplus"
    configured = get_activation({"name": "softplus", "beta": "0.5", "threshold": "10"})
    assert configured.beta == Fraction(1, 2) and configured.threshold == 10 and configured == Softplus("1/2", 10)
    assert get_activation(configured.config()) == configured
    for bad in ("0", "-1", 0):
        with pytest.raises(SpecError, match="softplus: beta must be > 0"):
            Softplus(bad)
    with pytest.raises(SpecError, match="softplus: beta must lie in"):
        Softplus("1e30")
    with pytest.raises(SpecError, match="softplus: threshold must lie in \\[-64, 64\\]"):
        Softplus(1, 100)
    with pytest.raises(SpecError, match="softplus: threshold: .*not a number"):
        Softplus(1, "abc")
    with pytest.raises(SpecError, match="softplus: unknown parameter 'alpha'"):
        get_activation({"name": "softplus", "alpha": "1"})
    with pytest.raises(SpecError, match="'silu' takes no parameters"):
        get_activation({"name": "silu", "beta": "1"})
    assert {REGISTRY[n].onnx_op for n in ("silu", "gelu")} == {"Swish", "Gelu"}
    assert TRANSCENDENTAL >= {"softplus", "silu", "gelu"}
    assert Softplus(1, -2).value_range("real")[0] == -2.0 and default.value_range("real") == (0.0, np.inf)
    assert REGISTRY["silu"].value_range("real")[0] == pytest.approx(-0.2784645427610738, abs=1e-15)
    assert REGISTRY["gelu"].value_range("real")[0] == pytest.approx(-0.16997120747990369, abs=1e-15)


@pytest.mark.parametrize("name", ["softplus", "silu", "gelu"])
def test_the_exact_backend_refuses_them(name):
    from verifae.errors import UnsupportedError

    B = get_backend("exact")
    with pytest.raises(UnsupportedError, match="exact"):
        B.check_supports(name)
    z = B.interval(np.array([-1], dtype=object), np.array([1], dtype=object))
    with pytest.raises(UnsupportedError, match="exact"):
        B.activation(name, z)


smooth_endpoint = st.one_of(
    st.floats(-12, 12, allow_subnormal=False),
    st.floats(-800, 800, allow_subnormal=False),
    st.floats(-1e30, 1e30, allow_subnormal=False),
    st.floats(19.99, 20.01) | st.floats(3.33, 3.34) | st.floats(-4.01, -3.99),  # softplus switches
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-310, 20.0, 10 / 3, -4.0, 150.0, 200.0, -1.2784645427610738,
                     -0.7517915246935645, 2.399357280515468, -2.399357280515468, 1.4142135623730951,
                     -1.4142135623730951, np.nextafter(20.0, 0), np.nextafter(20.0, 21)]),
)


@settings(max_examples=60)
@given(
    config=st.sampled_from(SMOOTH_CONFIGS),
    a=smooth_endpoint,
    b=smooth_endpoint,
    ts=st.lists(st.fractions(0, 1, max_denominator=10**6), min_size=1, max_size=4),
)
def test_smooth_extensions_contain_the_exact_value(config, a, b, ts):
    """arb, mpmath and fast: value and derivative at the endpoints, the interior extrema,
    the threshold switch (just below, at, just above) and random points; zero tolerance."""
    name, params = config
    act = _entry(name, params)
    lo, hi = min(a, b), max(a, b)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, *(L + t * (H - L) for t in ts)]
    points += [c for key in ((name, False), (name, True)) for c in CRITICALS.get(key, [])]
    if name == "softplus":
        star = act.switch_lo
        points += [star, star + Fraction(1, 10**12), star - Fraction(1, 10**12)]
    points = [p for p in points if L <= p <= H]
    for backend in ("arb", "mpmath", "fast"):
        B = get_backend(backend)
        z = B.interval_floats(np.array([lo]), np.array([hi]))
        (v_lo, v_hi), = B.bounds(B.activation(act, z))
        (d_lo, d_hi), = B.bounds(B.activation_derivative(act, z))
        for p in points:
            for derivative, (e_lo, e_hi) in ((False, (v_lo, v_hi)), (True, (d_lo, d_hi))):
                if not derivative and name != "softplus" and p > 0 and Fraction(e_hi) >= p:
                    # act(p) = p·cdf(p) < p: the upper side is the maths; e^(−p²/2) below
                    # p is beyond any precision for large p, so only the lower side is decided
                    e_hi = np.inf
                if name == "gelu" and p < -1000:
                    inside = _gelu_far_tail_inside(p, derivative, e_lo, e_hi)
                else:
                    inside = _decided_inside(lambda bits, p=p, d=derivative: _smooth_exact(name, params, p, d, bits),
                                             e_lo, e_hi, (200, 800, 3200))
                assert inside, (backend, derivative, p, e_lo, e_hi)


def _gelu_far_tail_inside(p: Fraction, derivative: bool, e_lo: float, e_hi: float) -> bool:
    """For p < −1000 Arb's erfc(−p/√2) is a ball around 0 at any precision, so decide with
    Mills' ratio instead (0 < Φ(p) < φ(p)/|p| for p < 0): −φ(p) < gelu(p) < 0 and
    pφ(p) < gelu'(p) < 0 (as φ(p)/|p| < |p|φ(p)); φ(p) = e^(−p²/2)/√(2π) > 0 is decided."""
    with flint.ctx.workprec(200):
        z = arb(fmpq(p.numerator, p.denominator))
        phi = (-(z * z) / 2).exp() / (2 * arb.pi()).sqrt()
        lowest = z * phi if derivative else -phi
        return bool(e_hi >= 0 and arb(e_lo) <= lowest)


@pytest.mark.parametrize("backend", ["arb", "mpmath", "fast"])
@pytest.mark.parametrize(
    "name, lo, hi, expected",
    [
        # interior extrema: the range is [f(m), max(f(lo), f(hi))], never endpoints alone
        ("silu", -3.0, 0.0, (-0.2784645427610738, 0.0)),
        ("silu", -2.0, -1.0, (-0.2784645427610738, -0.2384058440442351)),
        ("gelu", -2.0, -0.5, (-0.16997120747990369, -0.04550026389635842)),
    ],
)
def test_interior_minimum_is_found(backend, name, lo, hi, expected):
    B = get_backend(backend)
    z = B.interval_floats(np.array([lo]), np.array([hi]))
    (v_lo, v_hi), = B.bounds(B.activation(name, z))
    tol = 2.0**-26 if backend == "arb" else 1e-14
    assert abs(v_lo - expected[0]) <= tol and abs(v_hi - expected[1]) <= tol + 1e-300


@pytest.mark.parametrize("backend", ["arb", "mpmath", "fast"])
@pytest.mark.parametrize("name, lo, hi, expected", [
    ("silu", -5.0, 5.0, (-0.09983932012886692, 1.099839320128867)),
    ("gelu", -3.0, 3.0, (-0.12890414518515478, 1.1289041451851548)),
])
def test_derivative_extrema_are_found(backend, name, lo, hi, expected):
    B = get_backend(backend)
    z = B.interval_floats(np.array([lo]), np.array([hi]))
    (d_lo, d_hi), = B.bounds(B.activation_derivative(name, z))
    tol = 2.0**-26 if backend == "arb" else 1e-14
    assert abs(d_lo - expected[0]) <= tol and abs(d_hi - expected[1]) <= tol


@pytest.mark.parametrize("config", SMOOTH_CONFIGS, ids=lambda c: f"{c[0]}{c[1]}")
def test_smooth_points_are_torchs(config):
    """value and derivative against PyTorch's module and autograd, float32 and float64: within
    a few ulps (the library functions differ), absolute near the zeros of gelu's 1 + erf."""
    torch = pytest.importorskip("torch")
    name, params = config
    act = _entry(name, params)
    for dtype in (np.float32, np.float64):
        z = np.concatenate([_grid(dtype), np.linspace(19.9, 20.1, 41), [1e-40, -1e-40]]).astype(dtype)
        x = torch.tensor(z, requires_grad=True)
        y = act.torch_module(dtype)(x)
        y.backward(torch.ones_like(y))
        with np.errstate(over="ignore", under="ignore"):
            value, derivative = act.point(z, dtype), act.point_derivative(z, dtype)
        assert value.dtype == dtype and derivative.dtype == dtype
        eps = float(np.finfo(dtype).eps)
        atol = 8 * eps * (1 + np.abs(z.astype(np.float64)))
        assert np.all(np.abs(value - y.detach().numpy()) <= 8 * eps * np.abs(value) + atol)
        assert np.all(np.abs(derivative - x.grad.numpy()) <= 8 * eps * np.abs(derivative) + 8 * eps)


def _float_points(dtype, switch: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    z = np.concatenate([rng.normal(0, 10, 250), rng.normal(0, 2, 100), switch + rng.normal(0, 1e-5, 40),
                        -np.exp2(rng.uniform(-140, 12, 60)), np.exp2(rng.uniform(-140, 12, 60)),
                        [0.0, -1e-45, 1e-45, -1000.0, 1000.0, -1e30, 1e30, -1.2784645, -0.7517915, 2.3993573]])
    z = z.astype(dtype)
    return z[np.isfinite(z)]


@pytest.mark.parametrize("fmt", ["float32", "float64"])
@pytest.mark.parametrize("config", SMOOTH_CONFIGS, ids=lambda c: f"{c[0]}{c[1]}")
def test_smooth_float_model_contains_float_runs(config, fmt):
    """FloatSemantics' value and derivative contain numpy's runs (`point`, the kernel formulas)
    and PyTorch's module with autograd, near the switch, the extrema, saturated and
    subnormal; float_error bounds |run − act(z)| with the exact parameters."""
    name, params = config
    act = _entry(name, params)
    dtype = FORMATS[fmt].dtype
    switch = float(act.switch_lo) if name == "softplus" else 0.0
    z = _float_points(dtype, switch)
    with np.errstate(all="ignore"):
        runs = [(act.point(z, dtype), act.point_derivative(z, dtype))]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        x = torch.tensor(z, requires_grad=True)
        y = act.torch_module(dtype)(x)
        y.backward(torch.ones_like(y))
        runs.append((y.detach().numpy(), x.grad.numpy()))
    for backend in ("arb", "fast"):
        F = FloatSemantics(get_backend(backend), FORMATS[fmt])
        zf = F.interval_floats(z.astype(np.float64), z.astype(np.float64))
        value = F.bounds(F.activation(act, zf))
        deriv = F.bounds(F.activation_derivative(act, zf))
        for k, (run, run_d) in enumerate(runs):
            bad = ~((value[:, 0] <= run) & (run <= value[:, 1]))
            assert not bad.any(), (backend, k, z[bad][:3], run[bad][:3], value[bad][:3])
            bad = ~((deriv[:, 0] <= run_d) & (run_d <= deriv[:, 1]))
            assert not bad.any(), (backend, k, z[bad][:3], run_d[bad][:3], deriv[bad][:3])
    B = get_backend("fast")
    mag = np.abs(z.astype(np.float64))
    for run, _ in runs:
        e2 = act.float_error(B, fmt, mag, np.abs(run.astype(np.float64)))
        for zi, ri, ei in zip(z, run, e2):
            exact = _smooth_exact(name, params, Fraction(float(zi)), False, 300)
            with flint.ctx.workprec(300):
                assert abs(arb(float(ri)) - exact) <= arb(float(ei)), (zi, ri, ei)


@settings(max_examples=40)
@given(
    config=st.sampled_from(SMOOTH_CONFIGS),
    a=st.floats(-30, 30, allow_subnormal=False) | st.sampled_from([0.0, -1.2784645427610738, 20.0, 10 / 3, -4.0]),
    b=st.floats(-30, 30, allow_subnormal=False) | st.sampled_from([-0.7517915246935645, 2.4, 19.999999, 20.5]),
    ts=st.lists(st.fractions(0, 1, max_denominator=1000), min_size=3, max_size=10),
)
def test_smooth_relaxation_bounds_it(config, a, b, ts):
    """a z + cL <= act(z) <= a z + cU at the endpoints, the extrema of act and act', the
    switch and random points, decided with Arb (zero tolerance): silu and gelu are neither
    convex nor concave, softplus jumps at its switch."""
    name, params = config
    act = _entry(name, params)
    lo, hi = min(a, b), max(a, b)
    slope, cL, cU = act.relaxation(lo, hi)
    L, H = Fraction(lo), Fraction(hi)
    points = [L, H, *(L + t * (H - L) for t in ts)]
    points += [c for key in ((name, False), (name, True)) for c in CRITICALS.get(key, [])]
    if name == "softplus":
        points += [act.switch_lo, act.switch_lo + Fraction(1, 10**9)]
    for p in points:
        if not L <= p <= H:
            continue
        bounds = (Fraction(slope) * p + Fraction(cL), Fraction(slope) * p + Fraction(cU))
        if name == "softplus" and act.beta * p > act.threshold:  # the identity piece: exact rationals
            assert bounds[0] <= p <= bounds[1], (p, slope, cL, cU)
            continue
        inside = _decided_inside(lambda bits, p=p: _smooth_exact(name, params, p, False, bits), *bounds, (300, 1200))
        assert inside, (p, slope, cL, cU)
    assert cU - cL <= 2 * (hi - lo) + 1e-6  # not looser than the function's spread


@pytest.mark.parametrize("activations", [("softplus", "silu", "gelu"), ("gelu", "silu", "softplus")])
def test_layered_end_to_end(activations):
    """enclose_layered on a small model with the new activations contains the independent
    reference (tests/reference.py) at points of the box, also across softplus's switch."""
    from verifae import LayeredSpec, enclose_layered

    from .reference import layered_reference, outside

    a1, a2, a3 = activations
    spec = LayeredSpec(
        encoder=[([[1, "0.5"], ["-2", 1], ["0.25", "3"]], ["0.1", 0, "19.9"], a1), ([[1, -1, "0.5"]], [0], a2)],
        decoder=[([[2], ["-1"]], ["0.3", 0], a3)],
    )
    box = Box(["-1", "-0.5"], ["1.5", "0.5"])
    for backend in ("arb", "fast"):
        e = enclose_layered(spec, box, backend=backend)
        for x in ([Fraction(-1), Fraction(-1, 2)], [Fraction(3, 2), Fraction(1, 2)], [Fraction(1, 10), 0]):
            misses = outside(e, layered_reference(spec, x, None))
            assert not misses, (backend, x, misses[:3])


_SMOOTH_SPECS = {
    # softplus's switch at z = 20 inside the box; silu's and gelu's minima (z ≈ −1.28, −0.75)
    # and their derivatives' extrema (±2.40, ±1.41) inside the box
    "softplus-switch": (AutoencoderSpec([[1]], [20], [[2]], [0], "softplus"), Box(["-0.5"], ["0.5"])),
    "silu-extrema": (AutoencoderSpec([[3], ["-1"]], [0, "-1"], [[1, "0.5"]], ["0.1"], "silu"), Box([-1], ["0.5"])),
    "gelu-extrema": (AutoencoderSpec([[2], [1]], ["-0.5", 0], [[1, "-0.5"]], [0], "gelu"), Box([-1], [1])),
}


@pytest.mark.parametrize("case, method", [(case, method) for case in sorted(_SMOOTH_SPECS)
                                          for method in ("interval", "linear", "mean-value", "auto")]
                         + [("softplus-switch", "bisect")])  # bisect: 10-15 s for silu and gelu
def test_smooth_end_to_end_cases(case, method):
    """The v1 model with each new activation, every method that uses the relaxation or the
    float error model: the real enclosure contains the 256-bit reference, the float32 and
    float64 enclosures contain numpy, explicit-loop and PyTorch runs (the Float-run check)."""
    spec, box = _SMOOTH_SPECS[case]
    xs = [list(box.lower), list(box.upper), list(box.center)]
    _elu_end_to_end(spec, box, method, xs, seed=5)


# A float32 gelu run may overflow where |z| >= realmax/2 (found by the adversarial review,
# session 20): PyTorch's vectorised CPU kernel (2.13, approximate="none") forms about 2z
# (z·(1 + erf(z/√2)) before the ×0.5) and returns inf for every z above 2^127 in a tensor of
# two or more entries (1.7014118e38 gives 1.70141173e38, the next float32 gives inf); a
# tensor of one takes the scalar path and gives ≈ z. The enclosure was finite there.

_GELU_WIDTH = 8  # long enough for the vectorised loop
_GELU_BIG = 2e38  # in (realmax/2, realmax) of float32


def _torch_gelu_float32(z: float) -> np.ndarray:
    torch = pytest.importorskip("torch")
    return torch.nn.GELU()(torch.full((1, _GELU_WIDTH), z, dtype=torch.float32)).double().numpy()[0]


def _holds(bounds: np.ndarray, values: np.ndarray) -> np.ndarray:
    lo, hi = bounds[..., 0], bounds[..., 1]
    return ((lo == -np.inf) & (hi == np.inf)) | (np.isfinite(values) & (lo <= values) & (values <= hi))


def _gelu_identity_spec() -> LayeredSpec:
    identity = np.eye(_GELU_WIDTH).tolist()
    return LayeredSpec([(identity, [0] * _GELU_WIDTH, None)], [(identity, [0] * _GELU_WIDTH, "gelu")])


@pytest.mark.parametrize("method", ["interval", "linear", "mean-value", "auto"])
def test_gelu_float32_output_holds_a_vectorised_pytorch_run_that_overflows(method):
    run = _torch_gelu_float32(_GELU_BIG)
    box = Box([_GELU_BIG] * _GELU_WIDTH, [_GELU_BIG] * _GELU_WIDTH)
    e = dict(enclose(_gelu_identity_spec(), box, backend="fast", semantics="float32", method=method).items())
    assert _holds(np.asarray(e["output"]), run).all()


@pytest.mark.parametrize("weight_gradients", ["per-box", "sum"])
def test_gelu_float32_batch_output_holds_a_vectorised_pytorch_run_that_overflows(weight_gradients):
    run = _torch_gelu_float32(_GELU_BIG)
    X = np.full((2, _GELU_WIDTH), _GELU_BIG)
    e = dict(enclose_many(_gelu_identity_spec(), (X, X), backend="fast", semantics="float32",
                          weight_gradients=weight_gradients).items())
    assert _holds(np.asarray(e["output"])[0], run).all()


def test_gelu_float32_hidden_of_a_v1_spec_holds_a_vectorised_pytorch_run_that_overflows():
    run = _torch_gelu_float32(_GELU_BIG)
    spec = AutoencoderSpec(W_enc=[[1.0]] * _GELU_WIDTH, b_enc=[0.0] * _GELU_WIDTH, W_dec=[[0.0] * _GELU_WIDTH],
                           b_dec=[0.0], activation="gelu")
    e = enclose(spec, Box([_GELU_BIG], [_GELU_BIG]), backend="fast", semantics="float32", method="interval")
    assert _holds(np.asarray(e.hidden), run).all()


def test_gelu_float_value_marks_only_inputs_from_half_realmax():
    """Below realmax/2 the enclosure stays finite (the model's bound), from it unbounded."""
    spec = _gelu_identity_spec()
    for semantics, big in (("float32", 1.7e38), ("float64", 8.9e307)):
        e = dict(enclose(spec, Box([big] * _GELU_WIDTH, [big] * _GELU_WIDTH), backend="fast",
                         semantics=semantics, method="interval").items())
        assert np.isfinite(np.asarray(e["output"])).all(), semantics
        e = dict(enclose(spec, Box([big * 1.01] * _GELU_WIDTH, [big * 1.01] * _GELU_WIDTH), backend="fast",
                         semantics=semantics, method="interval").items())
        assert np.isinf(np.asarray(e["output"])).all(), semantics


_ELU_FAR_BELOW = r"""
from fractions import Fraction
from verifae.activations import get_activation
from verifae.backends import get_backend
B = get_backend("mpmath")
for alpha in ("1", "2.5"):
    act = get_activation({"name": "elu", "alpha": alpha})
    d = act.interval_derivative(B, B.hull(Fraction(-10**77), Fraction(1)))
    lo, hi = B.scalar_bounds(d)
    assert lo <= 0 < 1 <= hi and hi >= float(alpha), (alpha, lo, hi)
print("ok")
"""


def test_elu_derivative_far_below_zero_converts_no_tiny_end():
    """elu' over [−1e77, 1] on mpmath: deciding min(α e^lo, 1) converted α e^(−1e77) to an
    exact Fraction, which ran out of memory (found by the adversarial review, session 20).
    In a process with 2 GB of address space, so that a regression fails cleanly."""
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    done = subprocess.run([sys.executable, "-c", _ELU_FAR_BELOW], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-800:]
