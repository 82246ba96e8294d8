"""Linear relaxation (the CROWN / DeepPoly / DeepZ family), for one hidden layer.

For each hidden neuron j with pre-activation z_j in [l_j, u_j] (exact: z is affine
in x, so interval propagation is tight there), a slope a_j and offsets are chosen
with, rigorously,

    a_j z + cL_j  <=  act(z)  <=  a_j z + cU_j      for every z in [l_j, u_j].

(`relaxation` proves the offsets; any slope is sound.) Writing act(z_j) = a_j z_j + t_j
with t_j in [cL_j, cU_j] gives, for every x in the box,

    x_hat = M x + W_dec t + (W_dec diag(a) b_enc + b_dec),   M = W_dec diag(a) W_enc,

and r = x_hat − x the same with M − I. Each coordinate is then concretized exactly
over the box, M_i·c + |M_i|·ρ (centre c, radius ρ), which counts each x_k once
through both layers: the dependency that naive intervals lose. Everything is in
outward-rounded interval arithmetic (the fast backend, and Arb for the offsets),
so the result is a proof, not an estimate.
"""

from __future__ import annotations


import flint
import numpy as np
from flint import arb

from ..backends.arb import _float_down, _float_up
from ..backends.fast import FastBackend, FastTensor, _down, _up
from ..box import Box
from ..model import AutoencoderSpec

__all__ = ["relaxation", "linear_bounds"]

_BITS = 128


def _f(name: str, z: arb) -> arb:
    if name == "tanh":
        return z.tanh()
    return 1 / (1 + (-z).exp())


def _fprime(name: str, z: arb) -> arb:
    if name == "tanh":
        t = z.tanh()
        return 1 - t * t
    s = 1 / (1 + (-z).exp())
    return s * (1 - s)


def _critical(name: str, a: float) -> float | None:
    """z0 > 0 with act'(±z0) = a (floats; verified rigorously by the caller), or None."""
    if name == "tanh" and 0 < a < 1:
        return float(np.arctanh(np.sqrt(1 - a)))
    if name == "sigmoid" and 0 < a < 0.25:
        return float(2 * np.arctanh(np.sqrt(1 - 4 * a)))
    return None


def relaxation(name: str, lo: float, hi: float) -> tuple[float, float, float]:
    """(a, cL, cU): a slope and offsets with a z + cL <= act(z) <= a z + cU on [lo, hi].

    relu and identity are piecewise linear: g(z) = act(z) − a z takes its extremes at
    lo, hi and 0. For sigmoid and tanh, g' = act' − a vanishes only where act' = a,
    i.e. at ±z0 (act' is even and strictly decreasing in |z|); the extremes of g are
    at lo, hi or in tiny intervals Z0 around ±z0 that are proven to contain the root
    (act' − a changes sign across them), where g is enclosed by interval evaluation.
    If that proof fails, g is enclosed over all of [lo, hi] instead (sound, looser).
    The slope is the secant's (the parallel tangent then bounds the other side).
    """
    if name == "identity":
        return 1.0, 0.0, 0.0
    if hi <= lo:
        a = 0.0 if name == "relu" and hi <= 0 else (1.0 if name == "relu" else 0.0)
    elif name == "relu":
        a = 0.0 if hi <= 0 else (1.0 if lo >= 0 else hi / (hi - lo))
    else:
        with np.errstate(all="ignore"):
            f = np.tanh if name == "tanh" else (lambda v: 1 / (1 + np.exp(-v)))
            a = float((f(hi) - f(lo)) / (hi - lo))
        if not np.isfinite(a) or a < 0:
            a = 0.0
    with flint.ctx.workprec(_BITS):
        A = arb(a)
        points = [arb(lo), arb(hi)]
        if name == "relu":
            if lo < 0 < hi:
                points.append(arb(0))
            values = [z.max(arb(0)) - A * z for z in points]
        else:
            values = [_f(name, z) - A * z for z in points]
            z0 = _critical(name, a)
            if z0 is not None:
                delta = 1e-9 * z0 + 1e-12
                for sign in (1, -1):
                    left, right = sorted((sign * (z0 - delta), sign * (z0 + delta)))
                    d_left, d_right = _fprime(name, arb(left)) - A, _fprime(name, arb(right)) - A
                    if not ((d_left > 0 and d_right < 0) or (d_left < 0 and d_right > 0)):
                        # The root is not proven to lie in [left, right] (z0 came from floats):
                        # enclose g over all of [lo, hi] instead.
                        whole = arb(lo).union(arb(hi))
                        values.append(_f(name, whole) - A * whole)
                        continue
                    if right < lo or left > hi:
                        continue  # the proven critical point is outside [lo, hi]
                    Z = arb(max(left, lo)).union(arb(min(right, hi)))
                    values.append(_f(name, Z) - A * Z)
        cL = min(_float_down(v.lower()) for v in values)  # exact directed roundings
        cU = max(_float_up(v.upper()) for v in values)
    return a, cL, cU


