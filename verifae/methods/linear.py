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
outward-rounded interval arithmetic (the fast backend, and Arb for the offsets; the
d × d matrix M in midpoint-radius form, `DenseProduct`, with its radius bounded a
priori), so the result is a proof, not an estimate.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..activations import Activation, get_activation
from ..backends.fast import FastBackend, FastTensor
from ..box import Box
from ..model import AutoencoderSpec, Parameters
from ..numbers import FORMATS, round_down, round_up
from ..rounding import FloatSemantics, FloatTensor, gamma
from .base import MSE, as_bounds
from .dense import DenseProduct, magnitude_times
from .interval import interval_propagation
from .linear_gradients import decoder_gram, mse_gradient_bounds

__all__ = ["relaxation", "linear_bounds"]

def relaxation(name: str | Activation, lo: float, hi: float) -> tuple[float, float, float]:
    """(a, cL, cU): a slope and offsets with a z + cL <= act(z) <= a z + cU on [lo, hi],
    proven with Arb by the activation's entry (`Activation.relaxation`: relu and
    identity are piecewise linear, so g(z) = act(z) − a z takes its extremes at lo, hi
    and 0; sigmoid and tanh take the secant's slope and enclose g at the endpoints and
    around the verified tangency points)."""
    return get_activation(name).relaxation(lo, hi)


class Prepared(NamedTuple):
    """What the relaxations (and the float lift of the mean-value form) start from."""

    B: FastBackend
    W_enc: FastTensor
    b_enc: FastTensor
    W_dec: FastTensor
    b_dec: FastTensor
    x: FastTensor  # the inputs (the float semantics: every rounded input)
    z: FastTensor  # every pre-activation (the float semantics: every float one, e1 included)
    e1: np.ndarray  # the float semantics' error bounds (empty for real numbers), see linear_bounds
    e2: np.ndarray
    e3: np.ndarray
    semantics: str


def prepare(spec: AutoencoderSpec, box: Box, semantics: str) -> Prepared | None:
    """Parameters, inputs and pre-activations as fast tensors in `semantics` (the rounded
    ones in a float semantics, with the error bounds e1, e2, e3 of `linear_bounds`);
    None where a float run may overflow, or a real pre-activation may lie beyond the
    double range."""
    B = FastBackend()
    d, h = spec.input_dim, spec.hidden_dim
    if semantics == "real":
        W_enc, b_enc, W_dec, b_dec = B.convert_parameters(spec)
        x = B.box(box)
        z = B.affine(W_enc, x, b_enc)
        if not all(np.isfinite(end).all() for end in B.ends(z)):
            return None  # a pre-activation beyond the double range: nothing to relax, the interval enclosure stands
        empty = np.zeros(0)
        return Prepared(B, W_enc, b_enc, W_dec, b_dec, x, z, empty, empty, empty, semantics)
    F = FloatSemantics(B, FORMATS[semantics])
    params = F.convert_parameters(spec)
    xf = F.box(box)
    # Every error term below (e1, e2, e3, the float square and mean, the gradients')
    # assumes that no intermediate of the run overflows: the float interval pass proves
    # that or the method bounds nothing (as `may_overflow`: an unbounded entry anywhere).
    # The pass leaves out the weight gradients' outer products dz ⊗ x and g ⊗ hid: they
    # feed no other value of the run, and no bound of this module or of the mean-value
    # form is a weight gradient, so an overflow there breaks none of these premises
    # (`enclose` decides on its own full pass, weight gradients included, whether any
    # method may tighten at all).
    p = Parameters(*params, spec.activation, d)
    q = interval_propagation(F, p, xf, MSE, weights=False)
    assert q.gradients is not None
    computed = [*params, xf, *q.forward, q.reconstruction_error, *(t for t in q.gradients if t is not None)]
    if any(t.unbounded.any() for t in computed):
        return None
    zf, hidf = q.forward.pre_activation, q.forward.hidden
    W_enc, b_enc, W_dec, b_dec = (t.value for t in params)
    x = xf.value
    fmt = FORMATS[semantics]
    eta = float(fmt.eta)
    g = lambda n: float(B.up(np.float64(float(gamma(n, fmt)))))  # noqa: E731
    abs_sum1 = B.upper(B.affine(B.magnitude(W_enc), B.magnitude(x), B.magnitude(b_enc)))
    e1 = B.inflate(g(d + 1) * abs_sum1 + (d + 1) * eta, 2)
    hid_mag = B.upper(B.magnitude(hidf.value))
    # the float activation: act_f(z_f) = act(z_f) + e2 (library bound, rounding of a parameter)
    e2 = get_activation(spec.activation).float_error(B, semantics, B.upper(B.magnitude(zf.value)), hid_mag)
    abs_sum3 = B.upper(B.affine(B.magnitude(W_dec), B.constant_floats(hid_mag), B.magnitude(b_dec)))
    e3 = B.inflate(g(h + 1) * abs_sum3 + (h + 1) * eta, 2)
    return Prepared(B, W_enc, b_enc, W_dec, b_dec, x, zf.value, e1, e2, e3, semantics)


