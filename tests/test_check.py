"""The Float-run check, with numpy, explicit loops and (when installed) PyTorch."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import ACTIVATIONS, AutoencoderSpec, Box, LayeredSpec, enclose, enclose_layered, evaluate
from verifae.check import check, sample_points
from verifae.errors import SpecError

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def random_spec(rng, d, h, act, scale=1.0):
    return AutoencoderSpec(
        rng.normal(size=(h, d)) * scale, rng.normal(size=h), rng.normal(size=(d, h)) * scale, rng.normal(size=d), act
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_run_inside(activation):
    rng = np.random.default_rng(7)
    spec = random_spec(rng, 6, 3, activation)
    box = Box.around(rng.random(6), "0.05")
    result = check(spec, box, runs=120, seed=1)
    assert result.ok, result
    expected = {"numpy", "loops"} | ({"torch"} if HAVE_TORCH else set())
    for fmt in ("float64", "float32"):
        f = result.formats[fmt]
        assert set(f.implementations) == expected and f.outside == 0
        assert f.runs == sum(f.implementations.values()) and f.implementations["numpy"] == result.points
    assert result.reference.points == result.points and result.reference.outside == 0


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_autograd_gradients_inside_grad_output_box():
    rng = np.random.default_rng(3)
    spec = random_spec(rng, 5, 4, "sigmoid")
    box = Box.around(rng.random(5), "0.1")
    g = Box.around(rng.normal(size=5), "0.5")
    result = check(spec, box, grad_output=g, runs=60)
    assert result.ok and result.formats["float32"].implementations["torch"] == 60


@settings(max_examples=25)
@given(
    act=st.sampled_from(ACTIVATIONS),
    d=st.integers(1, 4),
    h=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 30.0]),
    radius=st.sampled_from(["0", "1e-7", "0.01", "1"]),
)
def test_check_finds_nothing_outside(act, d, h, seed, scale, radius):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, d, h, act, scale)
    result = check(spec, Box.around(rng.normal(size=d), radius), runs=20, seed=seed, method="linear")
    assert result.ok, (result.formats, result.reference)


def test_a_wrong_enclosure_is_reported():
    """The check is not vacuous: a shrunken float32 enclosure yields offenders."""
    rng = np.random.default_rng(0)
    spec = random_spec(rng, 3, 2, "tanh")
    box = Box.around([0.1, 0.2, 0.3], "0.01")
    result = check(spec, box, runs=30, enclosures={"float32": _shrunk_output(spec, box, "float32")},
                   reference=False)
    f = result.formats["float32"]
    assert not result.ok and f.outside > 0 and f.offenders[0].quantity == "output"
    assert result.formats["float64"].outside == 0


def test_overflowing_runs_are_inside_unbounded_enclosures():
    spec = AutoencoderSpec([["1e30"]], [0], [[1]], [0], "sigmoid")
    result = check(spec, Box(["1e9"], ["1e10"]), runs=10)
    assert result.ok and result.formats["float32"].runs > 0


def test_sampling_covers_corners_and_stays_in_the_box():
    spec = AutoencoderSpec(np.ones((2, 3)), [0, 0], np.ones((3, 2)), [0, 0, 0], "tanh")
    box = Box([0, -1, 2], [1, 1, 2])
    points, fixed = sample_points(spec, box, 50)
    assert not fixed.any() and len(points) == 50
    assert np.all(points >= [0, -1, 2]) and np.all(points <= [1, 1, 2])
    corners = {tuple(p) for p in points if p[0] in (0, 1) and p[1] in (-1, 1)}
    assert len(corners) == 4


def test_points_not_representable_are_rounded_once_per_format():
    spec = AutoencoderSpec([[1]], [0], [[1]], [0], "identity")
    points, fixed = sample_points(spec, Box.point(["0.1"]), 5)
    assert fixed.all()
    assert check(spec, Box.point(["0.1"]), runs=5).ok


def test_float32_comparison_is_exact_at_the_endpoints():
    """lo <= v <=> ceil32(lo) <= v for float32 v, including lo between two float32s."""
    from verifae.check import _outward_float32

    one = np.float32(1)
    lo = np.array([1.0 + 2.0**-30, 1.0, -np.inf, 3.5e38])  # just above 1; exactly 1; unbounded; beyond float32
    hi = np.array([2.0, 1.0 - 2.0**-30, np.inf, np.inf])
    lo32, hi32 = _outward_float32(lo, hi)
    assert lo32[0] == np.nextafter(one, np.float32(2)) and lo32[1] == one and lo32[2] == -np.inf
    assert lo32[3] == np.inf and hi32[1] == np.nextafter(one, np.float32(0))
    v = np.array([one, one, one, np.float32(3.4e38)], dtype=np.float32)
    assert ((v >= lo32) & (v <= hi32)).tolist() == [False, False, True, False]
    assert ((v >= lo) & (v <= hi)).tolist() == [False, False, True, False]


def _shrunk_output(spec, box, semantics):
    e = enclose(spec, box, semantics=semantics, method="interval")
    mid = e.output.mean(axis=-1, keepdims=True)
    return type(e)(**{**e.__dict__, "output": np.repeat(mid, 2, axis=-1)})


def test_offenders_name_the_point_of_their_run_across_chunks(monkeypatch):
    """Runs are checked in chunks; an offender's point is the one its run came from."""
    checking = sys.modules["verifae.check"]
    monkeypatch.setattr(checking, "_chunk_size", lambda p: 3)
    rng = np.random.default_rng(5)
    spec = random_spec(rng, 3, 2, "tanh")
    box = Box.around([0.1, 0.2, 0.3], "0.05")
    result = check(spec, box, runs=40, enclosures={"float64": _shrunk_output(spec, box, "float64")},
                   reference=False, keep=1000, torch_worker=False)
    f = result.formats["float64"]
    assert f.outside > 0 and len({tuple(o.point) for o in f.offenders}) > 3
    for o in f.offenders:
        run = evaluate(spec, o.point, backend="float64")  # same point, maybe another summation order
        assert run.output[o.index] == pytest.approx(o.value, rel=1e-12, abs=0)
    # the observed range covers every run and excludes nothing a run reached
    low, high = f.observed["output"]
    assert all(low[o.index] <= o.value <= high[o.index] for o in f.offenders)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_in_a_second_process_checks_the_same_runs():
    rng = np.random.default_rng(11)
    spec = random_spec(rng, 8, 4, "sigmoid")
    box = Box.around(rng.random(8), "0.05")
    shrunk = {"float32": _shrunk_output(spec, box, "float32")}
    here = check(spec, box, runs=50, enclosures=shrunk, reference=False, keep=1000, torch_worker=False)
    there = check(spec, box, runs=50, enclosures=shrunk, reference=False, keep=1000, torch_worker=True)
    for fmt in ("float64", "float32"):
        a, b = here.formats[fmt], there.formats[fmt]
        assert a.implementations == b.implementations and a.implementations["torch"] == 50
        assert (a.runs, a.outside, a.closest_ulps) == (b.runs, b.outside, b.closest_ulps)
        assert [o.__dict__ for o in a.offenders] == [o.__dict__ for o in b.offenders]
        for name in a.observed:
            np.testing.assert_array_equal(a.observed[name], b.observed[name])
    assert any(o.implementation == "torch" for o in there.formats["float32"].offenders)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_runs_here_where_no_second_process_can_start(monkeypatch):
    """A daemonic Dask worker may not have children: PyTorch then runs in this process."""
    from verifae import torch_runs

    class NoChildren:
        def __init__(self, *args, **kwargs):
            raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(torch_runs, "ProcessPoolExecutor", NoChildren)
    monkeypatch.setattr(torch_runs, "_pool", None)
    monkeypatch.setattr(torch_runs, "_failed", False)
    spec = random_spec(np.random.default_rng(2), 4, 3, "relu")
    result = check(spec, Box.around([0.1, 0.2, 0.3, 0.4], "0.1"), runs=20, torch_worker=True)
    assert result.ok and result.formats["float64"].implementations["torch"] == 20
    assert torch_runs._failed and torch_runs._pool is None


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_runs_again_here_when_the_second_process_dies(monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from verifae import torch_runs

    def dead(*args):
        future = Future()
        future.set_exception(BrokenProcessPool("killed"))
        return future

    monkeypatch.setattr(torch_runs, "submit", dead)
    spec = random_spec(np.random.default_rng(4), 4, 3, "tanh")
    result = check(spec, Box.around([0.1, 0.2, 0.3, 0.4], "0.1"), runs=20, torch_worker=True)
    assert result.ok and result.formats["float32"].implementations["torch"] == 20


def test_big_work_goes_to_a_second_process_and_small_work_stays():
    checking = sys.modules["verifae.check"]
    big = AutoencoderSpec(np.ones((64, 784)), np.ones(64), np.ones((784, 64)), np.ones(784), "tanh")
    small = random_spec(np.random.default_rng(0), 8, 3, "tanh")
    assert checking._torch_elsewhere(big, 1000) == HAVE_TORCH
    assert not checking._torch_elsewhere(small, 1000) and not checking._torch_elsewhere(big, 10)


# ---------------------------------------------------------------- layered models

#: every registry entry, a configured one and None (a layer without an activation)
LAYER_ACTIVATIONS = (*ACTIVATIONS, {"name": "leaky_relu", "negative_slope": "0.2"}, None)


def random_layered(rng, sizes, activations, scale=1.0, n_encoder=None):
    """Dense layers sizes[k] -> sizes[k+1] with weights of spread scale/sqrt(fan-in)."""
    layers = [(rng.normal(size=(n_out, n_in)) * scale / np.sqrt(n_in), rng.normal(size=n_out) * 0.5, act)
              for n_in, n_out, act in zip(sizes, sizes[1:], activations)]
    n = n_encoder or len(layers) // 2
    return LayeredSpec(layers[:n], layers[n:])


def _rotated(k: int, depth: int) -> tuple:
    """`depth` activations of LAYER_ACTIVATIONS from the k-th on: every entry appears,
    each next to others."""
    return tuple(LAYER_ACTIVATIONS[(k + j) % len(LAYER_ACTIVATIONS)] for j in range(depth))


def _replace(e, quantity: str, semantics_of=None):
    """`e` with one quantity (an `items()` name) shrunk to the midpoint of its enclosure."""
    def shrunk(b):
        return np.repeat(b.mean(axis=-1, keepdims=True), 2, axis=-1)

    if quantity.startswith("gradients."):
        key = quantity.removeprefix("gradients.")
        return dataclasses.replace(e, gradients={**e.gradients, key: shrunk(e.gradients[key])})
    if quantity.startswith("layers."):
        name, part = quantity.removeprefix("layers.").rsplit(".", 1)
        layers = tuple(dataclasses.replace(f, **{part: shrunk(getattr(f, part))}) if f.name == name else f
                       for f in e.layers)
        return dataclasses.replace(e, layers=layers)
    return dataclasses.replace(e, **{quantity: shrunk(getattr(e, quantity))})


@pytest.mark.parametrize("k", range(len(LAYER_ACTIVATIONS)))
def test_layered_every_run_inside(k):
    """Depth 2-4, every activation entry mixed with others, MSE and a grad_output box."""
    rng = np.random.default_rng(100 + k)
    depth = 2 + k % 3
    sizes = [4, *rng.integers(2, 6, size=depth - 1).tolist(), 4]
    spec = random_layered(rng, sizes, _rotated(k, depth))
    box = Box.around(rng.random(4), "0.05")
    g = Box.around(rng.normal(size=4), "0.25") if k % 2 else "mse"
    result = check(spec, box, grad_output=g, runs=30, seed=k, torch_worker=False)
    assert result.ok, (result.formats, result.reference)
    expected = {"numpy", "loops"} | ({"torch"} if HAVE_TORCH else set())
    for fmt in ("float64", "float32"):
        f = result.formats[fmt]
        assert set(f.implementations) == expected and f.implementations["numpy"] == result.points == 30
        assert {"latent", "output", "reconstruction_error"} <= set(f.observed)
        assert f.observed["latent"][0].shape == (sizes[len(spec.encoder)],)
    assert result.reference.points == 30 and result.reference.outside == 0
    transcendental = any(layer.activation is not None and layer.activation.transcendental for layer in spec.layers)
    assert result.reference.kind == ("arb at 256 bits" if transcendental else "exact rationals")


@pytest.mark.parametrize("grad_output", ["mse", "box"])
def test_a_wrong_layered_enclosure_is_reported_by_name(grad_output):
    """Shrink one layer's pre-activation (float64), one weight gradient (float32) and dX
    (real): each is caught, by every implementation, and named; nothing else is."""
    rng = np.random.default_rng(1)
    spec = random_layered(rng, [3, 4, 2, 4, 3], ("tanh", "elu", "sigmoid", None))
    box = Box.around([0.1, 0.2, 0.3], "0.02")
    g = "mse" if grad_output == "mse" else Box.around([0.5, -1, 0.25], "0.1")
    found = {s: enclose_layered(spec, box, grad_output=g, semantics=s) for s in ("real", "float64", "float32")}
    wrong = {"float64": "layers.encoder.1.pre_activation", "float32": "gradients.encoder.0.weight",
             "real": "gradients.input"}
    shrunk = {s: _replace(e, wrong[s]) for s, e in found.items()}
    result = check(spec, box, grad_output=g, runs=30, enclosures=shrunk, keep=10_000, torch_worker=False)
    assert not result.ok
    for fmt in ("float64", "float32"):
        f = result.formats[fmt]
        assert f.outside == len(f.offenders) > 0
        assert {o.quantity for o in f.offenders} == {wrong[fmt]}
        assert {o.implementation for o in f.offenders} == set(f.implementations)
    assert result.reference.outside > 0 and {o.quantity for o in result.reference.offenders} == {wrong["real"]}
    # the true enclosures pass: the offenders come from the shrinking alone
    assert check(spec, box, grad_output=g, runs=30, enclosures=found, torch_worker=False).ok


def test_v1_and_its_layered_form_are_checked_alike():
    """A v1 spec and LayeredSpec.from_v1 of it sample the same points and run the same
    operations: same runs, same offenders (of a shrunk output), same observed ranges."""
    checking = sys.modules["verifae.check"]
    rng = np.random.default_rng(9)
    spec = random_spec(rng, 5, 3, "sigmoid")
    layered = LayeredSpec.from_v1(spec)
    assert tuple(layer.name for layer in layered.layers) == checking.V1_LAYERS
    box = Box.around(rng.random(5), "0.1")
    np.testing.assert_array_equal(sample_points(spec, box, 60, 3)[0], sample_points(layered, box, 60, 3)[0])
    v1 = {s: enclose(spec, box, semantics=s, method="interval") for s in ("real", "float64", "float32")}
    lay = {s: enclose_layered(layered, box, semantics=s, method="interval") for s in ("real", "float64", "float32")}
    v1["float32"], lay["float32"] = _replace(v1["float32"], "output"), _replace(lay["float32"], "output")
    a = check(spec, box, runs=40, enclosures=v1, keep=1000, torch_worker=False)
    b = check(layered, box, runs=40, enclosures=lay, keep=1000, torch_worker=False)
    for fmt in ("float64", "float32"):
        fa, fb = a.formats[fmt], b.formats[fmt]
        assert fa.implementations == fb.implementations and fa.outside == fb.outside
        assert [o.__dict__ for o in fa.offenders] == [o.__dict__ for o in fb.offenders]
        assert fa.error_samples == fb.error_samples
        np.testing.assert_array_equal(fa.observed["output"], fb.observed["output"])
        np.testing.assert_array_equal(fa.observed["hidden"], fb.observed["latent"])
    assert a.formats["float32"].outside > 0
    assert a.formats["float64"].closest_ulps == b.formats["float64"].closest_ulps
    assert (a.reference.points, a.reference.outside) == (b.reference.points, b.reference.outside)


def test_layered_ascent_reaches_each_outputs_extreme_corner():
    """Every output of a model increasing in each input (positive weights, increasing
    activations) is largest at the upper corner: the ascent toward each output's max and
    min ends there and at the lower corner (the input gradient through every layer)."""
    checking = sys.modules["verifae.check"]
    rng = np.random.default_rng(4)
    sizes = [3, 4, 2, 4, 3]
    layers = [(rng.random((n_out, n_in)) + 0.1, rng.normal(size=n_out), act)
              for n_in, n_out, act in zip(sizes, sizes[1:], ("tanh", "elu", "identity", None))]
    spec = LayeredSpec(layers[:2], layers[2:])
    lo, hi = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 0.5, 3.0])
    X = checking._ascent_points(spec, None, lo, hi, 2 * 3 + 1, np.random.default_rng(0))
    assert X.shape == (7, 3)
    np.testing.assert_array_equal(X[0:6:2], np.tile(hi, (3, 1)))  # toward each output's maximum
    np.testing.assert_array_equal(X[1:6:2], np.tile(lo, (3, 1)))  # and minimum
    assert np.all((lo <= X[6]) & (X[6] <= hi))


