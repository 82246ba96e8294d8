"""enclose_many's weight-gradient modes (verifae.batch): sum, mean, hull, factor-hull, none, per-box
streamed, against exact rationals (tests/reference.py) and float runs in numpy and PyTorch."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import REFERENCE_BITS, layered_reference, outside, reference
from verifae import AutoencoderSpec, Box, BoxError, Layer, LayeredSpec, UnsupportedError, enclose_many
from verifae.api import iter_enclose_many
from verifae.backends import get_backend
from verifae.numbers import FLOAT32
from verifae.rounding import FloatSemantics

V1_WEIGHTS = ("W_enc", "W_dec")


class _Found:
    """An enclosure view for `outside`: only the named arrays."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def items(self):
        return self.arrays.items()


def _total(values: list[list]) -> list:
    """Entrywise sums of the boxes' reference values (exact fmpq, or arb balls)."""
    with flint.ctx.workprec(REFERENCE_BITS):
        return [sum(column[1:], column[0]) for column in zip(*values)]


def _points(lower: np.ndarray, upper: np.ndarray, corner: list[int]) -> list[list[Fraction]]:
    """One exact point per box: its lower end, upper end or midpoint."""
    out = []
    for lo, hi, c in zip(lower, upper, corner):
        pick = (lo, hi, None)[c % 3]
        out.append([Fraction(float(v)) if pick is not None else (Fraction(float(a)) + Fraction(float(b))) / 2
                    for v, a, b in zip(pick if pick is not None else lo, lo, hi)])
    return out


dyadic = st.integers(-12, 12).map(lambda k: Fraction(k, 8))
decimal = st.integers(-9, 9).map(lambda k: Fraction(k, 10))  # not doubles: rounded outward
entry = st.one_of(dyadic, decimal)


@st.composite
def v1_problems(draw):
    d, h, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    act = draw(st.sampled_from(["relu", "identity", "leaky_relu", "tanh", "sigmoid"]))
    mat = lambda r, c: [[draw(entry) for _ in range(c)] for _ in range(r)]  # noqa: E731
    spec = AutoencoderSpec(mat(h, d), [draw(entry) for _ in range(h)], mat(d, h), [draw(entry) for _ in range(d)], act)
    lower = np.array([[float(draw(dyadic)) for _ in range(d)] for _ in range(n)])
    upper = lower + np.array([[draw(st.sampled_from([0.0, 0.125, 0.5])) for _ in range(d)] for _ in range(n)])
    corner = [draw(st.integers(0, 2)) for _ in range(n)]
    return spec, lower, upper, corner


