"""The mean-value (centred) form: f(X) ⊆ f(c) + J(X)·(X − c).

For the output, J(X) = W_dec diag(act'(Z)) W_enc with Z the interval
pre-activations; for the reconstruction error, ∇E(X) = dX − g, the backward pass's
input gradient for g = (2/d)(x_hat − x) minus its direct term (both enclosed by the
interval pass). Since X − c = [−ρ, ρ], J(X)(X − c) ⊆ [−|J|ρ, |J|ρ] with |J| the
entrywise magnitude bound (Moore, Kearfott and Cloud, *Introduction to Interval
Analysis*, SIAM 2009, §6.4, the mean value form). f(c) is enclosed at the exact
centre. All in outward-rounded interval arithmetic (the fast backend).
"""

from __future__ import annotations

import numpy as np

from ..backends.fast import FastBackend, FastTensor, _down, _up
from ..box import Box
from ..model import AutoencoderSpec, parameters
from .interval import interval_propagation
from .base import MSE

__all__ = ["mean_value_bounds"]


def mean_value_bounds(spec: AutoencoderSpec, box: Box) -> dict[str, np.ndarray]:
    """Rigorous bounds of the output, the residual x_hat − x and the reconstruction error."""
    B = FastBackend()
    p = parameters(B, spec)
    x = B.box(box)
    # ∇E needs the backward pass for g = (2/d)(x_hat − x), whatever grad_output the
    # caller asked for: its own interval pass.
    over_box = interval_propagation(B, p, x, MSE, gradients=True)
    mid, rad = x.mid_rad()
    centre = B.box(Box.point(box.center))
    at_c = interval_propagation(B, p, centre, MSE, gradients=False)
    d, h = spec.input_dim, spec.hidden_dim
    out: dict[str, np.ndarray] = {}
    if h:
        z = B.affine(p.W_enc, x, p.b_enc)
        slope = B.activation_derivative(spec.activation, z)  # act'(Z), h intervals
        P = B.mul(p.W_dec, FastTensor(np.broadcast_to(slope.lo, (d, h)).copy(), np.broadcast_to(slope.hi, (d, h)).copy()))
        J = B.rmatvec(p.W_enc, P)  # rows P_i W_enc: the interval Jacobian of x_hat
    else:
        J = B.constant_floats(np.zeros((d, d)))
    spread = B.matvec(B.magnitude(J), B.constant_floats(rad)).hi
    out["output"] = np.stack([_down(at_c.forward.output.lo - spread), _up(at_c.forward.output.hi + spread)], -1)
    # r = x_hat − x has the Jacobian J − I
    r_c = B.sub(at_c.forward.output, centre)
    spread_r = B.matvec(B.magnitude(B.sub(J, B.constant_floats(np.eye(d)))), B.constant_floats(rad)).hi
    out["residual"] = np.stack([_down(r_c.lo - spread_r), _up(r_c.hi + spread_r)], -1)
    # ∇E = dX − g over the box
    grad = B.sub(over_box.gradients.input, over_box.gradients.b_dec)
    spread_e = float(_up(np.float64(B.matvec(B.magnitude(FastTensor(grad.lo[None, :], grad.hi[None, :])),
                                             FastTensor(rad, rad.copy())).hi[0])))
    e_c = at_c.reconstruction_error
    out["reconstruction_error"] = np.array([max(float(_down(e_c.lo - spread_e)), 0.0), float(_up(e_c.hi + spread_e))])
    return out