def linear_bounds(spec: AutoencoderSpec, box: Box, semantics: str = "real") -> dict[str, np.ndarray] | None:
    """Rigorous float64 (lower, upper) bounds of the output and the reconstruction error.

    Neuron j contributes w·act(z_j) with w = W_dec[i, j] = w⁺ + w⁻ (its positive and
    negative parts): w·act(z) <= w⁺·(aU z + cU) + w⁻·(aL z + cL) for the upper bound
    (back-substitution, as in CROWN), the other way round for the lower bound. A weight
    interval straddling 0 simply has both parts. The lines are the activation entry's
    (`Activation.relaxation_lines`): sigmoid and tanh use one slope for both lines; relu
    straddling 0 uses the triangle.

    For the float32 / float64 semantics the same bounds hold for the float run with
    three error terms (each proven as in `verifae.rounding`): the float pre-activation
    is z_f = W_enc x_f + b_enc + e1 with |e1| <= γ_{d+1}(|W_enc||x_f| + |b_enc|) + (d+1)eta,
    the float activation is act(z_f) + e2 with |e2| bounded by the entry's `float_error`
    (2Ku|act| + realmin, the library bound, for sigmoid and tanh; 0 for relu and
    identity), and x_hat_f = W_dec hid_f + b_dec + e3 with
    |e3| <= γ_{h+1}(|W_dec||hid_f| + |b_dec|) + (h+1)eta. The relaxation is taken over
    the interval of z_f, parameters and inputs are the rounded ones, r = x_hat − x
    adds one rounding.

    E is the intersection of two bounds: the square and mean of each r_i's bounds, and
    `_joint_error`, which keeps the correlation between the r_i.

    Returns bounds (..., 2) keyed "output", "residual" (r as the semantics computes it:
    in a float one, fl(x_hat_f − x_f)), "reconstruction_error", and for h > 0 "dH" and
    "dX" of the MSE loss (`mse_gradient_bounds`); None where a float run may overflow
    (the interval enclosure says why).
    """
    s = prepare(spec, box, semantics)
    if s is None:
        return None
    B, W_enc, b_enc, W_dec, b_dec, x, z, e1, e2, e3 = s[:10]
    d, h = spec.input_dim, spec.hidden_dim
    act = get_activation(spec.activation)
    z_lo, z_hi = B.ends(z)
    parallel = [act.relaxation(lo, hi) for lo, hi in zip(z_lo, z_hi)]  # one slope per neuron
    # the lines of back-substitution: the parallel pair, or relu's triangle straddling 0
    lines = [act.relaxation_lines(lo, hi, line) for lo, hi, line in zip(z_lo, z_hi, parallel)]
    aL, cL, aU, cU = (np.array([line[k] for line in lines], dtype=np.float64).reshape(h) for k in range(4))
    # W_dec's positive and negative parts and W_decᵀ W_dec depend on the parameters only:
    # computed once per spec and semantics (each tensor then keeps its own midpoint, radius
    # and scalars for the products), the same values as computed here every time
    W_pos, W_neg = spec.derived(("linear: W_dec's signed parts", semantics), lambda: _signed_parts(B, W_dec))
    # a point factor per column, broadcast by the backend's elementwise product (no d × h copies)
    rows = lambda v: B.constant_floats(v[None, :])  # noqa: E731
    mid, rad = x.mid_rad()
    bounds = {}
    same_slopes = np.array_equal(aL, aU)  # sigmoid, tanh, relu not straddling: one matrix for both sides
    # M = P W_enc (d × d), in midpoint-radius form (`DenseProduct`: never as interval arrays)
    matrices: dict[bool, DenseProduct] = {}
    concrete: dict[tuple[bool, int], tuple[np.ndarray, np.ndarray]] = {}  # (matrix, shift) -> concretize's
    for up in (True, False):
        a_pos, a_neg, c_pos, c_neg = (aU, aL, cU, cL) if up else (aL, aU, cL, cU)
        if not same_slopes or up:  # for one slope a, w⁺a + w⁻a = w a: one product for both sides
            P = B.mul(W_dec, rows(aU)) if same_slopes else B.add(B.mul(W_pos, rows(a_pos)), B.mul(W_neg, rows(a_neg)))
            P_b = B.add(B.matvec(P, b_enc), b_dec) if h else b_dec  # P b_enc + b_dec
            if len(e1):  # the float errors: |P| e1 + |W_dec| e2 + e3
                slack = B.constant_floats(B.inflate(magnitude_times(P, e1) + magnitude_times(W_dec, e2) + e3, 2))
        if h:
            const = B.add(B.add(B.matvec(W_pos, B.constant_floats(c_pos)),
                                B.matvec(W_neg, B.constant_floats(c_neg))), P_b)
        else:
            const = b_dec
        if up or not same_slopes:
            matrices[up] = DenseProduct(P, W_enc, centre=mid)  # rows P_i W_enc
        if len(e1):
            const = B.widen(const, slack)
        const_lo, const_hi = B.ends(const)
        for name, shift in (("output", 0), ("residual", 1)):  # M x + const, (M − I) x + const
            key = (up or same_slopes, shift)
            if key not in concrete:
                concrete[key] = matrices[key[0]].concretize(rad, shift)
            centre, spread = concrete[key]
            bounds[(name, up)] = (B.up(B.up(centre + spread) + const_hi) if up
                                  else B.down(B.down(centre - spread) + const_lo))
    out = {name: as_bounds(np.stack([bounds[(name, False)], bounds[(name, True)]], axis=-1))
           for name in ("output", "residual")}
    r = B.from_ends(out["residual"][:, 0], out["residual"][:, 1])
    if semantics == "real":
        # E = mean(r_i²) from the bounds of each r_i (a square's exact range, then the mean).
        error = B.mean(B.square(r))
    else:
        # r_f = fl(x_hat_f − x_f) rounds once; then the float semantics' square and mean.
        F = FloatSemantics(B, FORMATS[semantics])
        r = B.widen(r, B.constant_floats(B.inflate(float(F.u) * B.upper(B.magnitude(r)), 1)))
        out["residual"] = B.bounds(r)
        squares = F.square(FloatTensor(r, np.zeros(d, dtype=bool)))
        mean = F.mean(squares)
        if squares.unbounded.any() or mean.unbounded.any():
            return None
        error = mean.value
    error_lo, error_hi = B.ends(error)
    lower, upper = max(float(error_lo), 0.0), float(error_hi)
    # A relaxation over a huge interval has infinite offsets, and inf − inf is NaN in the
    # forms below: the exact sums then refuse (`sum_up` is None, so no joint bound) and a
    # NaN end of a gradient bound reads as unbounded (`methods.base.as_bounds`).
    with np.errstate(invalid="ignore", over="ignore"):
        # for one slope per neuron on both sides (sigmoid, tanh, relu not straddling 0) the
        # lines are the parallel pair, and the residual form's W_dec diag(a) W_enc is M
        parallel_slopes = np.array([line[0] for line in parallel], dtype=np.float64).reshape(h)
        shared = matrices[True] if same_slopes and np.array_equal(aU, parallel_slopes) else None
        form = residual_form(s, parallel, shared)
        if form is not None:
            joint = _joint_error(form)
            if joint is not None:
                lower, upper = max(lower, joint[0]), min(upper, joint[1])
            if semantics == "real":
                dact = B.activation_derivative(spec.activation, z)
            else:
                dact = F.activation_derivative(spec.activation, FloatTensor(z, np.zeros(h, dtype=bool))).value
            gram = spec.derived(("linear: W_decᵀ W_dec", semantics), lambda: decoder_gram(B, W_dec))
            out.update(mse_gradient_bounds(form, W_enc, dact, gram))
    out["reconstruction_error"] = np.array([lower, upper])
    return out


