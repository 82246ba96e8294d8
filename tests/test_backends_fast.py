"""The fast backend: vectorised float64 intervals, batches, and the auto rule."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import AutoencoderSpec, Box, BoxError, UnsupportedError, choose_backend, enclose, enclose_many
from verifae.backends.fast import FastBackend, FastTensor, _inflate, _lower, _upper

from .reference import outside, reference
from .strategies import boxes, points_in, specs

#: overflow, inf − inf and 0·inf are part of the arithmetic here, read as unbounded ends:
#: a user must never see numpy warn about them
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def test_elementwise_operations_round_outward():
    B = FastBackend()
    third = B.constant(np.array([Fraction(1, 3)], dtype=object))
    assert third.lo[0] < 1 / 3 < third.hi[0] or third.lo[0] <= Fraction(1, 3) <= third.hi[0]
    assert Fraction(third.lo[0]) < Fraction(1, 3) < Fraction(third.hi[0])
    s = B.add(third, third)
    assert Fraction(s.lo[0]) < Fraction(2, 3) < Fraction(s.hi[0])
    p = B.mul(FastTensor(np.array([-1.0]), np.array([2.0])), FastTensor(np.array([-3.0]), np.array([0.5])))
    assert p.lo[0] <= -6 and p.hi[0] >= 3 and p.lo[0] > -6.000001
    sq = B.square(FastTensor(np.array([-1.0]), np.array([2.0])))
    assert sq.lo[0] == 0 and 4 <= sq.hi[0] < 4.000001


def test_inflate_bounds_a_nonnegative_sum():
    rng = np.random.default_rng(0)
    for n in (1, 10, 1000):
        v = rng.random(n) * 10.0 ** rng.integers(-300, 300)
        exact = sum(Fraction(x) for x in v)
        assert Fraction(float(_inflate(np.float64(v.sum()), n))) >= exact


def test_overflow_and_nan_become_unbounded():
    B = FastBackend()
    big = FastTensor(np.array([1e308]), np.array([1e308]))
    assert B.add(big, big).hi[0] == np.inf
    inf = FastTensor(np.array([-np.inf]), np.array([np.inf]))
    zero = FastTensor(np.array([0.0]), np.array([0.0]))
    out = B.mul(inf, zero)
    assert out.lo[0] == -np.inf and out.hi[0] == np.inf


def test_ends_from_ends_and_upper_are_the_tensors_own_bounds():
    B = FastBackend()
    t = B.constant(np.array([[Fraction(1, 3), Fraction(-2)], [Fraction(5), Fraction(-1, 7)]], dtype=object))
    lo, hi = B.ends(t)
    np.testing.assert_array_equal(np.stack([lo, hi], axis=-1), B.bounds(t))
    assert (lo < hi)[0, 0] and lo[0, 1] == hi[0, 1] == -2  # 1/3 is rounded outward, -2 kept
    np.testing.assert_array_equal(B.upper(t), hi)
    np.testing.assert_array_equal(B.upper(B.magnitude(t)), np.maximum(np.abs(lo), np.abs(hi)))
    u = B.from_ends(lo, hi)
    assert B.ends(u)[0] is lo and B.ends(u)[1] is hi  # the arrays themselves, not copies
    np.testing.assert_array_equal(B.bounds(B.add(u, u)), B.bounds(B.add(t, t)))
    # the public steps are the module's: one float each way, and inflate's upper bound
    x = np.array([1.0, -0.0, 5e-324])
    np.testing.assert_array_equal(B.down(x), np.nextafter(x, -np.inf))
    np.testing.assert_array_equal(B.up(x), np.nextafter(x, np.inf))
    np.testing.assert_array_equal(B.inflate(x, 3), _inflate(x, 3))


def test_precision_beyond_float64_is_refused():
    with pytest.raises(UnsupportedError, match="backend 'fast' computes in float64"):
        FastBackend(100)


@settings(max_examples=60)
@given(st.data())
def test_batched_enclosures_contain_the_reference(data):
    """enclose_many of several boxes encloses the reference at points of each box."""
    spec = data.draw(specs(), label="spec")
    boxes_ = [data.draw(boxes(spec.input_dim), label=f"box{k}") for k in range(3)]
    floats = [Box([float(q) for q in b.lower], [float(q) for q in b.upper]) for b in boxes_]
    # The list-of-Box form rounds endpoints outward, so test at points of the rounded boxes.
    many = enclose_many(spec, floats, quantities=("output", "reconstruction_error", "gradients"), backend="fast")
    assert len(many) == 3
    for k, box in enumerate(floats):
        one = type("One", (), {"items": lambda self, k=k: ((n, a[k]) for n, a in many.items())})()
        for x in data.draw(points_in(box, count=2), label="points"):
            ref = reference(spec, x, None)
            assert not outside(one, {n: ref[n] for n, _ in many.items()})


@settings(max_examples=12)  # "auto" bisects each box into up to 128 parts
@given(st.data())
def test_batched_tightening_is_sound_and_matches_enclose(data):
    """enclose_many with a tightening method: the reference at points of each box lies
    inside, and each box is as tight as `enclose` with that method (within BLAS rounding)."""
    spec = data.draw(specs(), label="spec")
    method = data.draw(st.sampled_from(["linear", "mean-value", "auto"]), label="method")
    boxes_ = [data.draw(boxes(spec.input_dim), label=f"box{k}") for k in range(2)]
    floats = [Box([float(q) for q in b.lower], [float(q) for q in b.upper]) for b in boxes_]
    many = enclose_many(spec, floats, quantities=("output", "reconstruction_error", "gradients"), backend="fast",
                        method=method)
    assert many.method == method
    for k, box in enumerate(floats):
        one = type("One", (), {"items": lambda self, k=k: ((n, a[k]) for n, a in many.items())})()
        for x in data.draw(points_in(box, count=2), label="points"):
            ref = reference(spec, x, None)
            assert not outside(one, {n: ref[n] for n, _ in many.items()})
        single = enclose(spec, box, backend="fast", method=method)
        for name, a in many.items():
            b = dict(single.items())[name]
            finite = np.isfinite(a[k]) & np.isfinite(b)
            assert np.allclose(a[k][finite], b[finite], rtol=1e-9, atol=1e-12), name


def test_batched_equals_per_box_up_to_blas_rounding():
    """A batch runs matrix-matrix BLAS, a single box matrix-vector: their rounding can differ
    in the last bits, and both are sound; the enclosures agree to within 1e-12."""
    rng = np.random.default_rng(3)
    d, h = 12, 5
    spec = AutoencoderSpec(rng.normal(size=(h, d)), rng.normal(size=h), rng.normal(size=(d, h)),
                           rng.normal(size=d), "tanh")
    lower = rng.random((20, d))
    upper = lower + 0.01
    many = enclose_many(spec, (lower, upper), quantities=("output", "reconstruction_error", "gradients"))
    for k in range(20):
        one = dict(enclose(spec, Box(lower[k], upper[k]), backend="fast", method="interval").items())
        for name, batch in many.items():
            a, b = one[name], batch[k]
            assert np.abs(a - b).max() <= 1e-12 * (1 + np.abs(a).max()), name


def test_quantities_and_chunks():
    rng = np.random.default_rng(4)
    spec = AutoencoderSpec(rng.normal(size=(3, 4)), [0] * 3, rng.normal(size=(4, 3)), [0] * 4, "sigmoid")
    lower = rng.random((10, 4))
    only = enclose_many(spec, (lower, lower + 0.1))
    assert only.gradients == {} and only.output.shape == (10, 4, 2) and only.pre_activation.shape == (10, 3, 2)
    some = enclose_many(spec, (lower, lower + 0.1), quantities=("gradients.W_enc",), chunk=3)
    assert set(some.gradients) == {"W_enc"} and some.gradients["W_enc"].shape == (10, 3, 4, 2) and some.output is None
    whole = enclose_many(spec, (lower, lower + 0.1), quantities=("gradients.W_enc",))
    assert np.abs(whole.gradients["W_enc"] - some.gradients["W_enc"]).max() <= 1e-12  # BLAS rounding only
    with pytest.raises(UnsupportedError, match="unknown quantity 'weights'"):
        enclose_many(spec, (lower, lower), quantities=("weights",))
    with pytest.raises(BoxError, match=r"lower and upper must both have shape \(B, 4\)"):
        enclose_many(spec, (lower[:, :3], lower[:, :3]))
    with pytest.raises(BoxError, match=r"box 0: lower\[0\] = .* exceeds upper\[0\]"):
        enclose_many(spec, (lower + 1, lower))


def test_float_semantics_batches():
    spec = AutoencoderSpec([["1e30"]], [0], [[1]], [0], "identity")
    many = enclose_many(spec, (np.array([[1.0], [1e10]]), np.array([[2.0], [2e10]])), semantics="float32")
    assert np.isfinite(many.output[0]).all() and np.isinf(many.output[1]).all()
    assert any("can exceed the largest finite float32" in n for n in many.notes)


def test_auto_rule():
    small = AutoencoderSpec([[1, 2]], [0], [[1], [1]], [0, 0], "tanh")
    big = AutoencoderSpec(np.ones((32, 32)), [0] * 32, np.ones((32, 32)), [0] * 32, "tanh")
    assert choose_backend(small) == "arb" and choose_backend(big) == "fast"
    assert choose_backend(small, batch=5) == "fast" and choose_backend(big, precision=100) == "arb"
    assert enclose(big, Box.point([0] * 32)).backend == "fast" and enclose(small, Box.point([0, 0])).backend == "arb"


def test_rationals_beyond_the_double_range_convert_to_enclosures():
    """float(q) raises beyond the double range; the conversion encloses q instead."""
    t = FastBackend().constant(np.array([Fraction(10**400), Fraction(-(10**400)), Fraction(1, 3)], dtype=object))
    big = float(np.finfo(np.float64).max)
    assert (t.lo[0], t.hi[0]) == (big, np.inf)
    assert (t.lo[1], t.hi[1]) == (-np.inf, -big)
    assert Fraction(t.lo[2]) < Fraction(1, 3) < Fraction(t.hi[2])


# ------------------------------------------------ the outward step without nextafter


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_lower_and_upper_step_past_pred_and_succ(x):
    """Rump et al. 2009, Theorem 2.1: fl(x ∓ fl(fl(φ|x|) + eta)) is <= pred(x) and >=
    succ(x) for every finite x (subnormals, ±0 and ±realmax included); the exact
    neighbours come from np.nextafter."""
    a = np.array([x])
    with np.errstate(over="ignore"):  # succ(realmax) = inf
        assert _lower(a)[0] <= np.nextafter(x, -np.inf)
        assert _upper(a)[0] >= np.nextafter(x, np.inf)


@pytest.mark.parametrize("x", [0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, 2.0**-1022 - 5e-324, 2.0**-970,
                               1.0, -1.0, 2.0**52, 1.7976931348623157e308, -1.7976931348623157e308])
def test_lower_and_upper_at_the_edges(x):
    with np.errstate(over="ignore"):
        assert _lower(np.array([x]))[0] <= np.nextafter(x, -np.inf)
        assert _upper(np.array([x]))[0] >= np.nextafter(x, np.inf)


def test_lower_and_upper_are_one_step_for_normal_numbers():
    """Not wider than nextafter away from underflow: the tightness the backend relies on."""
    x = np.random.default_rng(0).normal(size=10_000) * 10.0 ** np.random.default_rng(1).integers(-300, 300, 10_000)
    assert np.array_equal(_upper(x), np.nextafter(x, np.inf))
    assert np.array_equal(_lower(x), np.nextafter(x, -np.inf))


def test_lower_and_upper_at_infinity():
    """Infinity on the outward side stays infinite; on the inward side the result is NaN,
    which every operation of the backend reads as unbounded."""
    with np.errstate(invalid="ignore"):
        assert _upper(np.array([np.inf]))[0] == np.inf and _lower(np.array([-np.inf]))[0] == -np.inf
        assert np.isnan(_upper(np.array([-np.inf]))[0]) and np.isnan(_lower(np.array([np.inf]))[0])
    B = FastBackend()
    t = B.add(FastTensor(np.array([np.inf]), np.array([np.inf])), B.constant_floats(np.array([1.0])))
    assert t.lo[0] == -np.inf and t.hi[0] == np.inf


# The midpoint-radius and sign-grouped paths (matrix products, outer products, the
# subtraction and square of a product's result): every end against exact rationals, at
# the edges of the double range (subnormals, exact zeros, points, mixed signs, values
# near overflow, where an end must be infinite rather than wrong).

_EDGE = [0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, -(2.0**-1022), 2.0**-600, 3e-200, 1e308, -1e308,
         1.7976931348623157e308, 2.0**511, 1.0, -1.0, 0.1, -0.7]
_doubles = st.one_of(st.floats(-1e3, 1e3, allow_subnormal=True), st.sampled_from(_EDGE),
                     st.floats(-1e-300, 1e-300, allow_subnormal=True))
#: ordinary data, where the fast paths run (the edges above mostly take the general ones)
_ordinary = st.one_of(st.floats(-100, 100).filter(lambda x: x == 0 or abs(x) > 1e-100), st.just(0.0))


def _values(data):
    return _doubles if data.draw(st.booleans(), label="edges") else _ordinary


def _inside(value: Fraction, lo: float, hi: float) -> bool:
    """value in [lo, hi], with ±inf as unbounded (never NaN)."""
    return not (np.isnan(lo) or np.isnan(hi)) and (lo == -np.inf or Fraction(lo) <= value) and (
        hi == np.inf or value <= Fraction(hi))


@st.composite
def _intervals(draw, n: int, values: st.SearchStrategy[float], kind: str = "any"):
    """n float intervals [lo, hi]: points, zeros, mixed signs, or of one sign (kind)."""
    lo, hi = [], []
    for _ in range(n):
        a, b = draw(values), draw(st.one_of(st.just(None), values))
        b = a if b is None else b  # points, often
        a, b = min(a, b), max(a, b)
        if kind == "nonneg":
            a, b = abs(a), abs(b)
            a, b = min(a, b), max(a, b)
        lo.append(a)
        hi.append(b)
    return np.array(lo), np.array(hi)


def _corners(lo, hi, rng, count=4):
    """The ends and a few exact interior rationals of each entry, as columns of points."""
    points = [[Fraction(x) for x in lo], [Fraction(x) for x in hi]]
    for _ in range(count - 2):
        t = [Fraction(int(k), 8) for k in rng.integers(0, 9, len(lo))]
        points.append([Fraction(a) + s * (Fraction(b) - Fraction(a)) for a, b, s in zip(lo, hi, t)])
    return points


@settings(max_examples=80)
@given(st.data())
def test_midpoint_radius_products_contain_the_exact_values(data):
    """matvec, rmatvec and affine (one BLAS product for the midpoint, one for the radius)
    against exact rationals; the matrix is exact doubles or decimals rounded outward."""
    m, n = data.draw(st.integers(1, 4), label="m"), data.draw(st.integers(1, 5), label="n")
    values = _values(data)
    entries = data.draw(st.lists(values, min_size=m * n, max_size=m * n), label="A")
    decimal = data.draw(st.booleans(), label="decimal weights")
    B = FastBackend()
    if decimal:  # weights with a one-ulp radius: the rA path
        q = np.array([Fraction(x) + Fraction(1, 10**7) if abs(x) < 1e300 else Fraction(x) for x in entries],
                     dtype=object).reshape(m, n)
        A = B.constant(q)
    else:
        q = np.array([Fraction(x) for x in entries], dtype=object).reshape(m, n)
        A = B.constant_floats(np.array(entries).reshape(m, n))
    xlo, xhi = data.draw(_intervals(n, values), label="x")
    blo, bhi = data.draw(_intervals(m, values), label="b")
    ylo, yhi = data.draw(_intervals(m, values), label="y")
    x, b, y = B.interval_floats(xlo, xhi), B.interval_floats(blo, bhi), B.interval_floats(ylo, yhi)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    z, zb, g = B.matvec(A, x), B.affine(A, x, b), B.rmatvec(A, y)
    for t in (z, zb, g):
        np.testing.assert_array_equal(B.bounds(t), np.stack(B.ends(t), axis=-1))
    for p, pb in zip(_corners(xlo, xhi, rng), _corners(blo, bhi, rng)):
        for i in range(m):
            exact = sum(q[i, j] * p[j] for j in range(n))
            assert _inside(exact, z.lo[i], z.hi[i]), ("matvec", i)
            assert _inside(exact + pb[i], zb.lo[i], zb.hi[i]), ("affine", i)
    for p in _corners(ylo, yhi, rng):
        for j in range(n):
            assert _inside(sum(q[i, j] * p[i] for i in range(m)), g.lo[j], g.hi[j]), ("rmatvec", j)


@settings(max_examples=80)
@given(st.data())
def test_outer_products_contain_the_exact_values(data):
    """outer (point factors by midpoint-radius, sign-grouped rows otherwise), with and
    without a batch axis, against exact rationals at the corners."""
    batch = data.draw(st.sampled_from([(), (2,)]), label="batch")
    m, n = data.draw(st.integers(1, 4), label="m"), data.draw(st.integers(1, 4), label="n")
    kinds = data.draw(st.sampled_from(["any", "nonneg"]), label="u"), data.draw(st.sampled_from(["any", "nonneg"]))
    k = int(np.prod(batch))
    values = _values(data)
    us = [data.draw(_intervals(m, values, kinds[0]), label="u") for _ in range(k)]
    vs = [data.draw(_intervals(n, values, kinds[1]), label="v") for _ in range(k)]
    if data.draw(st.booleans(), label="negate v"):
        vs = [(-hi, -lo) for lo, hi in vs]
    B = FastBackend()
    shape = lambda a: a.reshape((*batch, -1))  # noqa: E731
    u = B.interval_floats(shape(np.array([lo for lo, _ in us])), shape(np.array([hi for _, hi in us])))
    v = B.interval_floats(shape(np.array([lo for lo, _ in vs])), shape(np.array([hi for _, hi in vs])))
    out = B.outer(u, v)
    np.testing.assert_array_equal(B.bounds(out), np.stack(B.ends(out), axis=-1))
    B.bounds(out)[...] = np.nan  # a new array: writing into it leaves the tensor as it was
    assert not np.isnan(B.ends(out)[0]).any()
    lo, hi = (a.reshape(k, m, n) for a in B.ends(out))
    for b_ in range(k):
        for i in range(m):
            for j in range(n):
                products = [Fraction(a) * Fraction(c) for a in (us[b_][0][i], us[b_][1][i])
                            for c in (vs[b_][0][j], vs[b_][1][j])]
                assert _inside(min(products), lo[b_, i, j], hi[b_, i, j])
                assert _inside(max(products), lo[b_, i, j], hi[b_, i, j])


@settings(max_examples=60)
@given(st.data())
def test_subtraction_and_square_of_a_product_contain_the_exact_values(data):
    """(A·x − y)² with A·x held by midpoint and radius: the path of the reconstruction error."""
    n = data.draw(st.integers(1, 4), label="n")
    values = _values(data)
    entries = data.draw(st.lists(values, min_size=n * n, max_size=n * n), label="A")
    A = np.array(entries).reshape(n, n)
    xlo, xhi = data.draw(_intervals(n, values), label="x")
    ylo, yhi = data.draw(_intervals(n, values), label="y")
    B = FastBackend()
    z = B.matvec(B.constant_floats(A), B.interval_floats(xlo, xhi))
    y = B.interval_floats(ylo, yhi)
    y.mid_rad()  # as after the encoder's product: the subtraction takes the midpoint-radius path
    d = B.sub(z, y)
    sq = B.square(d)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    for p, py in zip(_corners(xlo, xhi, rng), _corners(ylo, yhi, rng)):
        for i in range(n):
            diff = sum(Fraction(A[i, j]) * p[j] for j in range(n)) - py[i]
            assert _inside(diff, d.lo[i], d.hi[i])
            assert _inside(diff * diff, sq.lo[i], sq.hi[i])
            assert sq.lo[i] >= 0 or sq.lo[i] == -np.inf  # -inf: a square that may overflow


#: the scales of the gradient's path (2/d, 1/B), exact powers of two, and ones whose double
#: is far from the rational, near the double range's edges
_SCALES = st.one_of(st.sampled_from([(2, 784), (1, 1000), (2, 3), (1, 7), (1, 1), (4, 1), (1, 2**1070),
                                     (1, 3 * 2**1020), (2**1000, 3), (2**1023, 1)]),
                    st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)))


@settings(max_examples=80)
@given(st.data())
def test_scale_of_a_product_contains_the_exact_values(data):
    """s·(A·x − y) with the difference held by midpoint and radius (the MSE gradient
    (2/d)(x_hat − x), `_midrad_scale`), against exact rationals at the corners."""
    n = data.draw(st.integers(1, 4), label="n")
    values = _values(data)
    A = np.array(data.draw(st.lists(values, min_size=n * n, max_size=n * n), label="A")).reshape(n, n)
    xlo, xhi = data.draw(_intervals(n, values), label="x")
    ylo, yhi = data.draw(_intervals(n, values), label="y")
    num, den = data.draw(_SCALES, label="s")
    B = FastBackend()
    y = B.interval_floats(ylo, yhi)
    y.mid_rad()
    d = B.sub(B.matvec(B.constant_floats(A), B.interval_floats(xlo, xhi)), y)
    out = B.scale(d, num, den)
    lo, hi = B.ends(out)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    for p, py in zip(_corners(xlo, xhi, rng), _corners(ylo, yhi, rng)):
        for i in range(n):
            diff = sum(Fraction(A[i, j]) * p[j] for j in range(n)) - py[i]
            assert _inside(Fraction(num, den) * diff, lo[i], hi[i])


def test_scale_of_a_product_keeps_midpoint_and_radius_and_is_tight():
    """On ordinary data the scale keeps the product's form (no ends formed) and costs at
    most a few ulps against scaling the ends."""
    rng = np.random.default_rng(3)
    B = FastBackend()
    z = B.matvec(B.constant_floats(rng.normal(size=(6, 9))), B.interval_floats(rng.random(9) - 0.5,
                                                                               rng.random(9) + 0.5))
    out = B.scale(z, 2, 784)
    assert out._lo is None and out._mid_rad is not None
    ref = B.mul(FastTensor(*B.ends(z)), B.interval_floats(np.array(2 / 784), np.array(2 / 784)))
    lo, hi = B.ends(out)
    ref_lo, ref_hi = B.ends(ref)
    assert np.all(hi - lo <= (ref_hi - ref_lo) * (1 + 1e-12))


def test_midpoint_radius_paths_are_taken_and_tight():
    """The fast paths are the ones used on ordinary data, and cost at most a few ulps of
    each end against the lower/upper products they replace."""
    rng = np.random.default_rng(5)
    B = FastBackend()
    A = B.constant_floats(rng.normal(size=(6, 9)))
    x = B.interval_floats(rng.random(9) - 0.5, rng.random(9) + 0.5)
    z = B.matvec(A, x)
    assert z._lo is None  # held by midpoint and radius
    u, v = B.interval_floats(-rng.random(6), rng.random(6)), B.interval_floats(rng.random(9), 1 + rng.random(9))
    assert B._sign_split_outer(u, v) is not None and B._sign_split_outer(v, u) is not None
    ref = B.mul(u[:, None], v[None, :])
    out = B.outer(u, v)
    assert np.all(out.hi - out.lo <= (ref.hi - ref.lo) * (1 + 1e-12))
    p = B.constant_floats(rng.normal(size=6))
    assert B._midrad_outer(p, v) is not None and B._midrad_outer(u, v) is None


@pytest.mark.parametrize("tiny_in", ["rows", "columns", "both"])
def test_outer_product_of_a_relu_zero_gradient_takes_the_blas_path(tiny_in):
    """A relu's zero gradient is [−eta, eta] after the outward step of its product: the
    outer product widens such ends in one factor to a negligible normal magnitude (every
    product stays normal) instead of refusing the fast path, and still holds the exact
    corners; with tiny ends in both factors it refuses (the general product)."""
    rng = np.random.default_rng(11)
    B = FastBackend()
    lo, hi = rng.normal(size=6) - 0.5, rng.normal(size=6) + 0.5
    vlo = rng.random(5) - 0.2
    vhi = vlo + 0.1
    if tiny_in in ("rows", "both"):
        lo[[1, 4]], hi[[1, 4]] = -5e-324, 5e-324
        lo[2], hi[2] = 1e-310, 0.3  # a subnormal lower end
    if tiny_in in ("columns", "both"):
        vlo[3], vhi[3] = -2e-320, 0.0
    u, v = B.interval_floats(lo, hi), B.interval_floats(vlo, vhi)
    fast = B._sign_split_outer(u, v)
    assert (fast is None) == (tiny_in == "both")
    ends = np.stack(B.ends(B.outer(u, v)), axis=-1)
    for i in range(6):
        for j in range(5):
            products = [Fraction(a) * Fraction(c) for a in (lo[i], hi[i]) for c in (vlo[j], vhi[j])]
            assert _inside(min(products), *ends[i, j]) and _inside(max(products), *ends[i, j])
    if tiny_in == "rows":
        assert np.all(np.abs(ends[[1, 4]]) <= 1e-290)  # the zero rows stay negligible
    if tiny_in == "columns":
        assert np.all(np.abs(ends[:, 3, 1]) <= 1e-290)


@settings(max_examples=80)
@given(st.data())
def test_outer_sum_contains_the_exact_range(data):
    """outer_sum (the batch's summed weight gradient, midpoint-radius with a-priori
    radius, `_midrad_outer_sum`, or the general product where it refuses) against exact
    rationals: Σ_b u_b v_b is bilinear term by term, so its exact range over the boxes is
    [Σ_b min of the four corner products, Σ_b max of them]; subnormals, zeros, points,
    mixed signs and values near overflow (an end there must be infinite, never wrong)."""
    n_terms = data.draw(st.integers(1, 5), label="B")
    m, n = data.draw(st.integers(1, 3), label="m"), data.draw(st.integers(1, 3), label="n")
    values = _values(data)
    us = [data.draw(_intervals(m, values), label="u") for _ in range(n_terms)]
    vs = [data.draw(_intervals(n, values), label="v") for _ in range(n_terms)]
    B = FastBackend()
    u = B.interval_floats(np.array([lo for lo, _ in us]), np.array([hi for _, hi in us]))
    v = B.interval_floats(np.array([lo for lo, _ in vs]), np.array([hi for _, hi in vs]))
    if data.draw(st.booleans(), label="held by midpoint and radius"):
        u, v = FastTensor._of_mid_rad(*u.mid_rad()), FastTensor._of_mid_rad(*v.mid_rad())
    out = B.outer_sum(u, v)
    lo, hi = B.ends(out)
    assert lo.shape == (m, n) and not (np.isnan(lo).any() or np.isnan(hi).any())
    for i in range(m):
        for j in range(n):
            corners = [[Fraction(a[i]) * Fraction(c[j]) for a in us[b] for c in vs[b]] for b in range(n_terms)]
            assert _inside(sum(min(p) for p in corners), lo[i, j], hi[i, j]), (i, j)
            assert _inside(sum(max(p) for p in corners), lo[i, j], hi[i, j]), (i, j)


def test_outer_sum_takes_the_midpoint_radius_path_and_is_as_tight():
    """On ordinary data outer_sum is `_midrad_outer_sum` (three BLAS calls), as tight as
    the general product within a few ulps of each end."""
    rng = np.random.default_rng(3)
    B = FastBackend()
    centre_u, centre_v = rng.normal(size=(50, 6)), rng.normal(size=(50, 9))
    u = B.interval_floats(centre_u - 0.01, centre_u + 0.01)
    v = B.interval_floats(centre_v - 0.02 * rng.random((50, 9)), centre_v + 0.02)
    fast = B._midrad_outer_sum(u, v)
    assert fast is not None and fast._lo is None
    mv, rv = v.mid_rad()
    general = B._product(mv, rv, np.abs(mv), FastTensor(u.lo.T, u.hi.T), transpose=True)
    width, reference_width = fast.hi - fast.lo, general.hi - general.lo
    assert np.all(np.abs(width - reference_width) <= 1e-12 * reference_width)
    np.testing.assert_array_equal(B.bounds(B.outer_sum(u, v)), B.bounds(fast))


@settings(max_examples=80)
@given(st.data())
def test_product_with_a_nonnegative_factor_is_the_four_product_one(data):
    """mul with a factor >= 0 (an activation's derivative; `scale` by a positive
    constant) forms two products, not four: the same ends as the four products' min and
    max stepped outward wherever those are defined, and the exact products inside."""
    n = data.draw(st.integers(1, 6), label="n")
    values = _values(data)
    alo, ahi = data.draw(_intervals(n, values), label="a")
    blo, bhi = data.draw(_intervals(n, values, "nonneg"), label="b")
    B = FastBackend()
    a, b = B.interval_floats(alo, ahi), B.interval_floats(blo, bhi)
    with np.errstate(invalid="ignore", over="ignore"):
        p = (alo * blo, alo * bhi, ahi * blo, ahi * bhi)
        four_lo = _lower(np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3])))
        four_hi = _upper(np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3])))
    defined = ~(np.isnan(four_lo) | np.isnan(four_hi))
    for t in (B.mul(a, b), B.mul(b, a)):
        lo, hi = B.ends(t)
        np.testing.assert_array_equal(lo[defined], four_lo[defined])
        np.testing.assert_array_equal(hi[defined], four_hi[defined])
        for i in range(n):
            for x in (alo[i], ahi[i]):
                for y in (blo[i], bhi[i]):
                    if np.isfinite(x) and np.isfinite(y):
                        assert _inside(Fraction(x) * Fraction(y), lo[i], hi[i])
    c = B.scale(a, 2, 7)  # 2/7 is no double: its enclosure [c_lo, c_hi] is the factor
    for i in range(n):
        for x in (alo[i], ahi[i]):
            if np.isfinite(x):
                assert _inside(Fraction(x) * Fraction(2, 7), B.ends(c)[0][i], B.ends(c)[1][i])
