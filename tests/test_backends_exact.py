"""The exact backend: rational intervals, no rounding, refusal of exp."""

from __future__ import annotations

from fractions import Fraction

import pytest
from flint import fmpq

from verifae import AutoencoderSpec, Box, UnsupportedError, enclose, evaluate, get_backend
from verifae.backends.exact import RationalInterval


def test_interval_operations_are_exact():
    a = RationalInterval(fmpq(-1), fmpq(2))
    b = RationalInterval(fmpq(1, 3), fmpq(1, 2))
    assert (a * b).lo == fmpq(-1, 2) and (a * b).hi == fmpq(1)
    assert (a - b).lo == fmpq(-3, 2) and (a - b).hi == fmpq(5, 3)
    assert a.square().lo == 0 and a.square().hi == 4


def test_evaluate_returns_fractions():
    spec = AutoencoderSpec([["1/3"]], [0], [[3]], [0], "relu")
    v = evaluate(spec, ["0.3"], backend="exact")
    assert v.output.tolist() == [Fraction(3, 10)] and v.reconstruction_error == 0


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "elu"])
def test_refuses_transcendental(activation):
    spec = AutoencoderSpec([[1]], [0], [[1]], [0], activation)
    with pytest.raises(UnsupportedError, match=f"cannot evaluate '{activation}'"):
        enclose(spec, Box([0], [1]), backend="exact", method="interval")
    with pytest.raises(UnsupportedError, match=f"cannot evaluate '{activation}'"):
        evaluate(spec, [0], backend="exact")


def test_refuses_precision():
    with pytest.raises(UnsupportedError, match="backend 'exact' computes exactly and takes no precision"):
        get_backend("exact", 64)
