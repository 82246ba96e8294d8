"""Float semantics: every float32 / float64 run lies in its format's enclosure."""

from __future__ import annotations

import inspect
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifae.activations
import verifae.rounding
from verifae import ACTIVATIONS, AutoencoderSpec, Box, enclose, evaluate
from verifae.activations import TRANSCENDENTAL
from verifae.backends.base import IntervalBackend
from verifae.backends.fast import FastBackend
from verifae.numbers import FLOAT32, FLOAT64
from verifae.rounding import FloatSemantics, gamma, note_texts, notes_in

from .reference import outside, reference
from .strategies import boxes, points_in, specs

FORMATS = ("float64", "float32")


def inside(enclosure, run) -> list[str]:
    """The quantities of a float run that are not inside the enclosure (NaN only if unbounded)."""
    misses = []
    for (name, b), (_, v) in zip(enclosure.items(), run.items()):
        v = np.asarray(v, dtype=np.float64)
        unbounded = np.isinf(b[..., 0]) & np.isinf(b[..., 1])
        ok = ((b[..., 0] <= v) & (v <= b[..., 1])) | unbounded
        if not ok.all():
            misses.append(f"{name}: {v[~ok][:3]} not in {b[~ok][:3].tolist()}")
    return misses


def magnitudes(exponents: tuple[int, int]) -> st.SearchStrategy[Fraction]:
    lo, hi = exponents
    return st.builds(
        lambda sign, m, e: sign * Fraction(m) * Fraction(10) ** e,
        st.sampled_from([-1, 1]),
        st.floats(1.0, 9.99),
        st.integers(lo, hi),
    )


@st.composite
def nasty_cases(draw):
    """Specs and boxes that stress the float semantics."""
    kind = draw(st.sampled_from(["dynamic-range", "cancellation", "saturation", "subnormal", "float32-gap", "plain"]))
    act = draw(st.sampled_from(ACTIVATIONS))
    d, h = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    v = magnitudes((-30, 30)) if kind == "dynamic-range" else magnitudes((-2, 0))
    W_enc = [[draw(v) for _ in range(d)] for _ in range(h)]
    b_enc = [draw(v) for _ in range(h)]
    W_dec = [[draw(v) for _ in range(h)] for _ in range(d)]
    b_dec = [draw(v) for _ in range(d)]
    center = [draw(st.floats(-2, 2, allow_subnormal=False)) for _ in range(d)]
    radius: object = draw(st.sampled_from([0, Fraction(1, 10**6), Fraction(1, 100)]))
    if kind == "cancellation" and d >= 2:
        # z_0 = a·x_0 − a(1 + 2^-40)·x_1 nearly cancels at x_0 = x_1.
        a = draw(v)
        W_enc[0][:2] = [a, -a * (1 + Fraction(1, 2**40))]
        center[1] = center[0]
    elif kind == "saturation":
        b_enc = [draw(st.sampled_from([-1, 1])) * draw(st.sampled_from([40, 100, 1000])) for _ in range(h)]
    elif kind == "subnormal":
        center = [draw(st.sampled_from([5e-324, -5e-324, 1e-310, 1e-40, 0.0])) for _ in range(d)]
        radius = draw(st.sampled_from([0, Fraction(1, 10**315)]))
    elif kind == "float32-gap":
        # A box around 0.1 narrower than a float32 ulp: its float32 rounding leaves the box.
        center = [Fraction(1, 10) + Fraction(k, 10**12) for k in range(d)]
        radius = Fraction(1, 10**11)
    spec = AutoencoderSpec(W_enc, b_enc, W_dec, b_dec, act)
    return spec, Box.around(center, radius)


@settings(max_examples=100)
@given(case=nasty_cases(), data=st.data(), backend=st.sampled_from(["arb", "fast"]),
       method=st.sampled_from(["interval", "linear"]))
def test_float_runs_inside_their_enclosures(case, data, backend, method):
    spec, box = case
    enclosures = {s: enclose(spec, box, semantics=s, backend=backend, method=method) for s in FORMATS}
    for x in data.draw(points_in(box, count=3), label="points"):
        for fmt in FORMATS:
            run = evaluate(spec, x, backend=fmt)
            misses = inside(enclosures[fmt], run)
            assert not misses, (fmt, misses)


@given(st.data())
def test_references_inside_real_and_float_enclosures_contain_real_runs_of_small_specs(data):
    """On the core's random specs: the exact / 256-bit reference lies in the real enclosure,
    and float runs at the same points lie in their format's enclosures, for every backend."""
    spec = data.draw(specs(), label="spec")
    box = data.draw(boxes(spec.input_dim), label="box")
    backend = data.draw(
        st.sampled_from(["arb", "mpmath", "fast"] + ([] if spec.activation in TRANSCENDENTAL else ["exact"]))
    )
    real = enclose(spec, box, backend=backend, method="interval")
    floats = {s: enclose(spec, box, backend=backend, semantics=s, method="interval") for s in FORMATS}
    for x in data.draw(points_in(box, count=2), label="points"):
        assert not outside(real, reference(spec, x, None))
        for fmt in FORMATS:
            assert not inside(floats[fmt], evaluate(spec, x, backend=fmt))


def test_float64_run_outside_real_but_inside_float64():
    """Why the float semantics exists: ten times fl(0.1), summed in float64, is not 1."""
    spec = AutoencoderSpec([[1] * 10], [0], [[1]] * 10, [0] * 10, "identity")
    box = Box.point(["0.1"] * 10)
    run = evaluate(spec, ["0.1"] * 10, backend="float64")
    assert run.pre_activation[0] == 0.9999999999999999
    real = enclose(spec, box, backend="exact", method="interval")
    lo, hi = real.pre_activation[0]
    assert lo == hi == 1.0  # the real value is exactly 1
    assert not (lo <= run.pre_activation[0] <= hi)
    lo, hi = enclose(spec, box, semantics="float64", method="interval").pre_activation[0]
    assert lo <= run.pre_activation[0] <= hi


