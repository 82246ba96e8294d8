"""Tighter MSE gradients from the linear relaxation's affine form of the residual.

For the MSE loss the backward pass starts from g = (2/d) r with r = x_hat − x, and
`ResidualForm` gives r over the box as one affine form in e in [−1, 1]^(d+h+d):

    r = c0 + MI (ρ∘e_x) + W_dec (τ∘e_t) + ζ∘e_ζ.

dH = W_decᵀ g is linear in r, so it is an affine form in the same e and is
concretized exactly (up to outward rounding):

    dH ∈ (2/d) W_decᵀc0 ± (2/d)(|N| ρ + |C| τ + |W_dec|ᵀ ζ),   N = W_decᵀ MI = C A − W_decᵀ,  C = W_decᵀ W_dec.

Interval propagation instead multiplies W_decᵀ into the per-coordinate bounds of g,
as if each r_i could take its extremes independently. For dX = W_encᵀ (act'(z) ∘ dH)
write act'(z_j) = m_j + δ_j with |δ_j| <= w_j (the midpoint and radius of act' over the
pre-activation interval): the part W_encᵀ (m ∘ dH) is again affine in e,

    (2/d) Wmᵀ W_decᵀc0 ± (2/d)(|Wmᵀ N| ρ + |Wmᵀ C| τ + |Wm|ᵀ|W_dec|ᵀ ζ),   Wm = diag(m) W_enc,

and the rest is at most |W_enc|ᵀ (w ∘ |dH|) — the centred form of the product
(Moore, Kearfott and Cloud, *Introduction to Interval Analysis*, SIAM 2009, §6.4).

In a float semantics (ζ carries x_hat_f's errors; see `residual_form`) the float run
adds, each bounded as in `verifae.rounding` (Higham's model): g_f = fl(fl(x_hat_f −
x_f)·2/d) is within ε = (2/d) γ_3 |x_hat_f − x_f| + eta of (2/d)(x_hat_f − x_f) (one
rounding of the difference, two of the scaling; Higham Lemma 3.3); dH_f = fl(W_decᵀ g_f)
within γ_d |W_dec|ᵀ|g_f| + d·eta of W_decᵀ g_f; dZ_f = fl(dH_f act'_f) within
u|dH_f act'_f| + eta; dX_f = fl(W_encᵀ dZ_f) within γ_h |W_enc|ᵀ|dZ_f| + h·eta.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..backends.fast import FastBackend, FastTensor
from ..numbers import FORMATS
from ..rounding import gamma
from .dense import DenseProduct, magnitude_times

if TYPE_CHECKING:  # linear imports this module
    from .linear import ResidualForm

__all__ = ["mse_gradient_bounds", "decoder_gram"]


def _transpose(B: FastBackend, t: FastTensor) -> FastTensor:
    lo, hi = B.ends(t)
    return B.from_ends(lo.T.copy(), hi.T.copy())


def _upper(x: float) -> float:
    return float(FastBackend.up(np.float64(x)))


def decoder_gram(B: FastBackend, W_dec: FastTensor) -> tuple[FastTensor, FastTensor]:
    """(W_decᵀ, C = W_decᵀ W_dec) as fast tensors: they depend on the parameters only, so
    `linear_bounds` computes them once per spec and semantics."""
    W_decT = _transpose(B, W_dec)  # h × d
    return W_decT, B.rmatvec(W_dec, W_decT)  # W_decᵀ W_dec, h × h


def mse_gradient_bounds(form: ResidualForm, W_enc: FastTensor, dact: FastTensor,
                        gram: tuple[FastTensor, FastTensor] | None = None) -> dict[str, np.ndarray]:
    """Bounds (..., 2) of dH and dX for the MSE loss, in the semantics of `form`.

    `dact` encloses act' at every (float, in a float semantics) pre-activation; `gram`,
    when given, is `decoder_gram` of form.W_dec.
    """
    B = form.B
    h, d = W_enc.shape
    q = _upper(2 / d)  # >= 2/d, for magnitudes
    W_decT, C = decoder_gram(B, form.W_dec) if gram is None else gram
    # N = W_decᵀ MI = W_decᵀ (W_dec A − I) = C A − W_decᵀ: the same matrix for every W_dec
    # in its enclosure, as h × h × d products instead of h × d × d
    N = B.sub(B.rmatvec(form.A, C), W_decT)
    zeta_h = magnitude_times(form.W_dec, form.zeta, transpose=True)  # |W_dec|ᵀ ζ
    spread_h = B.inflate(q * (magnitude_times(N, form.rho) + magnitude_times(C, form.tau) + zeta_h), 4)
    centre = B.scale(B.rmatvec(form.W_dec, form.c0), 2, d)  # (2/d) W_decᵀ c0
    if form.semantics == "real":
        kappa = np.zeros(h)
        u = eta = g_h = 0.0
    else:
        fmt = FORMATS[form.semantics]
        u, eta = float(fmt.unit_roundoff), float(fmt.eta)
        g3, g_d, g_h = (_upper(float(gamma(n, fmt))) for n in (3, d, h))
        reach = form.reach
        eps = B.inflate(q * g3 * reach + eta, 3)  # |g_f − (2/d)(x_hat_f − x_f)|
        g_mag = B.inflate(q * (1 + g3) * reach + eta, 4)  # |g_f|
        kappa = B.inflate(magnitude_times(form.W_dec, eps, transpose=True)
                          + g_d * magnitude_times(form.W_dec, g_mag, transpose=True) + d * eta, 3)
    dH = B.widen(centre, B.constant_floats(B.up(spread_h + kappa)))
    out = {"dH": B.bounds(dH)}

    m, w = dact.mid_rad()
    Wm = B.mul(W_enc, B.constant_floats(m[:, None]))  # diag(m) W_enc: m_j times row j, broadcast
    mid_Wm, rad_Wm = Wm.mid_rad()
    WmT = (mid_Wm.T, rad_Wm.T)  # d × h, midpoint and radius
    K = DenseProduct(WmT, N)  # Wmᵀ N, d × d, in midpoint-radius form
    # |Wmᵀ C| τ by the same midpoint-radius bound (d × h, one BLAS product; Rump 1999, §3)
    KC_tau = DenseProduct(WmT, C).abs_times(form.tau)
    linear_spread = B.inflate(q * (K.abs_times(form.rho) + KC_tau
                                   + magnitude_times(Wm, zeta_h, transpose=True)), 4)
    dH_mag = B.upper(B.magnitude(dH))
    act_mag = B.up(np.abs(m) + w)
    dZ_mag = B.inflate(dH_mag * act_mag * (1 + u) + eta, 3)
    # per neuron: |m| κ + w |dH| + the rounding of the product u |dH act'| + eta
    per_neuron = B.inflate(np.abs(m) * kappa + w * dH_mag + u * dH_mag * act_mag + eta, 5)
    rest = B.inflate(magnitude_times(W_enc, per_neuron, transpose=True)
                     + g_h * magnitude_times(W_enc, dZ_mag, transpose=True) + h * eta, 3)
    dX = B.widen(B.rmatvec(Wm, centre), B.constant_floats(B.up(linear_spread + rest)))
    out["dX"] = B.bounds(dX)
    return out
