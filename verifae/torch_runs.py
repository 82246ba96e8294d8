"""PyTorch's float runs for the Float-run check, and a process to run them beside the rest.

`torch_runs` is the textbook PyTorch code for the spec: the modules of
nn.Sequential(Linear, act, Linear, act, …), in its order, with each layer's
activation module from its registry entry (none for a layer without an activation,
such as a v1 decoder), F.mse_loss against a detached copy of the input, and autograd,
on a batch of points at once as a training step would run it, each point with its
own loss (see `torch_runs`).

Importing PyTorch takes about a second and tearing it down at exit another third of
one, as much as the rest of the check (the batched runs of a 784-64-784 model, 2 ×
1000, take about 0.1 s). On big work the check therefore hands PyTorch to a second
process (`submit`), started ahead of need (`start`) so that the import overlaps the
enclosures. Where a process cannot be started (a daemonic Dask worker, a sandbox
without semaphores) `submit` returns None and the caller runs PyTorch in its own
process: the same runs, only slower.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import multiprocessing
import multiprocessing.util
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from . import workers
from .layered import LayeredParameters

__all__ = ["available", "torch_runs", "start", "submit"]

_pool: ProcessPoolExecutor | None = None
_failed = False


def available() -> bool:
    """True when PyTorch is installed (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def torch_runs(
    p: LayeredParameters, X: np.ndarray, G: np.ndarray | None, chunk: int
) -> Iterator[dict[str, Any]]:
    """Every quantity of the model at each row of X, by PyTorch in the dtype of `p`.

    Yields dicts of quantity -> values stacked along a leading run axis, `chunk` runs
    at a time, named as `LayeredEnclosure.items` names them ("layers.<name>.pre_activation",
    "latent", "gradients.<name>.weight", ...); the weight gradients as their factors
    (`verifae.check.OuterRuns`). G holds the incoming gradient per run, or None for the
    MSE loss.

    The runs are batched, `chunk` points in one forward and one backward pass, as a user
    runs a batch: the Linear layers are matrix-matrix products (BLAS, any summation order
    and FMA, which the float semantics cover), the activations and their derivatives are
    elementwise. Each point has its own loss, F.mse_loss of its row against a detached
    copy of it (reduction "mean": the loss and its gradient 2/d·(x_hat − x) exactly as a
    one-point training step forms them), and the sum of these losses is differentiated:
    a point's gradients depend on its own loss only. The parameters take no gradient (a
    batch's would be the sum over its points); a point's weight gradient is what
    PyTorch's Linear backward gives for that point alone, dzᵀ·a with an inner dimension
    of 1, one rounded product per entry, held as its factors: the pre-activation's
    gradient dz (kept with retain_grad) and the layer's input a.
    """
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return
    from .check import OuterRuns  # imported here: verifae.check imports this module

    np_dtype = p.layers[0].weight.dtype
    dtype = torch.float32 if np_dtype == np.float32 else torch.float64
    steps = []  # per layer, its Linear and its activation module (None: none), in the Sequential's order
    for layer in p.layers:
        out_features, in_features = layer.weight.shape
        linear = torch.nn.Linear(in_features, out_features, dtype=dtype)
        with torch.no_grad():  # the weights exactly: already rounded to the format
            linear.weight.copy_(torch.from_numpy(layer.weight))
            linear.bias.copy_(torch.from_numpy(layer.bias))
        linear.requires_grad_(False)
        act = None if layer.activation is None else layer.activation.torch_module(np_dtype)
        steps.append((layer.name, linear, act))
    latent = f"layers.{p.layers[p.n_encoder - 1].name}.post_activation"
    for start in range(0, len(X), chunk):
        rows = slice(start, min(start + chunk, len(X)))
        x = torch.tensor(X[rows], dtype=dtype, requires_grad=True)
        # the Sequential's modules in its order, keeping each intermediate
        values: dict[str, Any] = {}
        inputs, pre_activations = [], []
        a = x
        for name, linear, act in steps:
            inputs.append(a)
            z = linear(a)
            z.retain_grad()
            pre_activations.append(z)
            a = z if act is None else act(z)
            values[f"layers.{name}.pre_activation"] = z
            values[f"layers.{name}.post_activation"] = a
        x_hat = a
        # The target is a detached copy, so x.grad is the gradient through the network
        # only (design §1), not plus the direct term of the loss.
        target = x.detach()
        loss = torch.stack([F.mse_loss(row, t, reduction="mean") for row, t in zip(x_hat.unbind(0), target.unbind(0))])
        if G is None:
            loss.sum().backward()
        else:
            x_hat.backward(torch.tensor(G[rows], dtype=dtype))
        values["latent"] = values[latent]
        values["output"] = x_hat
        values["reconstruction_error"] = loss
        for (name, _, _), a_in, z in zip(steps, inputs, pre_activations):
            assert z.grad is not None
            dz = z.grad.numpy()
            values[f"gradients.{name}.weight"] = OuterRuns(dz, a_in.detach().numpy())
            values[f"gradients.{name}.bias"] = dz
        values["gradients.input"] = x.grad
        yield {name: v if isinstance(v, (OuterRuns, np.ndarray)) else v.detach().numpy() for name, v in values.items()}


def _import_torch() -> None:
    torch = importlib.import_module("torch")
    # A chunk of points is little work to share: a second thread here would only take
    # the core that the check's own process is using.
    torch.set_num_threads(1)
    # This process only runs the check's PyTorch runs, and the pool sends each result
    # back (a SimpleQueue: written before the next task is taken) before it tells the
    # process to exit. Tearing down the interpreter with PyTorch loaded then takes
    # about a second on a loaded machine, which the parent waits for at its own exit;
    # the last exit handler registered runs first, and leaves at once.
    atexit.register(os._exit, 0)


def start() -> bool:
    """Start the PyTorch process (once) and import PyTorch in it; False where none can start."""
    global _pool
    if _pool is None and not _failed:
        try:
            # "spawn", not fork: a forked child of a process that has started threads
            # (BLAS, PyTorch) can deadlock (see verifae.report).
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_import_torch)
            # Submitting starts the process (and its PyTorch import) without waiting for it;
            # where no process may start (a daemonic parent), this raises at once.
            _pool.submit(int)
            # A process that is itself a multiprocessing child (a report worker) joins its
            # children at exit before the atexit hook that stops idle pool workers would
            # run, so the idle PyTorch process and its parent would wait for each other
            # forever. Finalizers with a priority run before that join; this one waits for
            # the process to leave, and runs before the pool's queues close theirs (10).
            multiprocessing.util.Finalize(None, _shutdown, kwargs={"wait": True}, exitpriority=100)
        except Exception:  # noqa: BLE001 - any failure to start means: run in this process
            _shutdown(wait=False, broken=True)
    return _pool is not None


