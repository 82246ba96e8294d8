"""Optimised relaxation slopes (α-CROWN) for layered models.

A relu neuron whose pre-activation straddles 0 is relaxed from below by a line
through the origin; CROWN picks its slope (0 or 1), but every slope α in [0, 1] is
sound: relu(z) = max(z, 0) >= α z for every real z (z >= 0: z >= α z as α <= 1;
z < 0: 0 >= α z as α >= 0). The same holds for leaky_relu with negative slope s in
[0, 1] and α in [s, 1] (z < 0: s z >= α z as α >= s). So the slopes can be chosen
to tighten the bounds (Xu et al., "Fast and complete", ICLR 2021: α-CROWN), per
bounded row and per side: for each hidden layer's pre-activation rows in turn (so
later layers are relaxed over tighter intervals), then for the output and the
residual rows, each with its own α.

Only activations whose entry offers such lines (`Activation.origin_slopes`: relu and
leaky_relu) are optimised: those lines need no offset proof (offset 0, exactly, by the
argument above), while a smooth activation's offsets would have to be proven by Arb
for every slope the optimiser tries.

The optimiser (projected Adam steps on the sum of the row bounds, in PyTorch's
float32) needs no rigour: whatever slopes it returns are clipped into [s, 1] and the
bounds are then recomputed rigorously by `crown.back_substitute` with those slopes,
like any other CROWN bound (outward rounding, float error terms). PyTorch is an
optional dependency: without it, alpha=True raises UnsupportedError.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ..backends.fast import FastTensor
from ..errors import UnsupportedError
from .base import as_bounds
from .crown import Form, Network, back_substitute, crown_result, finish, minus_identity, output_forms, start_rows

__all__ = ["alpha_result", "slope_floor"]

#: projected Adam: steps and learning rate (α-CROWN's defaults are of this order)
STEPS = 20
LEARNING_RATE = 0.2
#: the optimiser's arithmetic: it needs no rigour (the final pass has it), float32 is faster
DTYPE = "float32"


def slope_floor(act: Any) -> float | None:
    """The smallest lower-line slope through the origin that is sound everywhere, as a
    double (the entry's `origin_slopes`: relu 0, leaky_relu the smallest double >= s; all
    such slopes up to 1), or None when the activation has no such lines."""
    if act is None:
        return None
    slopes = act.origin_slopes()
    if slopes is None:
        return None
    assert slopes[1] == 1.0  # the optimiser projects on [floor, 1]
    return slopes[0]


def _free(net: Network, j: int) -> tuple[np.ndarray, float] | None:
    """(mask of the neurons of layer j whose lower slope may move, its floor), or None."""
    act, lines = net.acts[j], net.lines[j]
    floor = slope_floor(act)
    if floor is None or lines is None:
        return None
    lo, hi = net.B.bounds(net.pre[j])[..., 0], net.B.bounds(net.pre[j])[..., 1]
    mask = (lo < 0) & (hi > 0) & np.isfinite(lo) & np.isfinite(hi)
    return (mask, floor) if mask.any() else None


def alpha_result(net: Network, steps: int | None = None, lr: float | None = None) -> dict[str, np.ndarray]:
    """Every bound of `crown_bounds` with optimised slopes (`net` fresh from
    `crown.prepare_network`): each hidden pre-activation bounded with slopes optimised for
    its own rows (∩ the fixed slopes' bounds), then the output and the residual with
    slopes optimised for theirs (∩ the fixed slopes' bounds over the same intermediate
    bounds). The steps and the learning rate default to the module's STEPS and
    LEARNING_RATE."""
    steps = STEPS if steps is None else steps
    lr = LEARNING_RATE if lr is None else lr
    if all(slope_floor(act) is None for act in net.acts[:-1]):
        return crown_result(net)  # no hidden relu / leaky_relu: no slope to optimise
    if importlib.util.find_spec("torch") is None:
        raise UnsupportedError("alpha=True optimises the slopes with PyTorch, which is not installed "
                               "(pip install torch); use alpha=False")
    result = crown_result(net, tighten=lambda n, k: _layer_bounds(n, k, steps, lr))
    final = _final_bounds(net, steps, lr)
    if final is not None:
        for key in ("output", "residual", "reconstruction_error"):
            lo = np.maximum(result[key][..., 0], final[key][..., 0])
            hi = np.minimum(result[key][..., 1], final[key][..., 1])
            result[key] = np.stack([lo, hi], axis=-1)
    return result


def _slopes(net: Network, free: dict[int, tuple[np.ndarray, float]], target: int, reps: int, steps: int,
            lr: float) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per free layer j, the (upper pass, lower pass) slopes, rows × n_j, clipped into the
    sound range [s, 1], NaN where the neuron keeps the entry's line."""
    chosen = {up: _optimise(net, free, up, steps, lr, target, reps) for up in (True, False)}
    slopes = {}
    for j, (mask, floor) in free.items():
        pair = [np.where(mask[None, :], np.clip(chosen[up][j], floor, 1.0), np.nan) for up in (True, False)]
        slopes[j] = (pair[0], pair[1])
    return slopes


def _layer_bounds(net: Network, k: int, steps: int, lr: float) -> FastTensor | None:
    """A rigorous bound of the hidden pre-activation z_k with optimised slopes, or None."""
    free = {j: f for j in range(k) if (f := _free(net, j)) is not None}
    if not free:
        return None
    B = net.B
    slopes = _slopes(net, free, k, 1, steps, lr)
    upper, lower = back_substitute(net, k, *start_rows(net, k), slopes=slopes)
    with np.errstate(invalid="ignore", over="ignore"):
        lo, hi = lower.concretize(B, net.x, up=False), upper.concretize(B, net.x, up=True)
    bounds = as_bounds(np.stack([lo, hi], axis=-1))
    return B.interval_floats(bounds[..., 0], bounds[..., 1])


def _final_bounds(net: Network, steps: int, lr: float) -> dict[str, np.ndarray] | None:
    """The bounds of `crown.finish` for the output and the residual with optimised slopes
    (`net` after `crown.propagate`); None when no neuron has a slope to optimise."""
    L = net.depth - 1
    free = {j: f for j in range(L) if (f := _free(net, j)) is not None}
    if not free:
        return None
    d = net.weights[L].shape[0]
    slopes = _slopes(net, free, L, 2, steps, lr)
    z_forms = back_substitute(net, L, *start_rows(net, L, rows=2), slopes=slopes)
    upper, lower = output_forms(net, z_forms)
    half = lambda f, part: Form(f.Lam[part], f.const[part], f.slack[part])  # noqa: E731
    first, second = slice(0, d), slice(d, 2 * d)
    out_forms = (half(upper, first), half(lower, first))
    res_forms = (minus_identity(net.B, half(upper, second)), minus_identity(net.B, half(lower, second)))
    return finish(net, out_forms, res_forms)


def _optimise(net: Network, free: dict[int, tuple[np.ndarray, float]], up: bool, steps: int,
              lr: float, target: int, reps: int) -> dict[int, np.ndarray]:
    """Slopes (rows × n_j per free layer) that make the (non-rigorous, `DTYPE`) upper (`up`)
    or lower bounds of the target's rows small or large: Adam on their sum, projected on
    [s, 1] after each step, keeping each row's best. Target L with reps = 2: the output's
    d rows, then the residual's d rows (through the last activation's lines, minus x);
    a hidden target k with reps = 1: the rows of z_k."""
    import torch

    B = net.B
    L = net.depth - 1
    dtype = getattr(torch, DTYPE)
    mid = lambda t: torch.from_numpy(np.mean(B.bounds(t), axis=-1)).to(dtype)  # noqa: E731
    W = [mid(w) for w in net.weights[:target + 1]]
    b = [mid(v) for v in net.biases[:target + 1]]
    x_bounds = B.bounds(net.x)
    x_mid = torch.from_numpy(np.mean(x_bounds, axis=-1)).to(dtype)
    x_rad = torch.from_numpy((x_bounds[..., 1] - x_bounds[..., 0]) / 2).to(dtype)
    m = W[target].shape[0]
    R = reps * m
    final = target == L and reps == 2
    last = net.lines[L] if final else None
    if last is None:
        scale = torch.ones(R, dtype=dtype)
    else:  # the last activation's line scales each row (for a slope >= 0, the same side)
        a = last.aU if up else last.aL
        scale = torch.from_numpy(np.tile(np.where(a >= 0, a, 1.0), 2)).to(dtype)
    d = x_mid.shape[0]
    eye = torch.zeros(R, d, dtype=dtype)
    if final:
        eye[m:] = torch.eye(d, dtype=dtype)
    lines = {j: tuple(torch.from_numpy(np.clip(np.nan_to_num(v), -1e30, 1e30)).to(dtype)
                      for v in (ln.aL, ln.cL, ln.aU, ln.cU))
             for j, ln in enumerate(net.lines[:target]) if ln is not None}
    params = {}
    for j, (mask, _) in free.items():
        start = np.broadcast_to(net.lines[j].aL, (R, len(mask))).copy()  # type: ignore[union-attr]
        params[j] = torch.tensor(start, dtype=dtype, requires_grad=True)
    masks = {j: torch.from_numpy(mask) for j, (mask, _) in free.items()}
    floors = {j: floor for j, (_, floor) in free.items()}
    sign = 1.0 if up else -1.0

    def bound() -> Any:
        Lam = W[target].repeat(reps, 1)
        c = b[target].repeat(reps)
        for j in range(target - 1, -1, -1):
            if j in lines:
                aL, cL, aU, cU = lines[j]
                if j in params:
                    aL = torch.where(masks[j], params[j], aL)
                    cL = torch.where(masks[j], torch.zeros_like(cL), cL)
                pos, neg = Lam.clamp(min=0), Lam.clamp(max=0)
                if up:
                    c = c + pos @ cU + (neg * cL).sum(-1)
                    Lam = pos * aU + neg * aL
                else:
                    c = c + (pos * cL).sum(-1) + neg @ cU
                    Lam = pos * aL + neg * aU
            c = c + Lam @ b[j]
            Lam = Lam @ W[j]
        Lam = Lam * scale[:, None] - eye
        c = c * scale
        return Lam @ x_mid + sign * (Lam.abs() @ x_rad) + c

    optimiser = torch.optim.Adam(list(params.values()), lr=lr)
    best = {j: p.detach().clone() for j, p in params.items()}
    with torch.no_grad():
        best_value = bound()
    for _ in range(steps):
        optimiser.zero_grad()
        value = bound()
        (sign * value).sum().backward()
        optimiser.step()
        with torch.no_grad():
            for j, p in params.items():
                p.clamp_(floors[j], 1.0)
            value = bound()
            better = (sign * value < sign * best_value)
            best_value = torch.where(better, value, best_value)
            for j, p in params.items():
                best[j] = torch.where(better[:, None], p, best[j])
    return {j: v.to(torch.float64).numpy().copy() for j, v in best.items()}
