"""Soundness of `enclose` and correctness of `evaluate`.

Containment is checked with zero tolerance; a `slack` below only bounds how far an
enclosure may stick out beyond the exact range (its tightness), never whether it
contains it."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
import pytest
from flint import arb
from hypothesis import given
from hypothesis import strategies as st

from verifae import (
    AutoencoderSpec,
    Box,
    BoxError,
    UnsupportedError,
    enclose,
    evaluate,
)
from verifae.activations import TRANSCENDENTAL

from .reference import outside, reference
from .strategies import boxes, points_in, specs

F = Fraction


def straddling_relu() -> tuple[AutoencoderSpec, Box]:
    """2-1-2 relu, z = x1 + x2 on x1 in [-1, 1], x2 in [0, 1]: z in [-1, 2] straddles 0."""
    spec = AutoencoderSpec([[1, 1]], [0], [[1], [-1]], [0, 0], "relu")
    return spec, Box([-1, 0], [1, 1])


class TestHandComputed:
    """Tiny cases whose enclosures are computed by hand in the docstrings."""

    EXPECTED_KINK = {
        "pre_activation": [[-1, 2]],
        "hidden": [[0, 2]],
        "output": [[0, 2], [-2, 0]],
        "reconstruction_error": [0, 9],
        "gradients.W_enc": [[[-6, 6], [-1, 6]]],
        "gradients.b_enc": [[-1, 6]],
        "gradients.W_dec": [[[-2, 6]], [[-6, 0]]],
        "gradients.b_dec": [[-1, 3], [-3, 0]],
        "gradients.input": [[-1, 6], [-1, 6]],
    }

    @pytest.mark.parametrize("backend", ["exact", "mpmath", "arb"])
    def test_relu_kink_inside_box(self, backend):
        """z = [-1, 2]; hid = [0, 2]; relu'(z) = [0, 1] (never a branch on the midpoint).

        x_hat = ([0, 2], [-2, 0]); r = x_hat - x = ([-1, 3], [-3, 0]);
        E = (r1² + r2²)/2 = ([0, 9] + [0, 9])/2 = [0, 9]; g = (2/2) r = r;
        dW_dec = g ⊗ hid = ([-2, 6], [-6, 0]); dH = g1 - g2 = [-1, 6] = dZ;
        dW_enc = dZ ⊗ x = ([-6, 6], [-1, 6]); dX = (dZ, dZ).
        Every endpoint is a small integer, so the endpoint backends are exact here.
        Arb keeps radii as 30-bit numbers rounded up (Johansson 2017, §2), so its
        enclosure may exceed these by about 2**-26 relative per operation, and never
        falls short.
        """
        spec, box = straddling_relu()
        e = enclose(spec, box, backend=backend, method="interval")
        for name, bounds in e.items():
            expected = np.array(self.EXPECTED_KINK[name], dtype=float)
            if backend == "arb":
                assert np.all(bounds[..., 0] <= expected[..., 0]), name
                assert np.all(bounds[..., 1] >= expected[..., 1]), name
                slack = 2.0**-20 * (1 + np.abs(expected))  # a few ops of 2**-26 each
                assert np.all(np.abs(bounds - expected) <= slack), name
            else:
                assert bounds.tolist() == expected.tolist(), name

    def test_relu_derivative_at_zero_is_zero(self):
        """relu'(0) = 0 (design §1): a box that pins z = 0 gives dZ = 0 exactly."""
        spec = AutoencoderSpec([[1, -1]], [0], [[1], [1]], [0, 0], "relu")
        e = enclose(spec, Box.point([F(1, 3), F(1, 3)]), backend="exact", method="interval")
        assert e.pre_activation.tolist() == [[0, 0]]
        assert e.gradients["b_enc"].tolist() == [[0, 0]]
        assert e.gradients["W_enc"].tolist() == [[[0, 0], [0, 0]]]

    def test_identity_decimal_strings_exact(self):
        """"0.1" is 1/10: z = 0.1·0.3 + 0.2 = 0.23, x_hat = 3·0.23 − 0.5 = 0.19,
        r = −0.11, E = 0.0121, g = −0.22, dW_dec = −0.0506, dH = dZ = −0.66,
        dW_enc = −0.198, dX = −0.066, all exact decimals."""
        spec = AutoencoderSpec([["0.1"]], ["0.2"], [["3"]], ["-0.5"], "identity")
        v = evaluate(spec, ["0.3"], backend="exact")
        D = lambda s: Fraction(s)  # noqa: E731
        assert v.pre_activation.tolist() == [D("0.23")]
        assert v.output.tolist() == [D("0.19")]
        assert v.reconstruction_error == D("0.0121")
        assert v.gradients["b_dec"].tolist() == [D("-0.22")]
        assert v.gradients["W_dec"].tolist() == [[D("-0.0506")]]
        assert v.gradients["b_enc"].tolist() == [D("-0.66")]
        assert v.gradients["W_enc"].tolist() == [[D("-0.198")]]
        assert v.gradients["input"].tolist() == [D("-0.066")]
        # The enclosure of the point box is the tightest double interval around each value.
        e = enclose(spec, Box.point(["0.3"]), backend="exact", method="interval")
        lo, hi = e.reconstruction_error
        assert lo < D("0.0121") < hi and np.nextafter(lo, 1) == hi

    @pytest.mark.parametrize("backend", ["arb", "mpmath"])
    def test_sigmoid_derivative_peaks_at_zero(self, backend):
        """1-1-1 sigmoid on x in [-1, 1]: hid = [σ(−1), σ(1)], σ' = [σ'(1), 1/4] with 1/4 attained."""
        spec = AutoencoderSpec([[1]], [0], [[1]], [0], "sigmoid")
        g = Box.point([1])
        e = enclose(spec, Box([-1], [1]), backend=backend, grad_output=g, method="interval")
        with flint.ctx.workprec(200):
            s1_true = 1 / (1 + arb(-1).exp())  # σ(1), to 200 bits
            s_minus1_true = 1 - s1_true  # σ(−1)
            ds1_true = s1_true * (1 - s1_true)  # σ'(1)
        s1 = float(s1_true)
        (lo, hi), = e.hidden
        # Tightness, not soundness (that is the property test's job): mpmath's
        # endpoints are within rounding of the range; Arb's 30-bit radius adds 2**-28.
        slack = 1e-14 if backend == "mpmath" else 1e-8
        assert arb(lo) <= s_minus1_true and s1_true <= arb(hi)
        assert hi - lo < (2 * s1 - 1) + slack
        # With g = 1 and W_dec = 1, dZ = σ'(z): its upper end is 1/4 (exactly, for mpmath).
        (dz_lo, dz_hi), = e.gradients["b_enc"]
        assert 0.25 <= dz_hi <= 0.25 + (slack if backend == "arb" else 0)
        assert arb(dz_lo) <= ds1_true and dz_lo > s1 * (1 - s1) - slack

    @pytest.mark.parametrize("backend", ["arb", "mpmath"])
    def test_tanh_derivative_range(self, backend):
        """tanh' over [−1, 2] is [tanh'(2), 1]: the far endpoint gives the minimum."""
        spec = AutoencoderSpec([[1]], [0], [[1]], [0], "tanh")
        e = enclose(spec, Box([-1], [2]), backend=backend, grad_output=Box.point([1]), method="interval")
        (lo, hi), = e.gradients["b_enc"]
        with flint.ctx.workprec(200):
            t2 = 1 - arb(2).tanh() ** 2  # the true tanh'(2), to 200 bits
        slack = 1e-14 if backend == "mpmath" else 1e-8  # see test_sigmoid_derivative_peaks_at_zero
        assert 1.0 <= hi <= 1.0 + (slack if backend == "arb" else 0)
        assert arb(lo) <= t2 and float(t2) - slack < lo