def submit(fn: Callable[..., Any], *args: Any) -> Future | None:
    """Run fn(*args) in the PyTorch process; None when no such process can run here."""
    if not start() or _pool is None:  # start() is True exactly when there is a pool
        return None
    try:
        return _pool.submit(fn, *args)
    except Exception:  # noqa: BLE001 - a broken pool: the caller runs fn itself
        _shutdown(wait=False, broken=True)
        return None


def stop(*, terminate: bool = False) -> None:
    """Let the PyTorch process exit (its teardown overlaps whatever comes next); a later
    `start` begins a new one.

    With `terminate`, end it at once: a process started ahead of a check that turned out
    not to need it (`verifae bound` starts it before it knows the model's size) may still
    be importing PyTorch, and the interpreter's exit waits for the pool's process, so
    letting it finish would cost a small case the second or two of that import."""
    global _pool
    if terminate and _pool is not None:
        workers.terminate(_pool)
        _pool = None
    _shutdown(wait=False)


def _shutdown(*, wait: bool, broken: bool = False) -> None:
    """Stop the process; a broken one is not started again (the caller runs PyTorch itself)."""
    global _pool, _failed
    if _pool is not None:
        _pool.shutdown(wait=wait, cancel_futures=broken)
    _pool = None
    _failed = _failed or broken
