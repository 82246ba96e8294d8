"""The mean-value (centred) form over the layers of a `LayeredSpec`.

For every quantity q of the network that is a function of x (each layer's pre- and
post-activation, the latent, the output, the residual r = x_hat − x) and for E,

    q(x) ∈ q(c) + J_q(X)·(x − c)      for x in the box X with centre c in X,

with J_q(X) an interval matrix containing the Jacobian of q at every point of X
(Moore, Kearfott and Cloud, *Introduction to Interval Analysis*, SIAM 2009, §6.4, the
mean value form). J is carried forward through the layers (interval forward mode):

    J_0 = I,   J(z_k) = W_k J_{k−1},   J_k = diag(act_k'(Z_k)) J(z_k)   (J_k = J(z_k) without activation),

with Z_k an enclosure of the pre-activations over X (so act_k'(Z_k) contains the
derivative at every point the segment from c to x passes), J_r = J_K − I, and for E
the backward pass's ∇E(X) = dX − g for g = (2/d)(x_hat − x) (its input gradient minus
the direct term). Since |x − c| <= ρ, J(X)(x − c) ⊆ [−|J|ρ, |J|ρ]. Layer by layer the
centred form and interval propagation are intersected before the next layer (both
enclose every value over X): Z_k is that intersection, so act'(Z_k) is as narrow as
either gives (relu's a point wherever a neuron provably keeps its sign), and so is J.

**Gradients** (the MSE loss). With M̄ = ∫_0^1 J_r(c + t(x − c)) dt ∈ J_r(X) (convexity),
r(x) = r(c) + M̄ e exactly, e = x − c in [−ρ, ρ]: one affine form in e shared by every
coordinate. The backward pass is carried on it as gy = a0 + A e + τ, |τ| <= t, from
a0 = (2/d) r(c), A = (2/d) J_r(X): a layer's dz = gy ⊙ s with s in act'(Z_k) = m ± w
is a0∘m + (diag(m) A) e + (m τ + (s − m) gy), so t grows by w|gy| (the centred form of
the product, Moore, Kearfott and Cloud §6.4, as `linear_gradients.py`), and
gx = Wᵀ dz is a0 ↦ Wᵀ a0, A ↦ Wᵀ A (an interval product containing Wᵀ M for every
M in A), t ↦ |W|ᵀ t. Each is concretized as a0 ± (|A|ρ + t): db = dz, dW = dz ⊗ a_in
with a_in the bounds above, dX the last gx. Interval propagation multiplies Wᵀ into
per-coordinate bounds instead, as if each r_i took its extremes independently.

The activations need not be differentiable everywhere (relu's kink): every entry is
continuous and piecewise smooth, so along the segment φ(t) = q(c + t(x − c)) is
absolutely continuous, φ(1) − φ(0) = ∫ φ'(t) dt, and φ'(t) exists for almost every t
and equals the chain rule's product with act' at points of Z_k (where a pre-activation
sits at a kink on a set of positive measure its derivative along the segment is 0, so
any value of act' there gives the same product). The integral of a function with values
in the convex set J(X)(x − c) lies in it. An entry that declares `continuous = False`
(a jump, as PyTorch's softplus at its threshold) has no such form: the method then
bounds nothing (None).

All in outward-rounded interval arithmetic on the fast backend.

**Float semantics** (as `mean_value.py` does for one hidden layer). A float run is not
differentiable, but stays within a proven distance of the real function F with the
rounded parameters at its own rounded input x_f (so the centred form is taken over the
box of rounded inputs, with the rounded parameters). With a_k the real and a_k^f the
float post-activations at x_f, and the float run's errors, each as in
`verifae.rounding` (Higham's model, any summation order):

    z_k^f = W_k a_{k−1}^f + b_k + e1_k,   |e1_k| <= γ_{n+1}(|W_k||a_{k−1}^f| + |b_k|) + (n+1)·eta
    a_k^f = act_k(z_k^f) + e2_k,          |e2_k| <= the entry's `float_error` (the library bound K)

and L_k >= |act_k'| on the hull of the real and float pre-activation enclosures (the
segment from z_k to z_k^f lies in it; mean value theorem), the distances

    D_k = |W_k| Δ_{k−1} + e1_k >= |z_k^f − z_k|,   Δ_k = L_k D_k + e2_k >= |a_k^f − a_k|   (Δ_0 = 0)

(Δ_k = D_k without activation) widen the real bounds of z_k and a_k. The output is
a_K, so x_hat_f is within δ = Δ_K of x_hat(x_f); r_f = fl(x_hat_f − x_f) rounds once
more, |r_f − r(x_f)| <= δ + u|x_hat_f − x_f|; E_f follows from
||r_f||² <= S + 2 Σ R_i s_i + Σ s_i² (S >= d·E, R_i >= |r_i|, s_i >= |r_f,i − r_i|) and the
float square and mean (γ_{d+1}, Higham Lemma 3.3), as in `mean_value.py`. The float
bounds are intersected with the float interval pass's, layer by layer.

The float backward pass starts from g_f = fl(2·r_f/d) = (2/d) r(x_f) + τ with
|τ| <= (2/d)|r_f − r(x_f)| + γ_2 (2/d)|r_f| + eta (`FloatSemantics.scale`); s ranges
over the entry's float derivative model on every float z_k^f, and the run's product
fl(gy s) adds u|gy s| + eta, its sum fl(Wᵀ dz) γ_n |W|ᵀ|dz| + n·eta (n the layer's
outputs; Higham (3.5) with (2.8)), fl(dz ⊗ a) one rounding (`FloatSemantics.outer`).

Every term assumes that no intermediate overflows: the float interval pass proves that
(`layered_may_overflow`) or the method returns None.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..backends.fast import FastBackend, FastTensor
from ..box import Box
from ..layered import (
    LayeredForward,
    LayeredParameters,
    LayeredSpec,
    LayerForward,
    LayerParameters,
    layered_backward,
    layered_forward,
    layered_parameters,
)
from ..model import mse_grad_output, reconstruction_error
from ..numbers import FORMATS, round_down, round_up
from ..rounding import FloatSemantics, FloatTensor, gamma
from .base import layered_may_overflow
from .dense import DenseProduct
from .linear import sum_up
from .linear_gradients import _transpose

__all__ = ["layered_mean_value_bounds", "mean_value_applies"]


def mean_value_applies(spec: LayeredSpec) -> bool:
    """Whether every activation is continuous (the premise of the mean value form)."""
    return all(layer.activation is None or layer.activation.continuous for layer in spec.layers)


def _pm(B: FastBackend, t: FastTensor, spread: np.ndarray) -> np.ndarray:
    """[lower − spread, upper + spread] of t as bounds (..., 2), rounded outward."""
    lo, hi = B.ends(t)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.stack([B.down(lo - spread), B.up(hi + spread)], axis=-1)


def _widen(B: FastBackend, bounds: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return _pm(B, B.from_ends(bounds[..., 0], bounds[..., 1]), spread)


def _inside(B: FastBackend, t: FastTensor, bounds: np.ndarray) -> FastTensor:
    """The intersection of two enclosures of the same values."""
    lo, hi = B.ends(t)
    return B.from_ends(np.maximum(lo, bounds[..., 0]), np.minimum(hi, bounds[..., 1]))


def _column(B: FastBackend, v: FastTensor) -> FastTensor:
    """v as a column (n × 1), to scale the rows of a matrix."""
    lo, hi = B.ends(v)
    return B.from_ends(lo[:, None], hi[:, None])


class _LastJacobian(NamedTuple):
    """A = (2/d)(X − I) for a last layer without activation, X = W_K J_{K−1}
    (`CentredForm.last`), kept factored: no d × d interval matrix is formed."""

    B: FastBackend
    X: DenseProduct  # W_K J_{K−1}: contains the Jacobian of the output at every point of the box
    J: FastTensor  # n × d: J_{K−1}

    def abs_times(self, rho: np.ndarray, d: int) -> np.ndarray:
        """>= |A| ρ = (2/d) |X − I| ρ (`DenseProduct.abs_times`; the product by q >= 2/d
        stepped up)."""
        q = float(self.B.up(np.float64(2 / d)))
        return self.B.inflate(q * self.X.abs_times(rho, shift=1), 1)

    def transposed_times(self, W: FastTensor, d: int) -> FastTensor:
        """W_Kᵀ A for the layer's own weights W = W_K, as an interval matrix:
        (2/d)((Wᵀ W) J_{K−1} − Wᵀ). It contains Wᵀ M̄ for the true W and the average M̄ of
        the Jacobians W J' − I along the segment (J' in J_{K−1}): Wᵀ W lies in the interval
        Wᵀ W for the true W in its enclosure, every product with a J' in J_{K−1} lies in the
        interval product, and an interval result is convex, so it holds the average (the
        N = C A − W_decᵀ of `linear_gradients`: h × h × d products, not h × d × d)."""
        B = self.B
        W_T = _transpose(B, W)
        return B.scale(B.sub(B.rmatvec(self.J, B.rmatvec(W, W_T)), W_T), 2, d)


def _mse_gradients(B: FastBackend, p: LayeredParameters, form: CentredForm, inputs: list[FastTensor],
                   slopes: list[FastTensor | None], tau: np.ndarray, F: FloatSemantics | None) -> dict[str, np.ndarray]:
    """Bounds of every gradient for the MSE loss (module docstring, "Gradients")."""
    d = p.input_dim
    rho = form.rho
    a0 = B.scale(form.r_c, 2, d)  # gy = a0 + A e + τ, e = x − c in [−ρ, ρ], |τ| <= t
    # (2/d) J_r: factored for a last layer without activation (`CentredForm.last`)
    A: FastTensor | _LastJacobian
    if form.last is not None:
        A = _LastJacobian(B, *form.last)
    else:
        assert form.J_r is not None  # the one or the other
        A = B.scale(form.J_r, 2, d)
    t = tau
    u, eta = (0.0, 0.0) if F is None else (float(F.u), float(F.eta))

    def concrete(a0: FastTensor, A: FastTensor | _LastJacobian, t: np.ndarray) -> tuple[FastTensor, np.ndarray]:
        A_rho = A.abs_times(B.upper(rho), d) if isinstance(A, _LastJacobian) else B.upper(B.matvec(B.magnitude(A), rho))
        return a0, B.inflate(A_rho + t, 1)

    out: dict[str, np.ndarray] = {}
    for layer, slope, a_in in reversed(list(zip(p.layers, slopes, inputs))):
        if slope is not None:  # dz = gy ⊙ s with s = m ± w: a0 m + (diag(m) A) e + (m τ + (s − m) gy)
            centre, spread = concrete(a0, A, t)
            gy_mag = B.inflate(B.upper(B.magnitude(centre)) + spread, 1)
            m, w = slope.mid_rad()
            s_mag = B.up(np.abs(m) + w)
            a0 = B.mul(a0, B.constant_floats(m))
            assert not isinstance(A, _LastJacobian)  # factored only for a last layer without activation
            A = B.mul(A, B.constant_floats(m[:, None]))
            # the float run rounds the product once: u|gy s| + eta
            t = B.inflate(np.abs(m) * t + w * gy_mag + u * gy_mag * s_mag + eta, 5)
        centre, spread = concrete(a0, A, t)
        dz = B.widen(centre, B.constant_floats(spread))
        out[f"gradients.{layer.name}.bias"] = B.bounds(dz)
        if F is None:
            dW = B.outer(dz, a_in)
        else:  # one rounding of each product (`FloatSemantics.outer`)
            none = lambda v: np.zeros(v.shape, dtype=bool)  # noqa: E731
            dW = F.outer(FloatTensor(dz, none(dz)), FloatTensor(a_in, none(a_in))).value
        out[f"gradients.{layer.name}.weight"] = B.bounds(dW)
        # gx = Wᵀ dz; the float run's sum within γ_n |W|ᵀ|dz| + n·eta (no bias: n = out features)
        W, abs_W = layer.weight, B.magnitude(layer.weight)
        n = layer.weight.shape[0]
        a0 = B.rmatvec(W, a0)  # Wᵀ a0 and Wᵀ A
        A = A.transposed_times(W, d) if isinstance(A, _LastJacobian) else B.rmatvec(A, _transpose(B, W))
        t = B.upper(B.rmatvec(abs_W, B.constant_floats(t)))
        if F is not None:
            g_n = float(B.up(np.float64(float(gamma(n, F.format)))))
            t = B.inflate(t + g_n * B.upper(B.rmatvec(abs_W, B.magnitude(dz))) + n * eta, 3)
        centre, spread = concrete(a0, A, t)
        gx = B.bounds(B.widen(centre, B.constant_floats(spread)))
        out[f"gradients.{layer.name}.input_gradient"] = gx  # for `layered_backward`'s refine hook
    out["gradients.input"] = gx
    return out


class CentredForm(NamedTuple):
    """The real centred form over a box: the bounds, and what the gradient form needs."""

    bounds: dict[str, np.ndarray]
    pre_activation: list[FastTensor]  # the interval pass's, per layer
    forward: list[FastTensor]  # the interval pass's post-activations, per layer
    slopes: list[FastTensor | None]  # act'(Z_k) per layer (None: no activation)
    r_c: FastTensor  # r(c)
    J_r: FastTensor | None  # the interval Jacobian of r over the box, d × d (None: `last`)
    #: for a last layer without activation, (X, J_{K−1}) with X = W_K J_{K−1} a
    #: `DenseProduct` containing the Jacobian of the output over the box (J_r = X − I)
    last: tuple[DenseProduct, FastTensor] | None
    rho: FastTensor  # the radius ρ >= |x − c|


def _centred_form(B: FastBackend, spec: LayeredSpec, p: LayeredParameters, x: FastTensor) -> CentredForm:
    """Bounds of the real quantities of parameters `p` over the inputs `x` (keys as
    `layered_mean_value_bounds`, the gradients aside).

    Layer by layer, the centred form and interval propagation of the layer are
    intersected before the next layer starts (both enclose every value over the box):
    act'(Z_k) is taken over the intersection, so J stays narrow where a neuron's
    pre-activation provably keeps its sign, and the interval pass continues from the
    tighter post-activations."""
    d = spec.input_dim
    # the centre, clipped into the box: the segment from c to x must stay where J is enclosed
    lo, hi = B.ends(x)
    c = np.clip(0.5 * lo + 0.5 * hi, lo, hi)
    rho = B.from_ends(*(2 * [B.up(np.maximum(c - lo, hi - c))]))  # one rounding of each difference
    centre = B.constant_floats(c)
    spread = lambda J: B.upper(B.matvec(B.magnitude(J), rho))  # noqa: E731  >= |J| ρ
    out: dict[str, np.ndarray] = {}
    pre, post = [], []
    slopes: list[FastTensor | None] = []
    # J_k = diag(act_k'(Z_k)) W_k J_{k−1} as interval matrices (n_k × d). A last layer
    # without activation (d × d) is X = W_K J_{K−1}, a `DenseProduct` (Rump's
    # midpoint-radius product, its radius applied as an operator: never an interval array).
    factored = p.layers[-1].activation is None
    J: FastTensor | None = None  # J_0 = I
    X = None
    a, a_c = x, centre
    for k, layer in enumerate(p.layers):
        z_c = B.affine(layer.weight, a_c, layer.bias)
        if factored and k == len(p.layers) - 1 and J is not None:
            X = DenseProduct(layer.weight, J)  # W_K J_{K−1}
            z_spread = X.abs_times(B.upper(rho))
        else:
            # W_k J: the rows of W_k times J; W_1 J_0 = W_1 exactly (no product with a d × d I)
            J = layer.weight if J is None else B.rmatvec(J, layer.weight)
            z_spread = spread(J)
        z = _inside(B, B.affine(layer.weight, a, layer.bias), _pm(B, z_c, z_spread))
        slope = None
        if layer.activation is None:
            a, a_c = z, z_c
        else:
            slope = B.activation_derivative(layer.activation, z)
            J = B.mul(J, _column(B, slope))
            a_c = B.activation(layer.activation, z_c)
            a = _inside(B, B.activation(layer.activation, z), _pm(B, a_c, spread(J)))
        out[f"layers.{layer.name}.pre_activation"] = B.bounds(z)
        out[f"layers.{layer.name}.post_activation"] = B.bounds(a)
        pre.append(z)
        post.append(a)
        slopes.append(slope)
    out["latent"] = out[f"layers.{p.layers[p.n_encoder - 1].name}.post_activation"]
    out["output"] = out[f"layers.{p.layers[-1].name}.post_activation"]
    r_c = B.sub(a_c, centre)
    if X is not None:  # J_r = X − I
        assert J is not None  # J_{K−1}
        J_r, last = None, (X, J)
        r_spread = X.abs_times(B.upper(rho), shift=1)
    else:
        assert J is not None  # a layered model has layers
        J_r, last = B.sub(J, B.constant_floats(np.eye(d))), None
        r_spread = spread(J_r)
    r = _inside(B, B.sub(a, x), _pm(B, r_c, r_spread))
    out["residual"] = B.bounds(r)
    # ∇E = dX − g over the box: the backward pass from the tighter forward enclosures
    fwd = LayeredForward(tuple(LayerForward(layer.name, z, a) for layer, z, a in zip(p.layers, pre, post)),
                         post[p.n_encoder - 1], post[-1])
    g = B.scale(r, 2, d)
    grad_E = B.sub(layered_backward(B, p, x, fwd, g, weights=False)["input"], g)  # dX only: no outer products
    grad_lo, grad_hi = B.ends(grad_E)
    e_spread = B.upper(B.matvec(B.magnitude(B.from_ends(grad_lo[None, :], grad_hi[None, :])), rho))[0]
    e = _pm(B, reconstruction_error(B, a_c, centre), np.asarray(e_spread))
    out["reconstruction_error"] = np.array([max(float(e[0]), 0.0), float(e[1])])
    return CentredForm(out, pre, post, slopes, r_c, J_r, last, rho)


def layered_mean_value_bounds(spec: LayeredSpec, box: Box, semantics: str = "real") -> dict[str, np.ndarray] | None:
    """Float64 (lower, upper) bounds (..., 2), rounded outward, keyed
    "layers.<name>.pre_activation", "layers.<name>.post_activation", "latent", "output",
    "residual" (r = x_hat − x as the semantics computes it: fl(x_hat_f − x_f) in a float
    one), "reconstruction_error", and "gradients.<key>" (every gradient of
    `gradient_names`, and "gradients.<name>.input_gradient", the gradient Wᵀ dz reaching
    layer <name>'s input, as `layered_backward` names it; for the MSE loss only); None
    where a float run may overflow, a real pre-activation may lie beyond the double range,
    or an activation is not continuous (module docstring)."""
    if not mean_value_applies(spec):
        return None
    B = FastBackend()
    if semantics == "real":
        p = layered_parameters(B, spec)
        x = B.box(box)
        form = _centred_form(B, spec, p, x)
        if not all(np.isfinite(end).all() for z in form.pre_activation for end in B.ends(z)):
            return None  # a pre-activation beyond the double range: the interval enclosure stands
        inputs = [x, *form.forward[:-1]]
        return {**form.bounds, **_mse_gradients(B, p, form, inputs, form.slopes, np.zeros(spec.input_dim), None)}
    fmt = FORMATS[semantics]
    F = FloatSemantics(B, fmt)
    pf = layered_parameters(F, spec)
    xf = F.box(box)  # converted once per box and format
    # The float interval pass: it bounds every intermediate of every run (|a_k^f|, z_k^f)
    # and proves that none overflows, the premise of every error term below.
    fwd_f = layered_forward(F, pf, xf)
    g_f = mse_grad_output(F, fwd_f.output, xf, spec.input_dim)
    if (xf.unbounded.any() or any(t.unbounded.any() for layer in pf.layers for t in (layer.weight, layer.bias))
            or layered_may_overflow(fwd_f, reconstruction_error(F, fwd_f.output, xf),
                                    layered_backward(F, pf, xf, fwd_f, g_f))):
        return None
    p = LayeredParameters(tuple(LayerParameters(q.name, q.weight.value, q.bias.value, q.activation) for q in pf.layers),
                          pf.n_encoder, pf.input_dim)
    form = _centred_form(B, spec, p, xf.value)
    real, real_pre = form.bounds, form.pre_activation
    u, eta = float(fmt.unit_roundoff), float(fmt.eta)
    g = lambda n: float(B.up(np.float64(float(gamma(n, fmt)))))  # noqa: E731  >= γ_n
    out: dict[str, np.ndarray] = {}
    Delta = np.zeros(spec.input_dim)  # |a_0^f − a_0| = 0: the same rounded input
    a_mag = B.magnitude(xf.value)
    z_floats: list[FastTensor] = []
    a_floats: list[FastTensor] = []
    for layer, f, z_real in zip(p.layers, fwd_f.layers, real_pre):
        n = layer.weight.shape[1]
        abs_W = B.magnitude(layer.weight)
        e1 = B.inflate(g(n + 1) * B.upper(B.affine(abs_W, a_mag, B.magnitude(layer.bias))) + (n + 1) * eta, 2)
        D = B.inflate(B.upper(B.matvec(abs_W, B.constant_floats(Delta))) + e1, 1)
        # every float z_k^f: the float pass's enclosure and the real bound widened by D
        z_f = _inside(B, f.pre_activation.value, _widen(B, real[f"layers.{layer.name}.pre_activation"], D))
        out[f"layers.{layer.name}.pre_activation"] = B.bounds(z_f)
        z_floats.append(z_f)
        if layer.activation is None:
            Delta = D
        else:
            (zf_lo, zf_hi), (z_lo, z_hi) = B.ends(z_f), B.ends(z_real)
            hull = B.from_ends(np.minimum(zf_lo, z_lo), np.maximum(zf_hi, z_hi))
            L = B.upper(B.magnitude(B.activation_derivative(layer.activation, hull)))
            e2 = layer.activation.float_error(B, semantics, B.upper(B.magnitude(z_f)),
                                              B.upper(B.magnitude(f.post_activation.value)))
            Delta = B.inflate(L * D + e2, 2)
        a_f = _inside(B, f.post_activation.value, _widen(B, real[f"layers.{layer.name}.post_activation"], Delta))
        out[f"layers.{layer.name}.post_activation"] = B.bounds(a_f)
        a_floats.append(a_f)
        a_mag = B.magnitude(a_f)
    out["latent"] = out[f"layers.{p.layers[p.n_encoder - 1].name}.post_activation"]
    out["output"] = out[f"layers.{p.layers[-1].name}.post_activation"]
    delta = Delta
    r = real["residual"]
    R = np.maximum(np.abs(r[:, 0]), np.abs(r[:, 1]))  # >= |r(x_f)|
    reach = B.up(R + delta)  # >= |x_hat_f − x_f|
    shift = B.up(delta + B.up(u * reach))  # >= |r_f − r(x_f)|: δ and the rounding of the difference
    out["residual"] = _widen(B, r, shift)
    E_lo, E_hi = real["reconstruction_error"]
    d = spec.input_dim
    cross, square = sum_up(B.up(R * shift)), sum_up(B.up(shift * shift))
    if cross is None or square is None or not np.isfinite(E_hi):
        return None
    S_up = d * Fraction(float(E_hi)) + 2 * cross + square  # >= ||r_f||²
    S_lo = max(d * Fraction(float(E_lo)) - 2 * cross, Fraction(0))  # <= ||r_f||² (||r_f|| >= ||r|| − ||s||)
    gd = gamma(d + 1, fmt)
    upper = (1 + gd) * ((1 + fmt.unit_roundoff) * S_up / d + fmt.eta) + fmt.eta
    lower = (1 - gd) * ((1 - fmt.unit_roundoff) * S_lo / d - fmt.eta) - fmt.eta
    out["reconstruction_error"] = np.array([max(round_down(lower), 0.0), round_up(upper)])
    # g_f = fl(2·r_f/d) = (2/d) r(x_f) + τ: |r_f − r(x_f)| <= shift, and the scaling's two
    # roundings γ_2 (2/d)|r_f| + eta (`FloatSemantics.scale`)
    q = float(B.up(np.float64(2 / d)))  # >= 2/d
    g2 = float(B.up(np.float64(float(gamma(2, fmt)))))
    tau = B.inflate(q * shift + g2 * q * B.up(R + shift) + eta, 4)
    inputs = [xf.value, *a_floats[:-1]]
    # every float act'_f(z_k^f) (the entry's float derivative model over every float z_k^f)
    slopes = [None if layer.activation is None else F.activation_derivative(
        layer.activation, FloatTensor(z, np.zeros(z.shape, dtype=bool))).value for layer, z in zip(p.layers, z_floats)]
    out.update(_mse_gradients(B, p, form, inputs, slopes, tau, F))
    return out