def test_float32_rounds_parameters_and_inputs():
    """z = fl(0.1)·fl(0.1) in float32 is far (in float32 ulps) from the real 0.01."""
    spec = AutoencoderSpec([["0.1"]], [0], [[1]], [0], "identity")
    run = evaluate(spec, ["0.1"], backend="float32")
    lo, hi = enclose(spec, Box.point(["0.1"]), semantics="float32", method="interval").pre_activation[0]
    assert lo <= run.pre_activation[0] <= hi
    lo64, hi64 = enclose(spec, Box.point(["0.1"]), semantics="float64", method="interval").pre_activation[0]
    assert lo64 <= 0.01 <= hi64 and hi64 - lo64 < hi - lo


@pytest.mark.parametrize("backend", ["arb", "mpmath", "exact", "fast"])
def test_overflow_is_unbounded_and_says_why(backend):
    """1e30 · 1e10 = 1e40 overflows float32 but not float64."""
    spec = AutoencoderSpec([["1e30"]], [0], [[1]], [0], "relu")
    box = Box(["1e10"], ["2e10"])
    e32 = enclose(spec, box, backend=backend, semantics="float32", method="interval")
    assert e32.pre_activation.tolist() == [[-np.inf, np.inf]]
    assert e32.output.tolist() == [[-np.inf, np.inf]]
    assert e32.reconstruction_error.tolist() == [-np.inf, np.inf]
    assert any("can exceed the largest finite float32" in note for note in e32.notes)
    assert not any(np.isnan(b).any() for _, b in e32.items())
    run = evaluate(spec, ["1e10"], backend="float32")
    assert np.isinf(run.pre_activation[0])
    e64 = enclose(spec, box, backend=backend, semantics="float64", method="interval")
    assert np.isfinite(e64.output).all() and e64.notes == ()


def test_parameter_overflowing_the_format():
    spec = AutoencoderSpec([["1e39"]], [0], [[1]], [0], "identity")
    e = enclose(spec, Box([0], [1]), semantics="float32", method="interval")
    assert e.output.tolist() == [[-np.inf, np.inf]]
    assert any("a parameter overflows when rounded to float32" in n for n in e.notes)


def test_unbounded_input_poisons_every_output_of_a_product():
    """inf · 0 is NaN: one overflowing pre-activation makes every output unbounded."""
    spec = AutoencoderSpec([["1e30"], [1]], [0, 0], [[0, 1]], [0], "identity")
    e = enclose(spec, Box(["1e10"], ["1e10"]), semantics="float32", method="interval")
    assert np.isinf(e.pre_activation[0]).all() and np.isfinite(e.pre_activation[1]).all()
    assert np.isinf(e.output).all()


def test_gamma():
    assert gamma(1, FLOAT64) == Fraction(1, 2**53 - 1)
    assert gamma(3, FLOAT32) == Fraction(3, 2**24 - 3)
    with pytest.raises(ValueError):
        gamma(2**24, FLOAT32)


def test_a_residual_that_is_zero_keeps_the_error_inside():
    """Regression (found by hypothesis): W_dec = 0, so x_hat = b_dec = 1/1000 = x exactly and
    E = 0; the 256-bit reference carries r as a tiny ball, whose square reaches below 0."""
    spec = AutoencoderSpec([[0], [0]], [0, 0], [[0, 0]], ["1/1000"], "sigmoid")
    box = Box.point(["1/1000"])
    for backend in ("arb", "mpmath", "fast"):
        e = enclose(spec, box, backend=backend, method="interval")
        assert e.reconstruction_error[0] == 0.0
        assert not outside(e, reference(spec, [Fraction(1, 1000)], None))


def test_notes_travel_with_the_tensors_in_the_order_they_were_written():
    F = FloatSemantics(FastBackend(), FLOAT32)
    box = F.interval_floats(np.array([1e39, 1.0]), np.array([2e39, 2.0]))  # written first
    W = F.constant(np.array([[Fraction(10**39), Fraction(1)]], dtype=object))  # then this
    assert note_texts(box.notes) == ("float32: a box endpoint overflows when rounded to float32",)
    big = F.constant(np.array([Fraction(10**30)], dtype=object))
    product = F.mul(big, big)  # 1e60 exceeds float32's realmax: a third note
    z = F.matvec(W, box)  # the parameter's note first in the operands, the box's written first
    texts = note_texts(notes_in(product, z))
    assert texts == ("float32: a box endpoint overflows when rounded to float32",
                     "float32: a parameter overflows when rounded to float32",
                     "float32: a product can exceed the largest finite float32 (3.403e+38); what depends on "
                     "it is unbounded")
    assert note_texts(notes_in(F.add(product, product))) == texts[2:]  # each note once
    assert notes_in(FastBackend().constant_floats(np.ones(2))) == ()  # other backends' tensors carry none
    assert not hasattr(F, "reasons")  # nothing is stored on the backend
    # every operation the float semantics (and the activations' float error models, through
    # kit.inner) asks of its inner backend is declared on the ABC
    modules = [verifae.rounding, *(m for _, m in inspect.getmembers(verifae.activations, inspect.ismodule))]
    asked = {name for m in modules for name in re.findall(r"\binner\.(\w+)", inspect.getsource(m))}
    assert {"magnitude", "widen", "exceeds", "constant_floats", "activation"} <= asked
    assert all(hasattr(IntervalBackend, name) for name in asked), asked - set(dir(IntervalBackend))
