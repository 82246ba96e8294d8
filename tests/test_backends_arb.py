"""The arb backend: precision per instance, tight products."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
import pytest
from flint import arb, fmpq
from hypothesis import given, settings
from hypothesis import strategies as st

import verifae.backends.arb as arb_backend
from verifae import AutoencoderSpec, Box, enclose, get_backend
from verifae.backends.arb import (
    _DERIVED,
    DoubleIntervals,
    _float_down,
    _float_up,
    _outer_bounds,
    _product_bound,
    _sum_bound,
)
from verifae.numbers import round_down, round_up

from .reference import outside, reference


@pytest.fixture(autouse=True)
def arb_mat_products(monkeypatch):
    """Every matrix product in this file goes through arb_mat: the small models of the
    other test files take the entry-by-entry path (`ENTRYWISE_PRODUCT_SIZE`)."""
    monkeypatch.setattr(arb_backend, "ENTRYWISE_PRODUCT_SIZE", 0)


def test_small_products_are_entry_by_entry_and_contain_the_arb_mat_ones(monkeypatch):
    """At most ENTRYWISE_PRODUCT_SIZE entries: the sums of the object backend, whose
    radii round as before arb_mat (bit-identical enclosures of the small models); both
    contain the exact product."""
    B = get_backend("arb")
    A_q = np.array([[Fraction(1, 3), Fraction(-2, 7)], [Fraction(5, 11), Fraction(1, 10)]], dtype=object)
    x_q = np.array([Fraction(3, 10), Fraction(-1, 9)], dtype=object)
    A, x = B.constant(A_q), B.constant(x_q)
    by_arb_mat = B.bounds(B.matvec(A, x))
    monkeypatch.setattr(arb_backend, "ENTRYWISE_PRODUCT_SIZE", 1024)
    entrywise = B.bounds(B.matvec(B.constant(A_q), B.constant(x_q)))
    assert id(A) in _DERIVED  # the arb_mat product cached the matrix
    for bounds in (by_arb_mat, entrywise):
        for (lo, hi), row in zip(bounds, A_q):
            exact = sum(a * v for a, v in zip(row, x_q))
            assert Fraction(lo) <= exact <= Fraction(hi)



def test_precision_does_not_leak_into_flint_context():
    before = flint.ctx.prec
    spec = AutoencoderSpec([[1, 2]], [0], [[1], [1]], [0, 0], "sigmoid")
    narrow = enclose(spec, Box(["0.1", "0.2"], ["0.1", "0.2"]), backend="arb", precision=300, method="interval")
    assert flint.ctx.prec == before
    coarse = enclose(spec, Box(["0.1", "0.2"], ["0.1", "0.2"]), backend="arb", precision=20, method="interval")
    assert flint.ctx.prec == before
    width = lambda e: e.output[..., 1] - e.output[..., 0]  # noqa: E731
    assert np.all(width(narrow) < width(coarse))
    assert get_backend("arb", 300).precision == 300 and get_backend("arb").precision == 53


def test_wide_times_wide_is_an_interval_product():
    """[0, 2]·[0, 2] is [0, 4]; a plain ball product would give [-2, 4]."""
    B = get_backend("arb")
    u = B.interval(np.array([0], dtype=object), np.array([2], dtype=object))
    (lo, hi), = B.bounds(B.mul(u, u))
    assert -(2.0**-25) <= lo <= 0 and 4 <= hi <= 4 + 2.0**-24
    (lo, hi), = B.bounds(B.outer(u, u))[0]
    assert -(2.0**-25) <= lo <= 0


@given(
    st.integers(-(10**40), 10**40),
    st.integers(1, 10**40),
    st.integers(-1150, 1150),
)
def test_outward_conversion_to_double(num, den, shift):
    """The float bounds of an exact arb are its directed roundings, across the whole range."""
    q = Fraction(num, den) * Fraction(2) ** shift
    with flint.ctx.workprec(300):
        e = arb(fmpq(q.numerator, q.denominator)).mid()
        man, exp = e.man_exp()
        exact = Fraction(int(man)) * Fraction(2) ** int(exp)
        assert _float_down(e) == round_down(exact)
        assert _float_up(e) == round_up(exact)
    assert str(_float_up(arb(0))) == "0.0"


@given(st.lists(st.tuples(st.integers(-(10**30), 10**30), st.integers(1, 10**30), st.integers(-1100, 1100),
                          st.integers(0, 10**6)), min_size=1, max_size=20))
def test_vectorised_bounds_enclose_every_ball(entries):
    B = get_backend("arb", 200)
    with flint.ctx.workprec(200):
        balls = np.array([arb(fmpq(n, d) * fmpq(2) ** e, fmpq(r, 10**6) * fmpq(2) ** e) for n, d, e, r in entries],
                         dtype=object)
        out = B.bounds(balls)
        for ball, (lo, hi) in zip(balls, out):
            assert arb(lo) <= ball.lower() and ball.upper() <= arb(hi)


def test_exact_balls_keep_exact_bounds():
    """An exact 0 must stay [0, 0]: a one-ulp step would make a reference that is exactly
    0 look like it straddles an enclosure's endpoint."""
    B = get_backend("arb")
    out = B.bounds(np.array([arb(0), arb(3), arb(-2) / 8], dtype=object))
    assert out.tolist() == [[0.0, 0.0], [3.0, 3.0], [-0.25, -0.25]]