@given(st.data())
def test_enclosures_contain_reference(data):
    """Every rigorous backend encloses the exact / 256-bit reference at sampled points."""
    spec = data.draw(specs(), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    use_mse = data.draw(st.booleans(), label="mse")
    g_box = "mse" if use_mse else data.draw(boxes(spec.input_dim), label="g_box")
    precision = data.draw(st.sampled_from([None, 30, 80]), label="precision")
    backends = ["arb", "mpmath", "fast"] + ([] if spec.activation in TRANSCENDENTAL else ["exact"])
    enclosures = {
        b: enclose(spec, box, grad_output=g_box, backend=b,
                   precision=None if b in ("exact", "fast") else precision, method="interval")
        for b in backends
    }
    xs = data.draw(points_in(box), label="points")
    gs = [None] if use_mse else data.draw(points_in(g_box, count=2), label="g points")
    for x in xs:
        for g in gs:
            ref = reference(spec, x, g)
            for name, e in enclosures.items():
                misses = outside(e, ref)
                assert not misses, (name, misses[:5])
    # All backends enclose the same sets, so they must intersect everywhere.
    for other in ("mpmath", "fast"):
        for (name, a), (_, b) in zip(enclosures["arb"].items(), enclosures[other].items()):
            assert np.all(np.maximum(a[..., 0], b[..., 0]) <= np.minimum(a[..., 1], b[..., 1])), (other, name)


@given(st.data())
def test_float_evaluation_matches_exact_on_dyadic_identity(data):
    """A float64 run of an integer identity model is exact, so it equals the exact backend."""
    spec = data.draw(specs(activations=("identity", "relu")), label="spec")
    spec = AutoencoderSpec(
        np.vectorize(round)(spec.W_enc) if spec.hidden_dim else spec.W_enc,
        [round(v) for v in spec.b_enc],
        np.vectorize(round)(spec.W_dec) if spec.hidden_dim else spec.W_dec,
        [round(v) for v in spec.b_dec],
        spec.activation,
    )
    x = data.draw(st.lists(st.integers(-5, 5), min_size=spec.input_dim, max_size=spec.input_dim))
    exact = evaluate(spec, x, backend="exact")
    run = evaluate(spec, x, backend="float64")
    # (2/d) is not dyadic for d = 3, 5, 6; compare only the forward pass there.
    for (name, a), (_, b) in zip(exact.items(), run.items()):
        if name.startswith("gradients") or name == "reconstruction_error":
            if spec.input_dim not in (1, 2, 4):
                continue
        assert np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float)), name