@settings(max_examples=100, deadline=None)
@given(v1_problems(), st.sampled_from(["fast", "arb"]))
def test_sum_mean_hull_contain_the_exact_gradients(problem, backend):
    """Zero tolerance, real semantics: the summed (mean) weight gradient contains Σ_b (1/B Σ_b)
    of the exact per-box gradients at one point of each box; the hull and the factors' hull
    contain each."""
    spec, lower, upper, corner = problem
    refs = [reference(spec, x, None) for x in _points(lower, upper, corner)]
    n = len(lower)
    for mode in ("sum", "mean", "hull", "factor-hull"):
        found = enclose_many(spec, (lower, upper), backend=backend, quantities=("gradients",), weight_gradients=mode)
        assert found.weight_gradients == mode and len(found) == n
        weights = {f"gradients.{w}": found.gradients[w] for w in V1_WEIGHTS}
        assert weights["gradients.W_enc"].shape == (spec.hidden_dim, spec.input_dim, 2)
        if mode in ("hull", "factor-hull"):
            for ref in refs:
                assert outside(_Found(weights), ref) == []
        else:
            with flint.ctx.workprec(REFERENCE_BITS):
                total = {k: [v / (n if mode == "mean" else 1) for v in _total([r[k] for r in refs])] for k in weights}
            assert outside(_Found(weights), total) == []
        # bias gradients and dX stay per box, and contain each box's reference
        for b, ref in enumerate(refs):
            per_box = {f"gradients.{k}": found.gradients[k][b] for k in ("b_enc", "b_dec", "input")}
            assert outside(_Found(per_box), ref) == []


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_layered_sum_and_hull_contain_the_exact_gradients(d, width, n, seed):
    rng = np.random.default_rng(seed)
    q = lambda *shape: np.vectorize(lambda k: Fraction(int(k), 8), otypes=[object])(rng.integers(-9, 10, shape))  # noqa: E731
    spec = LayeredSpec([Layer(q(width, d), q(width), "relu"), Layer(q(2, width), q(2), "leaky_relu")],
                       [Layer(q(d, 2), q(d), None)])
    lower = rng.integers(-8, 8, (n, d)) / 8
    upper = lower + rng.integers(0, 3, (n, d)) / 8
    refs = [layered_reference(spec, x, None) for x in _points(lower, upper, list(rng.integers(0, 3, n)))]
    keys = [f"gradients.{layer.name}.weight" for layer in spec.layers]
    summed = enclose_many(spec, (lower, upper), quantities=("gradients",), weight_gradients="sum", backend="fast")
    total = {k: _total([r[k] for r in refs]) for k in keys}
    assert outside(_Found({k: summed.gradients[k.removeprefix("gradients.")] for k in keys}), total) == []
    hull = enclose_many(spec, (lower, upper), quantities=("gradients",), weight_gradients="hull", backend="fast",
                        chunk=1)
    factors = enclose_many(spec, (lower, upper), quantities=("gradients",), weight_gradients="factor-hull",
                           backend="fast")
    for ref in refs:
        assert outside(_Found({k: hull.gradients[k.removeprefix("gradients.")] for k in keys}), ref) == []
        assert outside(_Found({k: factors.gradients[k.removeprefix("gradients.")] for k in keys}), ref) == []
    per_box = enclose_many(spec, (lower, upper), quantities=("gradients",), backend="fast", chunk=1)
    for k in keys:  # the hull is the per-box enclosures' min / max, exactly; the factors' hull holds it
        name = k.removeprefix("gradients.")  # up to their rounding (a few ulps, either way)
        assert np.array_equal(hull.gradients[name][..., 0], per_box.gradients[name][..., 0].min(axis=0))
        assert np.array_equal(hull.gradients[name][..., 1], per_box.gradients[name][..., 1].max(axis=0))
        slack = 1e-12 * np.abs(hull.gradients[name]).max(axis=-1) + 1e-300
        assert np.all(factors.gradients[name][..., 0] <= hull.gradients[name][..., 0] + slack)
        assert np.all(hull.gradients[name][..., 1] - slack <= factors.gradients[name][..., 1])


def _float32_problem(seed: int = 7, d: int = 6, h: int = 4, n: int = 9, width: float = 0.01):
    """A tanh model whose parameters are float32 values, and float32 points inside boxes
    (the points themselves for width 0)."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    W_enc, b_enc, W_dec, b_dec = f32(h, d), f32(h), f32(d, h), f32(d)
    spec = AutoencoderSpec(W_enc.astype(np.float64), b_enc.astype(np.float64), W_dec.astype(np.float64),
                           b_dec.astype(np.float64), "tanh")
    X = rng.random((n, d)).astype(np.float32)
    return spec, (W_enc, b_enc, W_dec, b_dec), X, (X.astype(np.float64) - width, X.astype(np.float64) + width)


def _inside(bounds: np.ndarray, values: np.ndarray) -> bool:
    return bool(np.all(bounds[..., 0] <= values) and np.all(values <= bounds[..., 1]))


def test_float32_sum_contains_numpy_runs_in_several_orders():
    """The float32 summed gradient contains G^T A as one float32 matmul, and the per-box
    float32 outer products summed in float32 forwards and backwards."""
    spec, (W_enc, b_enc, W_dec, b_dec), X, boxes = _float32_problem(n=200, width=0.0)
    d = X.shape[1]
    Z = X @ W_enc.T + b_enc
    H = np.tanh(Z)
    G = np.float32(2 / d) * (H @ W_dec.T + b_dec - X)
    dZ = (G @ W_dec) * (np.float32(1) - H * H)
    assert dZ.dtype == np.float32
    found = enclose_many(spec, boxes, semantics="float32", quantities=("gradients",), weight_gradients="sum",
                         backend="fast")
    for name, (u, v) in {"W_dec": (G, H), "W_enc": (dZ, X)}.items():
        runs = [u.T @ v]
        for order in (range(len(X)), reversed(range(len(X)))):
            acc = np.zeros((u.shape[1], v.shape[1]), dtype=np.float32)
            for b in order:
                acc = acc + np.outer(u[b], v[b])
            runs.append(acc)
        for run in runs:
            assert run.dtype == np.float32 and _inside(found.gradients[name], run.astype(np.float64)), name
    for name, value in {"b_dec": G, "b_enc": dZ, "input": dZ @ W_enc}.items():
        assert _inside(found.gradients[name], value.astype(np.float64)), name


_NUMPY_ACTS = {"relu": lambda z: np.maximum(z, np.float32(0)), "identity": lambda z: z, "tanh": np.tanh}
_NUMPY_DERIVS = {"relu": lambda z, a: (z > 0).astype(np.float32), "identity": lambda z, a: np.ones_like(z),
                 "tanh": lambda z, a: np.float32(1) - a * a}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 6), st.sampled_from(sorted(_NUMPY_ACTS)),
       st.sampled_from([0.0, 1e-3]), st.integers(0, 2**32 - 1))
def test_float32_sum_and_hull_contain_numpy_runs(d, h, n, act, width, seed):
    """Property: float32 runs in numpy (one matmul, and per-box products summed in either
    order) lie in the float32 summed gradient; each box's own lies in the hull and in the
    factors' hull."""
    rng = np.random.default_rng(seed)
    scale = float(rng.choice([1e-3, 1.0, 1e3]))
    f32 = lambda *shape: (scale * rng.normal(size=shape)).astype(np.float32)  # noqa: E731
    W_enc, b_enc, W_dec, b_dec = f32(h, d), f32(h), f32(d, h), f32(d)
    spec = AutoencoderSpec(*(a.astype(np.float64) for a in (W_enc, b_enc, W_dec, b_dec)), act)
    X = rng.random((n, d)).astype(np.float32)
    boxes = (X.astype(np.float64) - width, X.astype(np.float64) + width)
    Z = X @ W_enc.T + b_enc
    H = _NUMPY_ACTS[act](Z)
    G = np.float32(2 / d) * (H @ W_dec.T + b_dec - X)
    dZ = (G @ W_dec) * _NUMPY_DERIVS[act](Z, H)
    found = {mode: enclose_many(spec, boxes, semantics="float32", quantities=("gradients",), weight_gradients=mode,
                                backend="fast") for mode in ("sum", "hull", "factor-hull")}
    for name, (u, v) in {"W_dec": (G, H), "W_enc": (dZ, X)}.items():
        runs = [u.T @ v]
        for order in (range(n), reversed(range(n))):
            acc = np.zeros((u.shape[1], v.shape[1]), dtype=np.float32)
            for b in order:
                acc = acc + np.outer(u[b], v[b])
            runs.append(acc)
        for run in runs:
            assert _inside(found["sum"].gradients[name], run.astype(np.float64)), name
        for b in range(n):
            for mode in ("hull", "factor-hull"):
                assert _inside(found[mode].gradients[name], np.outer(u[b], v[b]).astype(np.float64)), (name, mode)