# ---------------------------------------------------------------- the vectorised paths (issue 14)

_SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, 2.0**-1000, 1e-160, 2.0**-483, 1.0, -1.0, 3.0, 0.1,
            2.0**500, -(2.0**510), 1e300, -1.7976931348623157e308, 2.0**995, 2.0**996]
_doubles = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(_SPECIAL),
                     st.floats(-4, 4, allow_nan=False))


def _q(f: float) -> Fraction | float:
    """The exact value of a double (±inf stays a float, which compares with Fractions)."""
    return Fraction(f) if np.isfinite(f) else float(f)


def _steps(f: float, k: int) -> float:
    for _ in range(abs(k)):
        f = float(np.nextafter(f, np.inf if k > 0 else -np.inf))
    return f


def _check_directed(floor: float, ceil: float, exact: Fraction, exact_range: bool) -> None:
    """floor <= exact <= ceil (zero tolerance), each its tightest double where the error-free
    transformation applies, else at most one step looser."""
    assert _q(floor) <= exact <= _q(ceil)
    tight_lo, tight_hi = round_down(exact), round_up(exact)
    if exact_range:
        assert (floor, ceil) == (tight_lo, tight_hi)
    else:
        with np.errstate(over="ignore"):  # one step beyond realmax is inf
            assert floor >= np.nextafter(tight_lo, -np.inf) and ceil <= np.nextafter(tight_hi, np.inf)


