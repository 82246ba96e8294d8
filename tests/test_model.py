"""AutoencoderSpec validation and the model functions on the float backend."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from verifae import AutoencoderSpec, SpecError, VerifaeError, compression_ratio, get_backend
from verifae.model import GRADIENT_NAMES, backward, forward, forward_batch, mse_grad_output, parameters

GOOD = dict(W_enc=[[1, 2, 3], [4, 5, 6]], b_enc=[0, 0], W_dec=[[1, 0], [0, 1], [1, 1]], b_dec=[0, 0, 0])


def spec(**changes):
    return AutoencoderSpec(**{**GOOD, **changes})


def test_values_are_exact():
    s = spec(b_enc=["0.1", "1/3"], activation="tanh")
    assert s.b_enc.tolist() == [Fraction(1, 10), Fraction(1, 3)]
    assert (s.input_dim, s.hidden_dim, s.activation) == (3, 2, "tanh")
    assert repr(s) == "AutoencoderSpec(input_dim=3, hidden_dim=2, activation='tanh')"


def test_accepts_numpy_and_fractions():
    s = spec(W_enc=np.arange(6.0).reshape(2, 3), b_enc=[Fraction(1, 7), np.float32(0.5)])
    assert s.W_enc[1, 2] == 5 and s.b_enc[0] == Fraction(1, 7)


def test_compression_ratio():
    assert compression_ratio(spec()) == 1.5 and spec().compression_ratio == 1.5


@pytest.mark.parametrize(
    "W_enc",
    [[], np.empty((0, 3)), np.empty((0, 3), dtype=object)],
    ids=["empty-list", "empty-float-array", "empty-object-array"],
)
def test_zero_hidden_units_are_refused(W_enc):
    """Regression: h = 0 was accepted (x_hat = b_dec, no autoencoder at all)."""
    with pytest.raises(SpecError, match="hidden_dim must be at least 1, but W_enc has"):
        AutoencoderSpec(W_enc, [], [[], [], []], [0, 0, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_accepts_torch_tensors_with_their_exact_values(dtype):
    """Regression: torch tensors were refused ("is not a number"), while enclose_many took them."""
    torch = pytest.importorskip("torch")
    t = getattr(torch, dtype)
    W_enc = torch.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], dtype=t, requires_grad=True)
    s = AutoencoderSpec(W_enc, torch.zeros(2, dtype=t), torch.ones(3, 2, dtype=t), (0.0, 0.5, 1), "tanh")
    expected = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], dtype=dtype)
    assert s.W_enc.tolist() == [[Fraction(float(v)) for v in row] for row in expected]  # exact binary values
    assert (s.W_enc[0, 0] == Fraction(1, 10)) is False  # 0.1 is not a float of either format
    assert s.b_dec.tolist() == [0, Fraction(1, 2), 1] and (s.input_dim, s.hidden_dim) == (3, 2)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(b_enc=[0, 0, 0]),
         r"b_enc has shape \(3,\) but W_enc has shape \(2, 3\) \(hidden_dim 2, input_dim 3\), "
         r"so b_enc must have shape \(2,\)"),
        (dict(W_dec=[[1, 0, 0], [0, 1, 0]]),
         r"W_dec has shape \(2, 3\) but W_enc has shape \(2, 3\) .* so W_dec must have shape \(3, 2\)"),
        (dict(b_dec=[0, 0]), r"b_dec has shape \(2,\) but W_enc has shape \(2, 3\) .* so b_dec must have shape \(3,\)"),
        (dict(W_enc=[1, 2, 3]), r"W_enc must be a matrix of shape \(hidden_dim, input_dim\), got shape \(3,\)"),
        (dict(W_enc=[[1, 2, 3], [4, 5]]), "W_enc: ragged nesting"),
        (dict(W_enc=[[], []], W_dec=[], b_dec=[]), r"input_dim must be at least 1, but W_enc has shape \(2, 0\)"),
        (dict(b_enc=[float("nan"), 0]), "b_enc: nan is not finite"),
        (dict(b_dec=[0, float("-inf"), 0]), "b_dec: -inf is not finite"),
        (dict(b_dec=[0, "Infinity", 0]), "b_dec: 'Infinity' is not a number"),
        (dict(b_dec=[0, "zero", 0]), "b_dec: 'zero' is not a number"),
        (dict(activation="selu"), "unknown activation 'selu'; valid activations are: relu, sigmoid, tanh, identity"),
        (dict(activation="ReLU"), "unknown activation 'ReLU'"),
        (dict(activation=None), "unknown activation None"),
    ],
)
def test_rejections(changes, message):
    with pytest.raises(SpecError, match=message) as info:
        spec(**changes)
    assert isinstance(info.value, VerifaeError)


def test_batched_forward_is_forward_per_row():
    # Dyadic data keep every float operation exact: BLAS may sum a batched product in
    # another order than a single one, which is what the float semantics allows for.
    s = spec(activation="relu", b_enc=["-0.5", "-40"])
    B = get_backend("float64")
    p = parameters(B, s)
    X = np.array([[0.25, 0.5, 1.0], [-1.0, 0.5, 2.0]])
    batch = forward_batch(B, p, X)
    for k in range(2):
        single = forward(B, p, X[k])
        for a, b in zip(batch, single):
            assert np.array_equal(a[k], b)


def test_backward_tuple_order_and_shapes():
    s = spec(activation="sigmoid")
    B = get_backend("float32")
    p = parameters(B, s)
    x = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    fwd = forward(B, p, x)
    grads = backward(B, p, x, fwd, mse_grad_output(B, fwd.output, x, 3))
    assert grads._fields == GRADIENT_NAMES
    assert [g.shape for g in grads] == [(2, 3), (2,), (3, 2), (3,), (3,)]
    assert all(g.dtype == np.float32 for g in grads)


def test_parameters_beyond_the_double_range_are_refused():
    with pytest.raises(SpecError, match=r"W_enc: 1e400 is beyond the double range"):
        AutoencoderSpec([["1e400"]], [0], [[1]], [0], "identity")


def test_an_activation_with_parameters():
    """A configured activation is kept as its entry; at the default configuration the
    spec holds the plain name, as before."""
    s = spec(activation={"name": "elu", "alpha": "2"})
    assert s.activation_config == {"name": "elu", "alpha": "2"} and s.activation_name == "elu"
    assert s.activation_entry.config() == {"name": "elu", "alpha": "2"}
    assert repr(s) == "AutoencoderSpec(input_dim=3, hidden_dim=2, activation=Elu(alpha='2'))"
    assert spec(activation={"name": "elu", "alpha": "1"}).activation == "elu"
    assert spec(activation="elu").activation_config == "elu"
    # the float64 backend computes with the configured alpha: elu(−1) = 2(e^−1 − 1) = −1.264…
    # (the default alpha would give −0.632…)
    B = get_backend("float64")
    out = forward(B, parameters(B, spec(activation={"name": "elu", "alpha": "2"}, b_enc=[-1, -1],
                                        W_enc=[[0, 0, 0], [0, 0, 0]])), np.zeros(3))
    assert all(-1.2643 < v < -1.2642 for v in out.hidden)


def test_a_configured_activation_with_bad_parameters():
    with pytest.raises(SpecError, match="negative_slope must lie in"):
        spec(activation={"name": "leaky_relu", "negative_slope": "-1"})


def test_backward_without_weights_leaves_out_the_outer_products_only():
    s = spec(activation="tanh", b_enc=["0.1", "-0.2"])
    B = get_backend("fast")
    p = parameters(B, s)
    x = B.interval_floats(np.array([0.1, -0.2, 0.3]), np.array([0.2, 0.1, 0.35]))
    fwd = forward(B, p, x)
    g = mse_grad_output(B, fwd.output, x, 3)
    full, part = backward(B, p, x, fwd, g), backward(B, p, x, fwd, g, weights=False)
    assert part.W_enc is None and part.W_dec is None
    for name in ("b_enc", "b_dec", "input"):
        np.testing.assert_array_equal(B.bounds(getattr(part, name)), B.bounds(getattr(full, name)))