def _box_mid_rad(box: Box) -> tuple[np.ndarray, np.ndarray]:
    B = FastBackend()
    return B.box(box).mid_rad()


def _relu_triangle(lo: float, hi: float) -> tuple[float, float, float, float]:
    """(aL, cL, aU, cU) for relu straddling 0: the triangle's upper side (the secant) and
    the lower line through the origin with slope 1 if hi > −lo else 0 (CROWN's choice),
    each with offsets proven like `relaxation`'s."""
    aU, _, cU = relaxation("relu", lo, hi)  # its slope is the secant's
    aL = 1.0 if hi > -lo else 0.0
    with flint.ctx.workprec(_BITS):
        A = arb(aL)
        values = [z.max(arb(0)) - A * z for z in (arb(lo), arb(0), arb(hi))]
        cL = min(_float_down(v.lower()) for v in values)
    return aL, cL, aU, cU


def linear_bounds(spec: AutoencoderSpec, box: Box) -> dict[str, np.ndarray]:
    """Rigorous float64 (lower, upper) bounds of the output and the reconstruction error.

    Neuron j contributes w·act(z_j) with w = W_dec[i, j] = w⁺ + w⁻ (its positive and
    negative parts): w·act(z) <= w⁺·(aU z + cU) + w⁻·(aL z + cL) for the upper bound
    (back-substitution, as in CROWN), the other way round for the lower bound. A weight
    interval straddling 0 simply has both parts. sigmoid and tanh use one slope for both
    lines; relu straddling 0 uses the triangle.
    """
    B = FastBackend()
    W_enc, b_enc, W_dec, b_dec = B.convert_parameters(spec)
    d, h = spec.input_dim, spec.hidden_dim
    x = B.box(box)
    z = B.affine(W_enc, x, b_enc)
    lines = []
    for lo, hi in zip(z.lo, z.hi):
        if spec.activation == "relu" and lo < 0 < hi:
            lines.append(_relu_triangle(lo, hi))
        else:
            a, cL, cU = relaxation(spec.activation, lo, hi)
            lines.append((a, cL, a, cU))
    aL, cL, aU, cU = (np.array([line[k] for line in lines], dtype=np.float64).reshape(h) for k in range(4))
    W_pos = FastTensor(np.maximum(W_dec.lo, 0.0), np.maximum(W_dec.hi, 0.0))
    W_neg = FastTensor(np.minimum(W_dec.lo, 0.0), np.minimum(W_dec.hi, 0.0))
    point = lambda v: FastTensor(v, v.copy())  # noqa: E731
    rows = lambda v: point(np.broadcast_to(v, (d, h)).copy())  # noqa: E731
    mid, rad = x.mid_rad()
    eye = np.eye(d)
    bounds = {}
    for up in (True, False):
        a_pos, a_neg, c_pos, c_neg = (aU, aL, cU, cL) if up else (aL, aU, cL, cU)
        P = B.add(B.mul(W_pos, rows(a_pos)), B.mul(W_neg, rows(a_neg)))  # d × h slopes
        if h:
            M = B.rmatvec(W_enc, P)  # rows P_i W_enc
            const = B.add(B.add(B.matvec(W_pos, point(c_pos)), B.matvec(W_neg, point(c_neg))),
                          B.add(B.matvec(P, b_enc), b_dec))
        else:
            M, const = point(np.zeros((d, d))), b_dec
        for name, matrix in (("output", M), ("residual", B.sub(M, point(eye)))):
            centre = B.add(B.matvec(matrix, point(mid)), const)
            spread = B.matvec(B.magnitude(matrix), point(rad)).hi
            bounds[(name, up)] = _up(centre.hi + spread) if up else _down(centre.lo - spread)
    out = {name: np.stack([bounds[(name, False)], bounds[(name, True)]], axis=-1) for name in ("output", "residual")}
    # E = mean(r_i²) from the bounds of each r_i (a square's exact range, then the mean).
    r = FastTensor(out["residual"][:, 0], out["residual"][:, 1])
    error = B.mean(B.square(r))
    out["reconstruction_error"] = np.array([max(error.lo, 0.0), error.hi])
    return out
