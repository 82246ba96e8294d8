"""verifae.importers.torch_module: live nn.Sequentials in, exactly; everything else refused."""

from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction

import numpy as np
import pytest

from verifae import LayeredSpec, SpecError, from_torch
from verifae.activations import REGISTRY, get_activation
from verifae.layered import gradient_names

torch = pytest.importorskip("torch")
nn = torch.nn

from verifae.importers import to_torch  # noqa: E402
from verifae.importers.torch_module import torch_activation  # noqa: E402


def seeded(seed: int = 0):
    torch.manual_seed(seed)
    return nn


def nested(dtype=torch.float32) -> nn.Sequential:
    seeded()
    return nn.Sequential(OrderedDict(
        encoder=nn.Sequential(nn.Linear(6, 4, dtype=dtype), nn.LeakyReLU(0.2), nn.Linear(4, 2, dtype=dtype),
                              nn.ELU(0.5)),
        decoder=nn.Sequential(nn.Linear(2, 4, dtype=dtype), nn.Tanh(), nn.Linear(4, 6, bias=False, dtype=dtype),
                              nn.Sigmoid()),
    ))


def assert_exact(spec: LayeredSpec, module: nn.Module) -> None:
    """Every parameter is the exact binary value of the tensor entry (Fraction(float(v)))."""
    params = dict(module.named_parameters())
    for layer in spec.layers:
        W = params[f"{layer.name}.weight"].detach().double().numpy()
        assert layer.weight.shape == W.shape
        assert all(q == Fraction(float(v)) for q, v in zip(layer.weight.ravel(), W.ravel()))
        if f"{layer.name}.bias" in params:
            b = params[f"{layer.name}.bias"].detach().double().numpy()
            assert all(q == Fraction(float(v)) for q, v in zip(layer.bias, b))
        else:
            assert all(q == 0 for q in layer.bias)


def test_a_nested_sequential_is_read_exactly_with_its_split_and_names():
    m = nested()
    spec = from_torch(m)
    assert [layer.name for layer in spec.encoder] == ["encoder.0", "encoder.2"]
    assert [layer.name for layer in spec.decoder] == ["decoder.0", "decoder.2"]
    assert [layer.activation_name for layer in spec.layers] == ["leaky_relu", "elu", "tanh", "sigmoid"]
    # the slope is the double PyTorch holds (0.2 is not 1/5 there), exactly
    assert spec.encoder[0].activation == get_activation({"name": "leaky_relu", "negative_slope": Fraction(0.2)})
    assert spec.encoder[1].activation.alpha == Fraction(1, 2)
    assert_exact(spec, m)
    # gradients are keyed as PyTorch's named_parameters (plus the bias-less layer's zero bias)
    names = {n for n in gradient_names(spec) if n != "input"}
    assert {n for n, _ in m.named_parameters()} <= names


def test_float64_parameters_keep_every_bit():
    m = nested(torch.float64)
    with torch.no_grad():
        m.encoder[0].weight[0, 0] = 0.1  # not a float32
    spec = from_torch(m)
    assert spec.encoder[0].weight[0, 0] == Fraction(0.1) != Fraction(1, 10)
    assert_exact(spec, m)


@pytest.mark.parametrize("build", [
    lambda: nested(),
    lambda: seeded(1).Sequential(nn.Flatten(), nn.Linear(6, 3), nn.ReLU(inplace=True), nn.Identity(),
                                 nn.Linear(3, 6), nn.Unflatten(1, (2, 3))),
    lambda: seeded(2).Sequential(nn.Linear(6, 5), nn.Sequential(nn.Linear(5, 2), nn.Sigmoid()), nn.Linear(2, 6)),
])
def test_module_to_spec_to_module_gives_the_same_float32_outputs_bit_for_bit(build):
    m = build()
    spec = from_torch(m, split=None if "encoder" in dict(m.named_children()) else 2 if len(m) == 3 else 1)
    rebuilt = to_torch(spec, "float32")
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(3)) * 4 - 2
    with torch.no_grad():
        expected = m(x.reshape(64, 6)).reshape(64, -1)
        got = rebuilt(x)
    assert got.dtype == torch.float32 and torch.equal(got, expected)
    # and back again: the same exact weights; an activation parameter is the float32 the
    # rebuilt module holds (0.2 as a double, rounded to float32 as PyTorch's kernel does)
    again = from_torch(rebuilt)
    for a, b in zip(spec.layers, again.layers):
        assert (a.weight == b.weight).all() and (a.bias == b.bias).all()
        assert a.activation_name == b.activation_name
        for key, value in (a.activation.config().items() if a.activation else ()):
            if key != "name":
                assert Fraction(b.activation.config()[key]) == Fraction(float(np.float32(Fraction(value))))
    assert len(again.encoder) == len(spec.encoder)


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if n != "identity"))
def test_every_registry_activation_maps_back_from_its_own_module(name):
    """The torch class -> entry mapping is derived from the entries, so every entry
    (softplus, silu, gelu too once they are registered) comes back from its module, its
    parameters as the doubles the module holds."""
    entry = REGISTRY[name]
    module = entry.torch_module(np.float64)
    params = {k: Fraction(float(getattr(module, k))) for k in entry.config() if k != "name"}
    expected = get_activation({"name": name, **params}) if params else entry
    assert torch_activation(module, "act") == expected


