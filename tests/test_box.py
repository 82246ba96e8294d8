"""Box construction and its rejections."""

from __future__ import annotations

from fractions import Fraction

import pytest

from verifae import Box, BoxError


def test_around_scalar_and_vector_radius():
    b = Box.around(["0.5", 1], "0.1")
    assert b.lower.tolist() == [Fraction(2, 5), Fraction(9, 10)]
    assert b.upper.tolist() == [Fraction(3, 5), Fraction(11, 10)]
    b = Box.around([0, 0], [1, "1/3"])
    assert b.upper.tolist() == [1, Fraction(1, 3)] and not b.is_point
    assert Box.point([1, 2]).is_point


def test_corners():
    b = Box([0, 5, 0], [1, 5, 2])  # the middle coordinate is fixed: 4 corners
    assert sorted(tuple(c) for c in b.corners()) == [(0, 5, 0), (0, 5, 2), (1, 5, 0), (1, 5, 2)]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Box([0, 2], [1, 1]), r"lower\[1\] = 2.0 exceeds upper\[1\] = 1.0"),
        (lambda: Box([3, 2], [1, 1]), r"lower\[0\] = 3.0 exceeds upper\[0\] = 1.0 \(and 1 more\)"),
        (lambda: Box([0, 0], [1]), "lower has 2 entries but upper has 1"),
        (lambda: Box([[0]], [[1]]), r"lower: expected a vector of numbers, got shape \(1, 1\)"),
        (lambda: Box(["x"], [1]), "lower: 'x' is not a number"),
        (lambda: Box([float("nan")], [1]), "lower: nan is not finite"),
        (lambda: Box.around([0, 0], -1), r"radius\[0\] = -1.0 is negative"),
        (lambda: Box.around([0, 0], [1, "-0.5"]), r"radius\[1\] = -0.5 is negative"),
        (lambda: Box.around([0, 0], [1, 1, 1]), "radius has 3 entries but center has 2"),
        (lambda: Box.around([0], "inf"), "radius: 'inf' is not a number"),
    ],
)
def test_rejections(make, message):
    with pytest.raises(BoxError, match=message):
        make()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_accepts_torch_tensors_and_numpy_float32(dtype):
    """Regression: Box and evaluate refused torch tensors; the values stay exact."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from verifae import AutoencoderSpec, evaluate

    lo = torch.tensor([0.1, -0.25], dtype=getattr(torch, dtype))
    b = Box(lo, lo + 1)
    assert b.lower.tolist() == [Fraction(float(v)) for v in np.array([0.1, -0.25], dtype=dtype)]
    assert Box.around(lo, torch.tensor(0.5)).upper.tolist() == [v + Fraction(1, 2) for v in b.lower]
    assert Box.point(np.array([0.1, 2], dtype=np.float32)).lower[0] == Fraction(float(np.float32(0.1)))
    assert Box.point((1, "1/3")).upper.tolist() == [1, Fraction(1, 3)]
    spec = AutoencoderSpec([[1, 0], [0, 1]], [0, 0], [[1, 0], [0, 1]], [0, 0], "identity")
    out = evaluate(spec, torch.tensor([0.5, 0.25], dtype=getattr(torch, dtype)), backend="exact").output
    assert out.tolist() == [Fraction(1, 2), Fraction(1, 4)]


def test_refuses_arrays_that_hold_no_real_numbers():
    import numpy as np

    with pytest.raises(BoxError, match="lower: .* does not hold real numbers"):
        Box(_ArrayLike(np.array([1 + 2j])), [1])


class _ArrayLike:
    """An object numpy converts through __array__, like a tensor of another library."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a


@pytest.mark.parametrize("value", ["1e400", "-1e400", 10**400, "0x1p1024"])
def test_values_beyond_the_double_range_are_refused(value):
    """As in case files: a float run could not even start from such a box (found by the
    adversarial review: the fast backend's conversion raised OverflowError)."""
    with pytest.raises(BoxError, match="is beyond the double range"):
        Box.point([value])
    with pytest.raises(BoxError, match="is beyond the double range"):
        Box.around(["1e308"], "1e308")