def test_layered_enclosures_must_match_the_spec():
    rng = np.random.default_rng(2)
    spec = random_spec(rng, 3, 2, "relu")
    box = Box.around([0.1, 0.2, 0.3], "0.1")
    with pytest.raises(SpecError, match=r"enclosures\['real'\] is of type Enclosure, but a LayeredSpec "
                                        r"is checked against LayeredEnclosures"):
        check(LayeredSpec.from_v1(spec), box, runs=5, enclosures={"real": enclose(spec, box)})
    with pytest.raises(SpecError, match="spec must be an AutoencoderSpec or a LayeredSpec, got str"):
        check("model", box, runs=5)


def test_big_layered_work_goes_to_a_second_process():
    checking = sys.modules["verifae.check"]
    rng = np.random.default_rng(0)
    spec = random_layered(rng, [100, 100, 100], ("tanh", None))  # 20200 parameters: work 10100 per run
    assert checking._torch_elsewhere(spec, 1000) == HAVE_TORCH and not checking._torch_elsewhere(spec, 900)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_layered_torch_in_a_second_process_checks_the_same_runs():
    """The layers (a configured activation among them) reach the PyTorch process intact."""
    rng = np.random.default_rng(12)
    spec = random_layered(rng, [4, 3, 2, 4], ({"name": "leaky_relu", "negative_slope": "0.2"}, "elu", "sigmoid"))
    box = Box.around(rng.random(4), "0.05")
    shrunk = {"float32": _replace(enclose_layered(spec, box, semantics="float32"), "gradients.decoder.0.bias")}
    here = check(spec, box, runs=30, enclosures=shrunk, reference=False, keep=1000, torch_worker=False)
    there = check(spec, box, runs=30, enclosures=shrunk, reference=False, keep=1000, torch_worker=True)
    for fmt in ("float64", "float32"):
        a, b = here.formats[fmt], there.formats[fmt]
        assert a.implementations == b.implementations and a.implementations["torch"] == 30
        assert (a.runs, a.outside, a.closest_ulps) == (b.runs, b.outside, b.closest_ulps)
        assert [o.__dict__ for o in a.offenders] == [o.__dict__ for o in b.offenders]
    assert any(o.implementation == "torch" for o in there.formats["float32"].offenders)