def test_float32_sum_mean_hull_contain_pytorch_batch_runs():
    """What a training step computes: PyTorch's batch backward of the summed per-box loss
    and of F.mse_loss (the mean over all B·d entries), dW = Gᵀ A as one mm; and each
    box's own gradient inside the hull and the factors' hull."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    spec, params, X, boxes = _float32_problem()
    n = len(X)

    def run(loss_of, rows=slice(None)):
        W_enc, b_enc, W_dec, b_dec = (torch.tensor(p, requires_grad=True) for p in params)
        x = torch.tensor(X[rows])
        x_hat = torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(x, W_enc, b_enc)), W_dec, b_dec)
        loss_of(x_hat, x).backward()
        return {"W_enc": W_enc.grad.numpy().astype(np.float64), "W_dec": W_dec.grad.numpy().astype(np.float64)}

    summed = run(lambda x_hat, x: ((x_hat - x) ** 2).mean(dim=1).sum())
    mean = run(lambda x_hat, x: torch.nn.functional.mse_loss(x_hat, x))
    per_box = [run(lambda x_hat, x: torch.nn.functional.mse_loss(x_hat, x), slice(b, b + 1)) for b in range(n)]
    found = {mode: enclose_many(spec, boxes, semantics="float32", quantities=("gradients.W_enc", "gradients.W_dec"),
                                weight_gradients=mode, backend="fast")
             for mode in ("sum", "mean", "hull", "factor-hull")}
    for name in ("W_enc", "W_dec"):
        assert _inside(found["sum"].gradients[name], summed[name]), name
        assert _inside(found["mean"].gradients[name], mean[name]), name
        for b in range(n):
            assert _inside(found["hull"].gradients[name], per_box[b][name]), (name, b)
            assert _inside(found["factor-hull"].gradients[name], per_box[b][name]), (name, b)


@pytest.mark.parametrize("layered", [False, True])
def test_streamed_chunks_equal_the_whole(layered):
    rng = np.random.default_rng(3)
    spec = AutoencoderSpec(rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(4, 3)), [0] * 4, "sigmoid")
    if layered:
        spec = LayeredSpec.from_v1(spec)
    lower = rng.random((10, 4))
    boxes = (lower, lower + 0.1)
    wanted = ("output", "gradients")
    whole = enclose_many(spec, boxes, quantities=wanted, chunk=3, backend="fast")
    seen = []
    for start, stop, part in iter_enclose_many(spec, boxes, quantities=wanted, chunk=3, backend="fast"):
        seen.append((start, stop))
        assert len(part) == stop - start
        for (name, a), (other, b) in zip(part.items(), whole.items()):
            assert name == other and np.array_equal(a, b[start:stop]), name
    assert seen == [(0, 3), (3, 6), (6, 9), (9, 10)]


def test_streamed_chunks_tightened_equal_the_whole():
    rng = np.random.default_rng(5)
    spec = AutoencoderSpec(rng.normal(size=(2, 2)), [0.1, -0.2], rng.normal(size=(2, 2)), [0, 0], "relu")
    lower = rng.random((4, 2)) - 0.5
    boxes = (lower, lower + 0.25)
    whole = enclose_many(spec, boxes, quantities=("output", "gradients"), chunk=2, method="linear")
    for start, stop, part in iter_enclose_many(spec, boxes, quantities=("output", "gradients"), chunk=2,
                                               method="linear"):
        for (name, a), (_, b) in zip(part.items(), whole.items()):
            assert np.array_equal(a, b[start:stop]), name


def test_weight_gradient_modes_share_the_per_box_quantities():
    """Bias gradients and dX do not depend on the mode; "none" drops the weights."""
    rng = np.random.default_rng(8)
    spec = AutoencoderSpec(rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(5, 3)), [0] * 5, "tanh")
    lower = rng.random((6, 5))
    boxes = (lower, lower + 0.01)
    default = enclose_many(spec, boxes, quantities=("output", "gradients"), chunk=6)
    assert default.weight_gradients == "per-box" and default.gradients["W_enc"].shape == (6, 3, 5, 2)
    for mode in ("none", "sum", "mean", "hull", "factor-hull"):
        other = enclose_many(spec, boxes, quantities=("output", "gradients"), weight_gradients=mode, chunk=6)
        for name in ("b_enc", "b_dec", "input"):
            assert np.array_equal(other.gradients[name], default.gradients[name]), (mode, name)
        assert np.array_equal(other.output, default.output)
        assert ("W_enc" in other.gradients) == (mode != "none")
    with pytest.raises(UnsupportedError, match="unknown weight_gradients 'all'"):
        enclose_many(spec, boxes, weight_gradients="all")
    refused = "'gradients.W_enc' is a weight gradient, but weight_gradients is 'none'"
    with pytest.raises(UnsupportedError, match=refused):
        enclose_many(spec, boxes, quantities=("gradients.W_enc",), weight_gradients="none")
    only_sum = enclose_many(spec, boxes, quantities=("gradients.W_enc",), weight_gradients="sum")
    with pytest.raises(TypeError, match="no per-box length"):
        len(only_sum)


def test_outer_sum_of_every_backend_against_exact():
    """Backend.outer_sum encloses Σ_b u_b ⊗ v_b over every value, subnormals, zeros and
    huge entries included, and an unbounded entry makes its row or column unbounded."""
    tiny, huge = 2.0**-1070, 2.0**500
    u_lo = np.array([[1.0, -tiny, 0.0], [0.1, huge, -3.0]])
    u_hi = u_lo + np.array([[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]])
    v_lo = np.array([[tiny, 2.0], [-0.3, huge]])
    v_hi = v_lo + np.array([[0.0, 0.25], [0.0, 0.0]])
    exact = get_backend("exact")
    truth = exact.bounds(exact.outer_sum(exact.interval_floats(u_lo, u_hi), exact.interval_floats(v_lo, v_hi)))
    for name in ("fast", "arb", "mpmath"):
        B = get_backend(name)
        found = B.bounds(B.outer_sum(B.interval_floats(u_lo, u_hi), B.interval_floats(v_lo, v_hi)))
        assert found.shape == (3, 2, 2)
        assert np.all(found[..., 0] <= truth[..., 0]) and np.all(truth[..., 1] <= found[..., 1]), name
    fast = get_backend("fast")
    unbounded = fast.outer_sum(fast.interval_floats(np.array([[-np.inf], [1.0]]), np.array([[np.inf], [1.0]])),
                               fast.interval_floats(v_lo, v_hi))
    assert np.all(np.isinf(fast.bounds(unbounded)))


def test_float_outer_sum_bounds_every_order_and_marks_overflow():
    """FloatSemantics.outer_sum: the error term γ_B Σ|u_b v_b| + B·eta, and a sum whose
    partial sums may exceed realmax is unbounded with a note."""
    S = FloatSemantics(get_backend("fast"), FLOAT32)
    rng = np.random.default_rng(2)
    u = rng.normal(size=(50, 3)).astype(np.float32)
    v = rng.normal(size=(50, 4)).astype(np.float32)
    found = S.bounds(S.outer_sum(S.interval_floats(u, u), S.interval_floats(v, v)))
    for run in (u.T @ v, sum((np.outer(u[b], v[b]) for b in reversed(range(50))), np.zeros((3, 4), np.float32))):
        assert _inside(found, run.astype(np.float64))
    big = np.full((2, 1), 2.0e19)
    t = S.outer_sum(S.interval_floats(big, big), S.interval_floats(big, big))  # 2 · 4e38 > realmax
    assert np.all(np.isinf(S.bounds(t))) and any("summed outer product" in note.text for note in t.notes)


def test_float32_overflow_of_unformed_products_blocks_tightening():
    """A weight gradient not formed (weight_gradients "none" or "sum") may still overflow
    in a float run: dz = 1e30 and x = 1e10 are finite floats, dz·x = 1e40 is not. That
    box is not tightened, and the enclosure says so."""
    spec = AutoencoderSpec([["1e-10"]], [0], [[1]], [0], "identity")
    boxes = (np.array([[1e10]]), np.array([[1e10]]))
    g = Box([Fraction(10**30)], [Fraction(10**30)])
    per_box = enclose_many(spec, boxes, semantics="float32", quantities=("output", "gradients"), grad_output=g)
    assert np.isinf(per_box.gradients["W_enc"]).all() and np.isfinite(per_box.gradients["W_dec"]).all()
    for mode in ("none", "sum"):
        many = enclose_many(spec, boxes, semantics="float32", method="linear", quantities=("output", "gradients"),
                            weight_gradients=mode, grad_output=g)
        assert any("a run may overflow" in note for note in many.notes), mode
        assert np.isfinite(many.gradients["b_enc"]).all()
    summed = enclose_many(spec, boxes, semantics="float32", quantities=("gradients",), weight_gradients="sum",
                          grad_output=g)
    assert np.isinf(summed.gradients["W_enc"]).all() and np.isfinite(summed.gradients["W_dec"]).all()


@pytest.mark.parametrize("layered", [False, True])
def test_degenerate_batch_arguments_are_refused(layered):
    """Zero boxes and a chunk below one box are bad input (found by the adversarial review,
    session 20: a bare KeyError, and iter_enclose_many silently dropped every box)."""
    spec = AutoencoderSpec([[1, 2], [3, 4], [0, 1]], [0, 1, 0], [[1, 0, 1], [0, 1, 1]], [0, 0], "tanh")
    if layered:
        spec = LayeredSpec.from_v1(spec)
    boxes = (np.array([[0.0, 1.0], [-1.0, 1.0]]), np.array([[0.5, 1.5], [-0.5, 1.5]]))
    for mode in ("per-box", "sum"):
        with pytest.raises(BoxError, match=r"no boxes: lower and upper have shape \(0, d\)"):
            enclose_many(spec, (np.zeros((0, 2)), np.zeros((0, 2))), weight_gradients=mode)
    for chunk in (0, -1, 1.5):
        with pytest.raises(UnsupportedError, match=f"chunk must be a positive number of boxes, got {chunk!r}"):
            enclose_many(spec, boxes, chunk=chunk)
        with pytest.raises(UnsupportedError, match="chunk must be a positive number of boxes"):
            list(iter_enclose_many(spec, boxes, chunk=chunk))


@pytest.mark.parametrize("backend", ["mpmath", "arb", "exact"])
def test_factor_hull_of_the_object_backends_converts_no_endpoint(backend):
    """The rows' hull joins them with the backend's exact union: an mpmath bias gradient of
    about e^(−2e30) (tanh' at 1e30) has no Fraction one can build, and converting its ends
    made factor-hull run out of memory (found by the adversarial review, session 20)."""
    act = "relu" if backend == "exact" else "tanh"
    spec = AutoencoderSpec([["1e30"]], [0], [[1]], [0], act)
    boxes = (np.array([[1.0], [2.0]]), np.array([[1.0], [2.0]]))
    found = {mode: enclose_many(spec, boxes, backend=backend, weight_gradients=mode, quantities=("gradients",))
             for mode in ("hull", "factor-hull")}
    for name in ("W_enc", "W_dec"):
        hull, factors = found["hull"].gradients[name], found["factor-hull"].gradients[name]
        assert np.all(factors[..., 0] <= hull[..., 0]) and np.all(hull[..., 1] <= factors[..., 1]), name