class TestRefusals:
    def test_exact_refuses_transcendental(self):
        spec = AutoencoderSpec([[1]], [0], [[1]], [0], "tanh")
        with pytest.raises(UnsupportedError, match="backend 'exact' computes exactly .* cannot evaluate 'tanh'"):
            enclose(spec, Box([0], [1]), backend="exact", method="interval")

    def test_float_backend_is_not_an_enclosure(self):
        spec, box = straddling_relu()
        with pytest.raises(UnsupportedError, match="computes points, not enclosures"):
            enclose(spec, box, backend="float64", method="interval")

    def test_unknown_backend(self):
        spec, box = straddling_relu()
        valid = "arb, mpmath, exact, fast, float64, float32"
        with pytest.raises(UnsupportedError, match=f"unknown backend 'gpu'; valid backends are: {valid}"):
            enclose(spec, box, backend="gpu", method="interval")

    def test_unknown_method(self):
        spec, box = straddling_relu()
        with pytest.raises(UnsupportedError, match="unknown method 'magic'; valid methods are: interval"):
            enclose(spec, box, method="magic")

    def test_unknown_semantics(self):
        spec, box = straddling_relu()
        with pytest.raises(UnsupportedError, match="unknown semantics 'float16'; valid: real, float64, float32"):
            enclose(spec, box, semantics="float16", method="interval")

    def test_box_dimension_mismatch(self):
        spec, _ = straddling_relu()
        with pytest.raises(BoxError, match="the box has 3 entries but the model's input_dim is 2"):
            enclose(spec, Box([0, 0, 0], [1, 1, 1]), method="interval")

    def test_grad_output_dimension_mismatch(self):
        spec, box = straddling_relu()
        with pytest.raises(BoxError, match="grad_output has 1 entries but the model's output has 2"):
            enclose(spec, box, grad_output=Box([0], [1]), method="interval")

    def test_grad_output_unknown_string(self):
        spec, box = straddling_relu()
        with pytest.raises(BoxError, match="grad_output must be 'mse' or a Box, got 'l1'"):
            enclose(spec, box, grad_output="l1", method="interval")

    def test_evaluate_refuses_interval_backends(self):
        spec, _ = straddling_relu()
        with pytest.raises(UnsupportedError, match=r"use enclose\(spec, Box.point\(x\), backend='arb'\)"):
            evaluate(spec, [0, 0], backend="arb")

    def test_float_backend_refuses_precision(self):
        spec, box = straddling_relu()
        with pytest.raises(UnsupportedError, match="backend 'float64' has fixed precision 53"):
            evaluate(spec, [0, 0], backend=__import__("verifae").get_backend("float64", 80))


