"""The Float-run check, with numpy, explicit loops and (when installed) PyTorch."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifae import ACTIVATIONS, AutoencoderSpec, Box, enclose, evaluate
from verifae.check import check, sample_points

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
