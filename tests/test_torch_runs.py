"""PyTorch's runs in a second process: started ahead of need, and never a hang at exit."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None

CHILD = textwrap.dedent('''
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np


    def job():
        from verifae import AutoencoderSpec, Box, check
        rng = np.random.default_rng(0)
        spec = AutoencoderSpec(rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(5, 3)),
                               rng.normal(size=5), "tanh")
        result = check(spec, Box.around(rng.random(5), "0.1"), runs=20, torch_worker=True, method="interval")
        return result.formats["float32"].implementations["torch"]


    if __name__ == "__main__":
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            print(pool.submit(job).result())
''')


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_a_child_process_with_a_torch_process_exits(tmp_path):
    """Regression: a report worker (a multiprocessing child) that had started the PyTorch
    process hung at exit, joining its idle child, which waited for work forever."""
    script = tmp_path / "child_job.py"
    script.write_text(CHILD)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "20"


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("fmt", ["float32", "float64"])
def test_layered_runs_give_every_quantity_of_the_enclosure(fmt):
    """nn.Sequential(Linear, act, …) from the layers: every quantity `LayeredEnclosure`
    names, in the format, stacked per run whatever the chunk size."""
    import numpy as np

    from verifae import Box, LayeredSpec, enclose_layered
    from verifae.backends import get_backend
    from verifae.check import OuterRuns
    from verifae.layered import layered_parameters
    from verifae.torch_runs import torch_runs

    def values(chunk):  # the weight gradients as every run's values
        return {name: v.values() if isinstance(v, OuterRuns) else v for name, v in chunk.items()}

    rng = np.random.default_rng(0)
    spec = LayeredSpec([(rng.normal(size=(3, 4)), rng.normal(size=3), "elu"), (rng.normal(size=(2, 3)), [0, 0])],
                       [(rng.normal(size=(4, 2)), rng.normal(size=4), "sigmoid")])
    p = layered_parameters(get_backend(fmt), spec)
    X = rng.random((5, 4)).astype(fmt)
    for G in (None, rng.normal(size=(5, 4)).astype(fmt)):
        whole = [values(c) for c in torch_runs(p, X, G, 5)]
        parts = [values(c) for c in torch_runs(p, X, G, 2)]
        assert len(whole) == 1 and [len(c["output"]) for c in parts] == [2, 2, 1]
        e = enclose_layered(spec, Box.around([0.5] * 4, "0.5"))
        assert set(whole[0]) == {name for name, _ in e.items()}
        for name, bounds in e.items():
            assert whole[0][name].dtype == np.dtype(fmt) and whole[0][name].shape == (5, *bounds.shape[:-1])
            np.testing.assert_array_equal(whole[0][name], np.concatenate([c[name] for c in parts]))
        np.testing.assert_array_equal(whole[0]["latent"], whole[0]["layers.encoder.1.post_activation"])
        # encoder.1 has no activation: its post-activation is its pre-activation
        np.testing.assert_array_equal(whole[0]["layers.encoder.1.post_activation"],
                                      whole[0]["layers.encoder.1.pre_activation"])


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("fmt", ["float32", "float64"])
def test_batched_runs_give_each_points_own_loss_and_weight_gradient(fmt):
    """The batched runs keep each point's own quantities: its loss and the loss's
    gradient are those of a one-point training step (F.mse_loss of the point alone), and
    the weight gradient as factors is what autograd forms for one point: in a one-point
    run, linear.weight.grad is bit for bit fl(dz ⊗ a) (dzᵀ·a with an inner dimension of
    1, one rounded product per entry)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from verifae import LayeredSpec
    from verifae.backends import get_backend
    from verifae.check import OuterRuns
    from verifae.layered import layered_parameters
    from verifae.torch_runs import torch_runs

    rng = np.random.default_rng(1)
    spec = LayeredSpec([(rng.normal(size=(5, 6)), rng.normal(size=5), "tanh")],
                       [(rng.normal(size=(6, 5)), rng.normal(size=6), None)])
    p = layered_parameters(get_backend(fmt), spec)
    X = rng.random((7, 6)).astype(fmt)
    (chunk,) = list(torch_runs(p, X, None, 7))
    dtype = torch.float32 if fmt == "float32" else torch.float64
    enc, dec = (torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0], dtype=dtype) for layer in p.layers)
    with torch.no_grad():
        for linear, layer in zip((enc, dec), p.layers):
            linear.weight.copy_(torch.from_numpy(layer.weight))
            linear.bias.copy_(torch.from_numpy(layer.bias))
    for k in range(len(X)):
        # the batch's point k: its own loss and incoming gradient 2/d·(x_hat − x)
        x_hat, x = torch.from_numpy(chunk["output"][k]), torch.from_numpy(X[k])
        assert chunk["reconstruction_error"][k] == F.mse_loss(x_hat, x).item()
        np.testing.assert_array_equal(chunk["gradients.decoder.0.bias"][k], (2 / 6 * (x_hat - x)).numpy())
        for name, a in (("encoder.0", X), ("decoder.0", chunk["layers.encoder.0.post_activation"])):
            weight = chunk[f"gradients.{name}.weight"]
            assert isinstance(weight, OuterRuns)
            dz = chunk[f"gradients.{name}.bias"][k]
            np.testing.assert_array_equal(weight.values()[k], np.multiply.outer(dz, a[k]))
        # a one-point run: autograd's weight gradient is the rounded outer product of its factors
        enc.zero_grad(set_to_none=True)
        dec.zero_grad(set_to_none=True)
        x = torch.tensor(X[k], requires_grad=True)
        z = enc(x)
        z.retain_grad()
        h = torch.tanh(z)
        x_hat = dec(h)
        x_hat.retain_grad()
        F.mse_loss(x_hat, x.detach()).backward()
        assert enc.weight.grad is not None and dec.weight.grad is not None
        np.testing.assert_array_equal(enc.weight.grad.numpy(), np.multiply.outer(z.grad.numpy(), X[k]))
        np.testing.assert_array_equal(dec.weight.grad.numpy(),
                                      np.multiply.outer(x_hat.grad.numpy(), h.detach().numpy()))


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_terminate_ends_a_process_still_importing_torch_and_a_new_one_can_start(monkeypatch):
    """`verifae bound` starts the process before it knows the model's size; for a small
    model it ends the process at once rather than wait at exit for PyTorch's import."""
    from verifae import torch_runs

    monkeypatch.setattr(torch_runs, "_pool", None)
    monkeypatch.setattr(torch_runs, "_failed", False)
    assert torch_runs.start()
    pool = torch_runs._pool
    assert pool is not None
    processes = list(pool._processes.values())
    assert len(processes) == 1
    torch_runs.stop(terminate=True)
    processes[0].join(30)
    # ended by the signal, not by leaving after its import (exit code 0)
    assert processes[0].exitcode is not None and processes[0].exitcode < 0
    assert torch_runs._pool is None and not torch_runs._failed  # not broken: a later check may start one
    assert torch_runs.start()
    torch_runs.stop(terminate=True)