@settings(max_examples=25)
@given(
    depth=st.integers(2, 4),
    d=st.integers(1, 4),
    acts=st.lists(st.sampled_from(LAYER_ACTIVATIONS), min_size=4, max_size=4),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 8.0]),
    radius=st.sampled_from(["0", "1e-7", "0.05", "1"]),
    backend=st.sampled_from(["arb", "fast"]),
    box_g=st.booleans(),
)
def test_layered_check_finds_nothing_outside(depth, d, acts, seed, scale, radius, backend, box_g):
    rng = np.random.default_rng(seed)
    sizes = [d, *rng.integers(1, 5, size=depth - 1).tolist(), d]
    spec = random_layered(rng, sizes, acts[:depth], scale, n_encoder=int(rng.integers(1, depth)))
    g = Box.around(rng.normal(size=d), "0.5") if box_g else "mse"
    result = check(spec, Box.around(rng.normal(size=d), radius), grad_output=g, runs=12, seed=seed,
                   backend=backend, torch_worker=False)
    assert result.ok, (result.formats, result.reference)


class _Bounds(dict):
    """An enclosure as `_Comparison` reads one: quantity -> bounds (..., 2), by items()."""


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["float32", "float64"]), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**32 - 1), st.sampled_from(["tight", "shrunk", "wide", "specials"]))
def test_weight_gradients_given_as_factors_are_checked_as_their_values(fmt, chunks, h, d, seed, kind):
    """`OuterRuns` (each run's fl(dz ⊗ a) as its factors) gives the very verdicts,
    offenders and closest approach that the runs' values give, run by run: with
    bounds at the runs' own extremes (the corner bound is then inconclusive), bounds
    that cut through the runs, wide ones, and factors with inf, NaN, zeros, subnormals
    and overflowing products."""
    from verifae.check import FormatCheck, OuterRuns, _Comparison
    from verifae.numbers import FORMATS

    rng = np.random.default_rng(seed)
    dtype = np.dtype(fmt)
    runs = [OuterRuns(rng.normal(size=(n, h)).astype(dtype), rng.normal(size=(n, d)).astype(dtype))
            for n in rng.integers(1, 6, size=chunks)]
    if kind == "specials":
        pool = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, 3e38, -3e38, 1e300], dtype=np.float64)
        for r in runs:
            for factor in (r.dz, r.a):
                where = rng.random(factor.shape) < 0.3
                with np.errstate(over="ignore"):
                    factor[where] = rng.choice(pool, size=int(where.sum())).astype(dtype)
    values = np.concatenate([r.values() for r in runs])
    with np.errstate(invalid="ignore"):
        low, high = np.nanmin(values, axis=0).astype(np.float64), np.nanmax(values, axis=0).astype(np.float64)
    low, high = np.nan_to_num(low, nan=-1.0), np.nan_to_num(high, nan=1.0)
    if kind == "shrunk":  # some runs outside
        low, high = low + (high - low) * rng.random(low.shape) / 2, high - (high - low) * rng.random(low.shape) / 2
    elif kind == "wide":
        low, high = low - np.abs(low) * 1e-3 - 1e-300, high + np.abs(high) * 1e-3 + 1e-300
    # a second quantity, given value by value, comes first: ties between the two go to it
    other = np.concatenate([r.dz for r in runs])
    with np.errstate(invalid="ignore"):
        o_low, o_high = np.nanmin(other, axis=0).astype(np.float64), np.nanmax(other, axis=0).astype(np.float64)
    enclosure = _Bounds({"other": np.stack([o_low - 1, o_high + 1], axis=-1),
                         "gradients.weight": np.stack([low, high], axis=-1)})
    points = rng.random((len(values), 2))
    results = []
    for factored in (True, False):
        result = FormatCheck()
        comparison = _Comparison(enclosure, {}, FORMATS[fmt], "numpy", points, 1000, result)
        with np.errstate(all="ignore"):
            for r in runs:
                comparison.add({"other": r.dz, "gradients.weight": r if factored else r.values()})
            comparison.finish()
        inside = comparison.inside["gradients.weight"]
        # repr: a NaN run's offender is the same offender
        results.append(repr((result.runs, result.outside, result.closest_ulps, result.closest_quantity,
                             [dataclasses.astuple(o) for o in result.offenders], np.asarray(inside).tolist())))
    assert results[0] == results[1]


def test_the_callers_work_runs_once_after_the_checks_own_work():
    """`while_waiting` (what `bound` writes ahead while PyTorch's process runs) is called
    exactly once, after the numpy runs, the loops and the reference, and is timed."""
    spec = random_spec(np.random.default_rng(5), 4, 3, "tanh")
    timings: dict[str, float] = {}
    calls = []
    result = check(spec, Box.around([0.1, 0.2, 0.3, 0.4], "0.1"), runs=20, torch_worker=False, timings=timings,
                   while_waiting=lambda: calls.append(sorted(timings)))
    assert result.ok and len(calls) == 1
    assert {"check: numpy", "check: loops", "check: reference"} <= set(calls[0])
    assert "check: the caller's work, while PyTorch's process runs" in timings
