"""The mean-value (centred) form: f(X) ⊆ f(c) + J(X)·(X − c).

For the output, J(X) = W_dec diag(act'(Z)) W_enc with Z the interval
pre-activations, and J − I for the residual r = x_hat − x; for the reconstruction
error, ∇E(X) = dX − g, the backward pass's input gradient for g = (2/d)(x_hat − x)
minus its direct term (both enclosed by the interval pass). Since X − c ⊆ [−ρ, ρ]
for the centre c of X (c in X, so the mean value theorem's ξ lies in X),
J(X)(X − c) ⊆ [−|J|ρ, |J|ρ] with |J| the entrywise magnitude bound (Moore, Kearfott
and Cloud, *Introduction to Interval Analysis*, SIAM 2009, §6.4, the mean value
form). All in outward-rounded interval arithmetic (the fast backend).

A float run is not differentiable, but it stays within a proven distance of the
real function at its own (rounded) input and parameters: with the float semantics'
error terms of `linear.prepare` (z_f within e1 of z = W_enc x_f + b_enc, hid_f within
e2 of act(z_f), x_hat_f within e3 of W_dec hid_f + b_dec) and L = max |act'| over the
float pre-activations (the mean value theorem again),

    |x_hat_f − x_hat(x_f)| <= |W_dec| (L e1 + e2) + e3 =: δ.

So the centred form of the real function over the box of rounded inputs, with the
rounded parameters, widened by δ, holds for the float run; r_f = fl(x_hat_f − x_f)
adds u|r_f|, and E_f follows from ||r_f||² <= S + 2 Σ_i R_i Δ_i + Σ_i Δ_i² (S >= the
real ||r||², R_i >= |r_i|, Δ_i >= |r_f,i − r_i|) and the float square and mean as in
`linear._joint_error`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..activations import get_activation
from ..backends.fast import FastBackend, FastTensor
from ..box import Box
from ..model import AutoencoderSpec, Parameters, parameters
from ..numbers import FORMATS, round_down, round_up
from ..rounding import gamma
from .base import MSE
from .dense import DenseProduct, magnitude_times
from .interval import interval_propagation
from .linear import prepare, sum_up

__all__ = ["mean_value_bounds"]


def _centred_form(B: FastBackend, p: Parameters, x: FastTensor) -> dict[str, np.ndarray]:
    """Bounds of the real output, residual and E of parameters `p` over the inputs `x`."""
    d, h = p.W_dec.shape
    # ∇E needs the backward pass for g = (2/d)(x_hat − x), whatever grad_output the
    # caller asked for: its own interval pass (dX and g only: no weight gradients).
    over_box = interval_propagation(B, p, x, MSE, weights=False)
    gradients = over_box.gradients
    assert gradients is not None
    mid, rad = x.mid_rad()
    centre = B.constant_floats(mid)
    at_c = interval_propagation(B, p, centre, MSE, gradients=False)
    if h:
        slope = B.activation_derivative(p.activation, over_box.forward.pre_activation)  # act'(Z)
        slope_lo, slope_hi = B.ends(slope)
        P = B.mul(p.W_dec, B.from_ends(slope_lo[None, :], slope_hi[None, :]))  # act'(Z_j) times column j, broadcast
        J = DenseProduct(P, p.W_enc)  # rows P_i W_enc: the interval Jacobian of x_hat
    else:
        J = DenseProduct(B.constant_floats(np.zeros((d, 0))), B.constant_floats(np.zeros((0, d))))
    spread = J.abs_times(rad)
    out_lo, out_hi = B.ends(at_c.forward.output)
    out = {"output": np.stack([B.down(out_lo - spread), B.up(out_hi + spread)], -1)}
    r_c = B.sub(at_c.forward.output, centre)
    spread_r = J.abs_times(rad, shift=1)  # |J − I| ρ
    r_lo, r_hi = B.ends(r_c)
    out["residual"] = np.stack([B.down(r_lo - spread_r), B.up(r_hi + spread_r)], -1)
    grad = B.sub(gradients.input, gradients.b_dec)  # ∇E = dX − g over the box
    grad_lo, grad_hi = B.ends(grad)
    grad_row = B.from_ends(grad_lo[None, :], grad_hi[None, :])
    spread_e = float(B.up(np.float64(magnitude_times(grad_row, rad)[0])))
    e_lo, e_hi = B.ends(at_c.reconstruction_error)
    out["reconstruction_error"] = np.array([max(float(B.down(e_lo - spread_e)), 0.0), float(B.up(e_hi + spread_e))])
    return out


def mean_value_bounds(spec: AutoencoderSpec, box: Box, semantics: str = "real") -> dict[str, np.ndarray] | None:
    """Rigorous bounds of the output, the residual x_hat − x (as the semantics computes
    it) and the reconstruction error; None where a float run may overflow or the
    activation is not continuous (the mean value theorem is the form's premise:
    `Activation.continuous`)."""
    if not get_activation(spec.activation).continuous:
        return None
    B = FastBackend()
    if semantics == "real":
        return _centred_form(B, parameters(B, spec), B.box(box))
    s = prepare(spec, box, semantics)
    if s is None:
        return None
    d, h = spec.input_dim, spec.hidden_dim
    p = Parameters(s.W_enc, s.b_enc, s.W_dec, s.b_dec, spec.activation, d)
    real = _centred_form(B, p, s.x)
    fmt = FORMATS[semantics]
    u = float(fmt.unit_roundoff)
    if h:
        lipschitz = B.upper(B.magnitude(B.activation_derivative(spec.activation, s.z)))
        inner = B.constant_floats(B.inflate(lipschitz * s.e1 + s.e2, 2))
        delta = B.inflate(magnitude_times(s.W_dec, B.upper(inner)) + s.e3, 1)
    else:
        delta = s.e3
    widen = lambda b, w: np.stack([B.down(b[:, 0] - w), B.up(b[:, 1] + w)], -1)  # noqa: E731
    out = {"output": widen(real["output"], delta)}
    r = real["residual"]
    reach = B.up(np.maximum(np.abs(r[:, 0]), np.abs(r[:, 1])) + delta)  # >= |x_hat_f − x_f|
    shift = B.up(delta + B.up(u * reach))  # >= |r_f − r(x_f)|
    out["residual"] = widen(r, shift)
    R = np.maximum(np.abs(r[:, 0]), np.abs(r[:, 1]))
    E_lo, E_hi = real["reconstruction_error"]
    cross, square = sum_up(B.up(R * shift)), sum_up(B.up(shift * shift))
    if cross is None or square is None or not np.isfinite(E_hi):
        return None
    S_up = d * Fraction(float(E_hi)) + 2 * cross + square
    S_lo = max(d * Fraction(float(E_lo)) - 2 * cross, Fraction(0))
    g = gamma(d + 1, fmt)
    upper = (1 + g) * ((1 + fmt.unit_roundoff) * S_up / d + fmt.eta) + fmt.eta
    lower = (1 - g) * ((1 - fmt.unit_roundoff) * S_lo / d - fmt.eta) - fmt.eta
    out["reconstruction_error"] = np.array([max(round_down(lower), 0.0), round_up(upper)])
    return out