@given(st.lists(st.tuples(_doubles, _doubles), min_size=1, max_size=30))
def test_product_bound_is_the_directed_rounding_of_the_exact_product(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    floor, ceil = _product_bound(a, b, True), _product_bound(a, b, False)
    for x, y, lo, hi in zip(a, b, floor, ceil):
        exact = _q(x) * _q(y)
        in_range = exact == 0 or 2.0**-900 <= abs(exact) <= 2.0**900
        _check_directed(float(lo), float(hi), exact, in_range and max(abs(x), abs(y)) <= 2.0**995)


@given(st.lists(st.tuples(_doubles, _doubles), min_size=1, max_size=30))
def test_sum_bound_is_the_directed_rounding_of_the_exact_sum(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    floor, ceil = _sum_bound(a, b, True), _sum_bound(a, b, False)
    for x, y, lo, hi in zip(a, b, floor, ceil):
        exact = _q(x) + _q(y)
        _check_directed(float(lo), float(hi), exact, abs(exact) <= Fraction(2.0**1023))


_ends = st.one_of(st.floats(-8, 8, allow_nan=False), st.sampled_from([0.0, 0.0, 1.0, -2.0, 1e-300, 3e200]))


@st.composite
def _interval_vectors(draw, n: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = [sorted(draw(st.tuples(_ends, _ends))) for _ in range(n)]
    points = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    lo = np.array([p[0] for p in pairs])
    hi = np.array([p[0] if point else p[1] for p, point in zip(pairs, points)])
    return lo, hi


def _exact_product_range(a: tuple[float, float], b: tuple[float, float]) -> tuple[Fraction, Fraction]:
    corners = [_q(x) * _q(y) for x in a for y in b]
    return min(corners), max(corners)


@settings(max_examples=60)
@given(st.data())
def test_outer_bounds_are_the_tightest_doubles_around_the_exact_products(data):
    """All nine sign cases, points, exact zeros, tiny and huge (overflowing) products."""
    m, n = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    u_lo, u_hi = data.draw(_interval_vectors(m))
    v_lo, v_hi = data.draw(_interval_vectors(n))
    lo, hi = _outer_bounds(u_lo, u_hi, v_lo, v_hi)
    for i in range(m):
        for j in range(n):
            least, greatest = _exact_product_range((u_lo[i], u_hi[i]), (v_lo[j], v_hi[j]))
            assert _q(lo[i, j]) <= least and greatest <= _q(hi[i, j])
            if all(x == 0 or 2.0**-900 <= abs(x) <= 2.0**900 for x in (least, greatest)):
                assert (lo[i, j], hi[i, j]) == (round_down(least), round_up(greatest))


def test_outer_of_unbounded_and_zero_factors():
    """0 times an unbounded factor is exactly 0 (the product of the real 0 with any real);
    a positive factor times an unbounded one is unbounded on that side only."""
    inf = np.inf
    lo, hi = _outer_bounds(np.array([0.0, 0.0, 1.0, -2.0]), np.array([0.0, 1.0, 2.0, 3.0]),
                           np.array([-inf, 1.0, 2.0]), np.array([inf, inf, 2.0]))
    assert lo.tolist() == [[0, 0, 0], [-inf, 0, 0], [-inf, 1, 2], [-inf, -inf, -4]]
    assert hi.tolist() == [[0, 0, 0], [inf, inf, 2], [inf, inf, 4], [inf, inf, 6]]


def _balls(values, radius=0.0):
    return np.array([arb(v, radius) if radius else arb(v) for v in values], dtype=object)


@settings(max_examples=60)
@given(st.data())
def test_double_interval_operations_enclose_the_exact_results(data):
    """add, sub, mul, scale, magnitude, widen and exceeds on DoubleIntervals (what the
    float semantics applies to an outer product) against exact rationals."""
    B = get_backend("arb")
    n = data.draw(st.integers(1, 6))
    a, b = DoubleIntervals(*data.draw(_interval_vectors(n))), DoubleIntervals(*data.draw(_interval_vectors(n)))
    num, den = data.draw(st.integers(-5, 5)), data.draw(st.sampled_from([1, 3, 784, 2**53]))
    absolute = data.draw(st.sampled_from([Fraction(0), Fraction(2) ** -1074, Fraction(1, 3)]))
    ex = lambda t, i: (_q(t.lo[i]), _q(t.hi[i]))  # noqa: E731
    for i in range(n):
        (al, ah), (bl, bh) = ex(a, i), ex(b, i)
        q = Fraction(num, den)  # scaled by its double enclosure: tight when q is a double
        q_ends = [Fraction(round_down(q)), Fraction(round_up(q))]
        scaled = [x * y for x in (al, ah) for y in q_ends]
        corners = [x * y for x in (al, ah) for y in (bl, bh)]
        mag = max(abs(al), abs(ah))
        expected = {
            "add": (al + bl, ah + bh), "sub": (al - bh, ah - bl), "mul": (min(corners), max(corners)),
            "scale": (min(scaled), max(scaled)), "magnitude": (mag, mag),
            "widen": (al - mag - absolute, ah + mag + absolute),
        }
        results = {"add": B.add(a, b), "sub": B.sub(a, b), "mul": B.mul(a, b), "scale": B.scale(a, num, den),
                   "magnitude": B.magnitude(a), "widen": B.widen(a, B.magnitude(a), absolute)}
        for name, t in results.items():
            lo, hi = expected[name]
            assert _q(t.lo[i]) <= lo and hi <= _q(t.hi[i]), name
            if name != "widen":  # widen rounds twice (the radius, then the sum)
                in_range = all(c == 0 or 2.0**-900 <= abs(c) <= 2.0**900 for c in corners + scaled)
                tight = in_range or name in ("add", "sub", "magnitude")
                steps = 0 if tight else 1  # one nextafter step where the product underflows
                assert t.lo[i] >= _steps(round_down(lo), -steps) and t.hi[i] <= _steps(round_up(hi), steps), name
        bound = Fraction(3)
        assert bool(B.exceeds(a, bound)[i]) == (not mag < bound)


@pytest.mark.parametrize("precision", [53, 200])
def test_matrix_products_and_outer_contain_the_exact_results(precision):
    """arb_mat products (one box and a batch), the transpose and the outer product contain
    the exact rational results, for exact zeros, huge, subnormal and decimal entries."""
    B = get_backend("arb", precision)
    A_q = np.array([[Fraction(0), Fraction(1, 10), Fraction(2) ** 600, Fraction(-3)],
                    [Fraction(2) ** -1070, Fraction(0), Fraction(1, 3), Fraction(10) ** 300]], dtype=object)
    X_q = np.array([[Fraction(1), Fraction(-1, 7), Fraction(2) ** 500, Fraction(0)],
                    [Fraction(0), Fraction(0), Fraction(0), Fraction(0)],
                    [Fraction(2) ** -1074, Fraction(5), Fraction(-1, 10), Fraction(10) ** 10]], dtype=object)
    A, X = B.constant(A_q), B.constant(X_q)
    Y_q = X_q[:, :2] * 3

    def contains(t, exact):
        bounds = B.bounds(t)
        for index in np.ndindex(exact.shape):
            lo, hi = bounds[index]
            assert _q(lo) <= exact[index] <= _q(hi), (index, lo, hi, exact[index])

    contains(B.matvec(A, X), np.array([[sum(a * x for a, x in zip(row, xs)) for row in A_q] for xs in X_q]))
    contains(B.matvec(A, X[0]), np.array([sum(a * x for a, x in zip(row, X_q[0])) for row in A_q]))
    contains(B.rmatvec(A, B.constant(Y_q)),
             np.array([[sum(A_q[i, j] * ys[i] for i in range(2)) for j in range(4)] for ys in Y_q]))
    contains(B.outer(X[0], X[2]), np.array([[u * v for v in X_q[2]] for u in X_q[0]]))
    contains(B.outer(X, X), np.array([[[u * v for v in xs] for u in xs] for xs in X_q]))


def test_empty_and_one_row_matrices():
    B = get_backend("arb")
    x = B.constant(np.array([Fraction(1, 3), Fraction(2)], dtype=object))
    assert B.bounds(B.matvec(B.constant(np.empty((0, 2), dtype=object)), x)).shape == (0, 2)
    assert B.bounds(B.matvec(B.constant(np.empty((3, 0), dtype=object)), x[:0])).tolist() == [[0.0, 0.0]] * 3
    assert B.bounds(B.rmatvec(B.constant(np.empty((0, 2), dtype=object)), x[:0])).tolist() == [[0.0, 0.0]] * 2
    row = B.constant(np.array([[Fraction(3), Fraction(-1)]], dtype=object))
    (lo, hi), = B.bounds(B.matvec(row, x))  # 3·(1/3) − 2, with 1/3 a ball
    assert lo <= -1 <= hi and hi - lo < 2e-15
    assert B.bounds(B.outer(x[:0], x)).shape == (0, 2, 2)
    assert B.bounds(B.rmatvec(row, B.constant(np.array([Fraction(2)], dtype=object)))).tolist() == [[6, 6], [-2, -2]]


def test_bounds_are_the_tightest_doubles_at_any_precision():
    """lower()/upper() rounded to 53 bits, then exact conversion: the largest double below
    and the smallest above each ball (previously up to three steps looser)."""
    for precision in (20, 53, 200):
        B = get_backend("arb", precision)
        with flint.ctx.workprec(precision):
            third = arb(1) / 3
            balls = np.array([third, -third, third * 2.0**-1060, arb(2) ** 1100, arb(0), arb(1e-310)], dtype=object)
        with flint.ctx.workprec(400):
            for ball, (lo, hi) in zip(balls, B.bounds(balls)):
                assert lo == _float_down(ball.lower()) and hi == _float_up(ball.upper())


def test_matrix_cache_lives_with_the_matrix():
    B = get_backend("arb")
    A = B.constant(np.array([[Fraction(1), Fraction(2)]], dtype=object))
    B.matvec(A, B.constant(np.array([Fraction(1), Fraction(1)], dtype=object)))
    assert id(A) in _DERIVED
    key = id(A)
    del A
    assert key not in _DERIVED


@pytest.mark.parametrize("precision", [53, 200])
@pytest.mark.parametrize("semantics", ["real", "float32"])
@pytest.mark.parametrize("kind", ["zeros", "huge", "subnormal", "one-row"])
def test_enclosures_contain_the_reference_on_extreme_models(kind, semantics, precision):
    """End to end through the new paths, zero tolerance against the 256-bit reference."""
    F = Fraction
    models = {
        "zeros": ([[0, F(1, 10), 0], [0, 0, 0]], [0, F(-1, 3)], [[0, 1], [0, 0], [F(1, 3), 0]], [0, 0, F(1, 7)],
                  "relu"),
        "huge": ([[F(10) ** 150, -1], [2, F(10) ** 160]], [0, 1], [[F(10) ** 170, 1], [1, -F(10) ** 155]], [0, 0],
                 "identity"),
        "subnormal": ([[F(2) ** -1070, F(3, 10)], [F(1, 10), -(F(2) ** -1074)]], [F(2) ** -1060, 0],
                      [[F(2) ** -1074, 1], [1, F(2) ** -1000]], [0, F(2) ** -1073], "tanh"),
        "one-row": ([[F(7, 10)]], [F(1, 10)], [[F(-3, 10)]], [F(1, 10)], "sigmoid"),
    }
    spec = AutoencoderSpec(*models[kind])
    x = [F(1, 3) * (i + 1) for i in range(spec.input_dim)]
    e = enclose(spec, Box.point(x), backend="arb", precision=precision, semantics=semantics, method="interval")
    if semantics == "real":
        assert not outside(e, reference(spec, x, None))
    for name, bounds in e.items():
        assert np.all(bounds[..., 0] <= bounds[..., 1]), name
    wide = enclose(spec, Box.around(x, F(1, 100)), backend="arb", precision=precision, semantics=semantics,
                   method="interval")
    for point in (x, [v - F(1, 100) for v in x], [v + F(1, 200) for v in x]):
        if semantics == "real":
            assert not outside(wide, reference(spec, point, None))