def test_parameters_that_are_not_the_defaults_are_read():
    assert torch_activation(nn.LeakyReLU(0.25)) == get_activation({"name": "leaky_relu", "negative_slope": "0.25"})
    assert torch_activation(nn.ELU(alpha=3.0, inplace=True)) == get_activation({"name": "elu", "alpha": 3})


class MyReLU(nn.ReLU):
    def forward(self, x):
        return x * 2


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 2))
        self.decoder = nn.Sequential(nn.Linear(2, 4))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def hooked() -> nn.Sequential:
    m = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 4))
    m[1].register_forward_hook(lambda mod, inp, out: out * 0)
    return m


def nan_weight() -> nn.Sequential:
    m = nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 4))
    with torch.no_grad():
        m[1].weight[1, 0] = float("nan")
    return m


def inf_bias() -> nn.Sequential:
    m = nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 4))
    with torch.no_grad():
        m[0].bias[1] = float("inf")
    return m


REFUSALS = [
    (lambda: nn.Linear(4, 4), {}, r"the model \(torch.nn.Linear\) is not an nn.Sequential$"),
    (Autoencoder, {}, r"is not an nn.Sequential: its forward is code verifae does not read.*OrderedDict\(encoder="),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.Conv1d(1, 1, 1), nn.Linear(2, 4)), {"split": 1},
     r"module '1' \(torch.nn.Conv1d\) is not supported: verifae reads nn.Linear, nn.Identity and the activations"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.Dropout(), nn.Linear(2, 4)), {"split": 1},
     r"module '1' \(torch.nn.Dropout\) is not supported.*Dropout changes nothing in eval mode"),
    (lambda: nn.Sequential(nn.Linear(4, 2), MyReLU(), nn.Linear(2, 4)), {"split": 1},
     r"module '1' \(.*MyReLU\) is not supported"),
    (lambda: nn.Sequential(nn.ReLU(), nn.Linear(4, 2), nn.Linear(2, 4)), {"split": 1},
     r"module '0' \(torch.nn.ReLU\) comes before any nn.Linear"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Tanh(), nn.Linear(2, 4)), {"split": 1},
     r"module '2' \(torch.nn.Tanh\) follows the activation '1' of the same Linear '0'; a layer has one activation"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.LeakyReLU(-0.5), nn.Linear(2, 4)), {"split": 1},
     r"module '1' \(torch.nn.LeakyReLU\): leaky_relu: negative_slope must lie in \[0, 1\]"),
    (hooked, {"split": 1}, r"module '1' \(torch.nn.ReLU\) has forward hooks, which can change what it computes"),
    (lambda: nn.Sequential(nn.Flatten(0), nn.Linear(4, 2), nn.Linear(2, 4)), {"split": 1},
     r"module '0' \(torch.nn.Flatten\) has start_dim=0, end_dim=-1; only nn.Flatten\(\)"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.Flatten(), nn.Linear(2, 4)), {"split": 1},
     r"Flatten is accepted only before the first layer"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 4), nn.Unflatten(1, (3, 3))), {"split": 1},
     r"the last module \(torch.nn.Unflatten\) makes \(3, 3\) of 9 values, but the decoder gives 4"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 4)), {},
     r"the model has 2 dense layers and nothing names its encoder and decoder: say where the encoder ends with "
     r"split=N"),
    (lambda: nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 4)), {"split": 2},
     r"split must be a whole number from 1 to 1 .* got 2"),
    (nested, {"split": 1}, r"split=1, but the module's encoder has 2 Linear layers"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Linear(2, 4)), {"split": 1},
     r"1: weight has shape \(4, 2\) but the previous layer 0 .* gives 3 values"),
    (nan_weight, {"split": 1}, r"1.weight\[1, 0\] is nan: NaN and infinite weights describe no model"),
    (inf_bias, {"split": 1}, r"0.bias\[1\] is inf: NaN and infinite weights"),
    (lambda: "not a module", {}, r"expected a torch.nn.Module, got str"),
]


@pytest.mark.parametrize("build, kwargs, message", REFUSALS)
def test_refusals_name_the_module_and_its_type(build, kwargs, message):
    with pytest.raises(SpecError, match=message):
        from_torch(build(), **kwargs)


def test_gelu_tanh_is_not_verifaes_gelu():
    """GELU(approximate="tanh") computes another function: refused, by attribute once gelu
    is registered (the entry's own module has approximate="none"), else as unsupported."""
    m = nn.Sequential(nn.Linear(4, 2), nn.GELU(approximate="tanh"), nn.Linear(2, 4))
    message = (r"has approximate='tanh', which computes something else than verifae's gelu"
               if "gelu" in REGISTRY else r"module '1' \(torch.nn.GELU\) is not supported")
    with pytest.raises(SpecError, match=message):
        from_torch(m, split=1)


def test_global_forward_hooks_are_refused():
    handle = torch.nn.modules.module.register_module_forward_hook(lambda mod, inp, out: out)
    try:
        with pytest.raises(SpecError, match="global forward hooks are registered"):
            from_torch(nested())
    finally:
        handle.remove()
    from_torch(nested())