class TestPartBudget:
    """"auto" is cheap by default; `max_parts` is its stated budget."""

    def test_default_budgets(self):
        from verifae.methods import AUTO_BISECT_MAX_DIM, AUTO_PARTS, part_budget
        from verifae.methods.bisect import DEFAULT_BUDGET

        assert part_budget("bisect", 2) == DEFAULT_BUDGET == 128
        assert part_budget("auto", AUTO_BISECT_MAX_DIM) == AUTO_PARTS == 16
        assert part_budget("auto", AUTO_BISECT_MAX_DIM + 1) == 1
        assert part_budget("auto", 784, max_parts=4) == 4

    def test_invalid_budget_is_refused(self):
        spec, box = straddling_relu()
        for method in ("auto", "interval"):
            with pytest.raises(UnsupportedError, match="max_parts must be at least 1, got 0"):
                enclose(spec, box, method=method, max_parts=0)

    def test_budget_is_used(self, monkeypatch):
        """The bisection sees the budget: no part beyond it, none at all for max_parts=1."""
        from verifae import methods
        from verifae.methods import bisect

        calls: list[int] = []
        original = bisect.bisect_bounds

        def counting(spec, box, semantics="real", budget=bisect.DEFAULT_BUDGET):
            calls.append(budget)
            return original(spec, box, semantics, budget)

        monkeypatch.setitem(methods.TIGHTENINGS, "bisect", counting)
        spec, box = straddling_relu()
        enclose(spec, box, method="auto", max_parts=1)
        assert calls == []
        enclose(spec, box, method="auto")
        enclose(spec, box, method="bisect", max_parts=5)
        assert calls == [16, 5]

    def test_more_parts_never_loosen_auto(self):
        spec = AutoencoderSpec([[1, -1], ["1/2", 1]], [0, "0.1"], [[1, "-0.5"], [2, 1]], [0, 0], "tanh")
        box = Box.around([0, 0], 1)
        few = enclose(spec, box, method="auto", max_parts=1)
        many = enclose(spec, box, method="auto", max_parts=64)
        assert (many.output[:, 1] - many.output[:, 0] <= few.output[:, 1] - few.output[:, 0]).all()
        assert (many.output[:, 1] - many.output[:, 0] < few.output[:, 1] - few.output[:, 0]).any()


def test_enclose_many_reports_progress():
    from verifae import enclose_many

    spec, _ = straddling_relu()
    lower = np.array([[-1.0, 0.0], [0.0, 0.0], [0.5, 0.5]])
    seen: list[tuple[int, int]] = []
    enclose_many(spec, (lower, lower + 0.25), method="linear", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_nan_bound_from_a_method_proves_nothing(monkeypatch):
    """np.maximum(lo, nan) is nan: a method's NaN end must read as unbounded, never
    reach the enclosure (it would fail every containment test and mean nothing)."""
    from verifae import methods

    spec, box = straddling_relu()

    def nan_bounds(spec, box, semantics="real"):
        out = {"output": np.full((2, 2), np.nan), "reconstruction_error": np.array([np.nan, np.nan]),
               "residual": np.full((2, 2), np.nan), "dH": np.full((1, 2), np.nan), "dX": np.full((2, 2), np.nan)}
        return out

    monkeypatch.setitem(methods.TIGHTENINGS, "linear", nan_bounds)
    for semantics in ("real", "float32"):
        plain = enclose(spec, box, method="interval", semantics=semantics)
        e = enclose(spec, box, method="linear", semantics=semantics)
        for (name, a), (_, b) in zip(e.items(), plain.items()):
            assert not np.isnan(a).any(), name
            # the gradients are rerun on the fast backend and intersected: never wider
            assert (a[..., 0] >= b[..., 0]).all() and (a[..., 1] <= b[..., 1]).all(), name
        assert np.array_equal(e.output, plain.output)
        assert np.array_equal(e.reconstruction_error, plain.reconstruction_error)


def test_enclose_many_default_quantities_are_v1s():
    """quantities=None (the default) is BATCH_QUANTITIES for an AutoencoderSpec, as before."""
    from verifae import enclose_many
    from verifae.api import BATCH_QUANTITIES

    spec, _ = straddling_relu()
    lower = np.array([[-1.0, 0.0], [0.0, 0.5]])
    default = enclose_many(spec, (lower, lower + 0.5))
    explicit = enclose_many(spec, (lower, lower + 0.5), quantities=BATCH_QUANTITIES)
    assert [name for name, _ in default.items()] == list(BATCH_QUANTITIES) and default.gradients == {}
    assert all(a.tobytes() == b.tobytes() for (_, a), (_, b) in zip(default.items(), explicit.items()))
