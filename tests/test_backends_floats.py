"""The float backends: the parameters are rounded correctly to the format."""

from __future__ import annotations

import numpy as np
import pytest

from verifae import AutoencoderSpec, BoxError, evaluate, get_backend


def test_parameters_round_to_the_format():
    spec = AutoencoderSpec([["0.1"]], [0], [[1]], [0], "identity")
    v32 = evaluate(spec, [1], backend="float32")
    v64 = evaluate(spec, [1], backend="float64")
    assert v32.pre_activation.dtype == np.float32 and v32.pre_activation[0] == np.float32(0.1)
    assert v64.pre_activation[0] == 0.1


def test_overflow_is_ieee():
    spec = AutoencoderSpec([["1e30"]], [0], [["1e30"]], [0], "identity")
    v = evaluate(spec, [1e30], backend="float32")
    assert np.isinf(v.pre_activation[0])  # 1e60 overflows float32


def test_sigmoid_saturates_without_warnings():
    spec = AutoencoderSpec([[1]], [0], [[1]], [0], "sigmoid")
    with np.errstate(all="raise"):
        v = evaluate(spec, [-1000], backend="float64")
    assert v.hidden[0] == 0.0


def test_points_only():
    B = get_backend("float64")
    with pytest.raises(BoxError, match="evaluates points; got a box of positive width"):
        B.interval(np.array([0], dtype=object), np.array([1], dtype=object))