def _signed_parts(B: FastBackend, W: FastTensor) -> tuple[FastTensor, FastTensor]:
    """(W⁺, W⁻): the interval matrices of the positive and negative parts of every W in W."""
    W_lo, W_hi = B.ends(W)
    return (B.from_ends(np.maximum(W_lo, 0.0), np.maximum(W_hi, 0.0)),
            B.from_ends(np.minimum(W_lo, 0.0), np.minimum(W_hi, 0.0)))


def _exact_sum(terms: np.ndarray) -> float | None:
    """math.fsum: the exact sum of the floats, rounded once to nearest (Shewchuk's
    algorithm); None where it is not finite (fsum raises on an intermediate overflow)."""
    try:
        total = math.fsum(terms)
    except OverflowError:
        return None
    return total if math.isfinite(total) else None


def sum_up(terms: np.ndarray) -> Fraction | None:
    """An upper bound of the exact Σ terms, or None if it is not finite."""
    total = _exact_sum(terms)
    return None if total is None else Fraction(math.nextafter(total, math.inf))


def sum_down(terms: np.ndarray) -> Fraction | None:
    """A lower bound of the exact Σ terms, or None if it is not finite."""
    total = _exact_sum(terms)
    return None if total is None else Fraction(math.nextafter(total, -math.inf))


class ResidualForm(NamedTuple):
    """One affine form of the whole residual vector over the box (see `residual_form`):

        x_hat − x = c0 + MI (ρ∘e_x) + W_dec (τ∘e_t) + ζ∘e_ζ   for some e in [−1, 1],

    with MI = W_dec A − I and A = diag(a) W_enc (A an interval tensor, W_dec A a
    `DenseProduct`, MI its shift by −I), and, in a float semantics, x_hat and x the
    float ones (before the rounding of their difference).
    """

    B: FastBackend
    c0: FastTensor  # d
    A: FastTensor  # h × d
    W_dec: FastTensor  # d × h
    M: DenseProduct  # d × d: W_dec A, so MI = M − I
    rho: np.ndarray  # d
    tau: np.ndarray  # h
    zeta: np.ndarray  # d; zeros for real numbers
    row: np.ndarray  # d: Σ_k |MI_ik| ρ_k + Σ_j |W_dec,ij| τ_j + ζ_i >= the largest |(x_hat − x − c0)_i|
    semantics: str

    @property
    def reach(self) -> np.ndarray:
        """Upper bounds of |x_hat_i − x_i| over the box."""
        return self.B.up(self.B.upper(self.B.magnitude(self.c0)) + self.row)


def residual_form(s: Prepared, parallel: list[tuple[float, float, float]],
                  M: DenseProduct | None = None) -> ResidualForm | None:
    """The affine form of x_hat − x from one slope a_j per neuron (None when h = 0);
    `M`, when given, encloses W_dec diag(a) W_enc for these slopes (`linear_bounds`'s).

    `parallel` holds `relaxation`'s (a_j, cL_j, cU_j) per neuron, which gives
    act(z_j) = a_j z_j + t_j with t_j in [cL_j, cU_j] (the secant, for relu straddling 0
    the parallelogram of DeepZ: Singh et al., NeurIPS 2018).
    With x = c + ρ∘e_x and t = tc + τ∘e_t, x_hat − x = W_dec(a∘(W_enc x + b_enc) + t) +
    b_dec − x is the form above with c0 = W_dec(a∘(W_enc c + b_enc) + tc) + b_dec − c.
    In a float semantics z_f = W_enc x_f + b_enc + e1 and hid_f = act(z_f) + e2 widen t
    by |a| e1 + e2, and x_hat_f = W_dec hid_f + b_dec + e3 gives ζ = e3 (see linear_bounds).
    """
    B, W_enc, b_enc, W_dec, b_dec, x = s.B, s.W_enc, s.b_enc, s.W_dec, s.b_dec, s.x
    h, d = W_enc.shape
    if h == 0:
        return None
    a, cL, cU = (np.array(v, dtype=np.float64) for v in zip(*parallel))
    if len(s.e1):
        slack = B.inflate(np.abs(a) * s.e1 + s.e2, 2)
        cL, cU = B.down(cL - slack), B.up(cU + slack)
    tc = 0.5 * cL + 0.5 * cU
    tau = B.up(np.maximum(tc - cL, cU - tc))
    mid, rho = x.mid_rad()
    A = B.mul(W_enc, B.constant_floats(a[:, None]))  # a_j times row j, broadcast
    hidden_c = B.add(B.mul(B.constant_floats(a), B.affine(W_enc, B.constant_floats(mid), b_enc)), B.constant_floats(tc))
    c0 = B.sub(B.affine(W_dec, hidden_c, b_dec), B.constant_floats(mid))
    if M is None:
        M = DenseProduct(W_dec, A)  # rows W_dec,i A
    zeta = s.e3 if len(s.e3) else np.zeros(d)
    row = B.up(B.up(M.abs_times(rho, shift=1)
                    + magnitude_times(W_dec, tau)) + zeta)
    return ResidualForm(B, c0, A, W_dec, M, rho, tau, zeta, row, s.semantics)


def _joint_error(form: ResidualForm) -> tuple[float, float] | None:
    """Bounds of E = ||r||²/d from the affine form of the whole residual vector.

    Write r = c0 + v with v = MI(ρ∘e_x) + W_dec(τ∘e_t) + ζ∘e_ζ (`residual_form`; in a
    float semantics ζ also holds the rounding of x_hat − x, u·|x_hat − x|). Then
    ||r||² = ||c0||² + 2 c0ᵀv + ||v||², and over the cube

        max 2 c0ᵀv  = 2 (Σ_k ρ_k |(Aᵀw − c0)_k| + Σ_j τ_j |w_j| + Σ_i ζ_i |c0_i|),   w = W_decᵀ c0,
        max ||v||² <= Σ_i (Σ_k |MI_ik| ρ_k + Σ_j |W_dec,ij| τ_j + ζ_i)²,

    the first exactly (a linear function's maximum over a box; MIᵀc0 = Aᵀw − c0), the
    second coordinate by coordinate. Unlike squares of each r_i's bounds, the
    first-order term keeps the correlation of the r_i: summed separately, each |r_i|
    is at its maximum at another corner. ||r||² >= ||c0||² − max 2 c0ᵀv. Every vector
    is computed in outward-rounded interval arithmetic (c0, w, ... are interval
    vectors, |·| their magnitudes), the sums exactly (math.fsum) and rounded outward.

    In a float semantics E_f = fl(fl(Σ fl(r_i²))/d) with |fl(r²) − r²| <= u r² + eta and
    the mean within γ_{d+1} (as `FloatSemantics.mean`): E_f <= (1 + γ_{d+1})((1 + u) S/d
    + eta) + eta for S >= ||r_f||², and the same way round below.
    """
    B, c0, rho, tau = form.B, form.c0, form.rho, form.tau
    d = len(rho)
    zeta, row = form.zeta, form.row
    if form.semantics != "real":  # r_f = fl(x_hat_f − x_f): one more rounding, u·|x_hat_f − x_f|
        rounding = B.up(float(FORMATS[form.semantics].unit_roundoff) * form.reach)
        zeta, row = B.up(zeta + rounding), B.up(row + rounding)
    w = B.rmatvec(form.W_dec, c0)
    gx = B.sub(B.rmatvec(form.A, w), c0)
    c0_mag = B.upper(B.magnitude(c0))
    c0_lo, c0_hi = B.ends(c0)
    c0_mig = np.where((c0_lo <= 0) & (c0_hi >= 0), 0.0, np.minimum(np.abs(c0_lo), np.abs(c0_hi)))
    parts = [sum_up(B.up(c0_mag * c0_mag)), sum_up(B.up(rho * B.upper(B.magnitude(gx)))),
             sum_up(B.up(tau * B.upper(B.magnitude(w)))), sum_up(B.up(zeta * c0_mag)), sum_up(B.up(row * row)),
             sum_down(B.down(c0_mig * c0_mig))]
    finite = [p for p in parts if p is not None]
    if len(finite) < len(parts):
        return None
    square, lin_x, lin_t, lin_zeta, quadratic, square_low = finite
    linear = lin_x + lin_t + lin_zeta
    S_up, S_lo = square + 2 * linear + quadratic, max(square_low - 2 * linear, Fraction(0))
    if form.semantics == "real":
        return float(round_down(S_lo / d)), round_up(S_up / d)
    fmt = FORMATS[form.semantics]
    u, eta, g = fmt.unit_roundoff, fmt.eta, gamma(d + 1, fmt)
    upper = (1 + g) * ((1 + u) * S_up / d + eta) + eta
    lower = (1 - g) * ((1 - u) * S_lo / d - eta) - eta
    return max(round_down(lower), 0.0), round_up(upper)
