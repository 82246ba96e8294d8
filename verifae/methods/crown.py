"""CROWN for layered models: backward linear relaxation through every layer.

For a `LayeredSpec` with layers z_k = W_k a_{k−1} + b_k, a_k = act_k(z_k) (a_0 = x,
act_k None: a_k = z_k), every layer's pre-activation is bounded by back-substitution
to the input (Zhang et al., "Efficient neural network robustness certification with
general activation functions", NeurIPS 2018), in order from the first layer, so
that each layer's relaxations are taken over bounds proven before:

1. For each neuron of a layer with an activation, the entry proves lines
   aL z + cL <= act(z) <= aU z + cU on the neuron's pre-activation interval
   (`Activation.relaxation` and `relaxation_lines`: offsets enclosed with Arb).
2. To bound Λ a_j from above (Λ a coefficient matrix, m × n_j), split Λ = Λ⁺ + Λ⁻
   by sign: Λ a_j <= (Λ⁺ diag(aU) + Λ⁻ diag(aL)) z_j + Λ⁺ cU + Λ⁻ cL; from below the
   other way round. Then z_j = W_j a_{j−1} + b_j moves the coefficient to a_{j−1}:
   Λ ← P W_j, constant += P b_j. At the input, Λ x + c is concretized over the box
   with the midpoint-radius product (centre and radius of x: each x_k counted once).
3. Every step runs in the fast backend's outward-rounded interval arithmetic, with
   Λ an interval matrix: each inequality holds for every matrix in the interval, so
   the final concretization (the interval product's upper end) is a proof. The last
   step, onto the input, keeps Λ = P W_0 as its two thin factors (`InputProduct`):
   the rows × d matrix is concretized as a `DenseProduct` (Rump's midpoint-radius
   product with a-priori bounds, |Λ| ρ applied as an operator), never formed as
   interval arrays; the upper and lower forms share it when one slope per neuron
   moved both, and the residual's Λ − I is the same product with its diagonal shifted.

Each layer's bounds are intersected with interval propagation before its
relaxations are taken (both are sound, so is their intersection).

Float semantics (float32 / float64): the same bounds hold for every IEEE-754 run,
with the rounded parameters and inputs, the relaxation taken over the interval of
the *float* pre-activation, and two error terms entering as symmetric slack:

- each affine layer z_f = W a_f + b + e1 with |e1| <= γ_{n+1}(|W||a_f| + |b|) + (n+1)·eta
  (n the fan-in; Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
  Lemma 3.1 and §3.1 eq. (3.5), with the underflow term of eq. (2.8), the bias one
  more term of the sum: `verifae.rounding`). The bound of |a_f| is the one proven for
  the layer before.
- each activation a_f = act(z_f) + e2 with |e2| <= the entry's `float_error` (the
  library bound K of `verifae.libm` for exp-based ones, 0 where act is exact on floats).

So Λ a_f <= Λ⁺(aU z_f + cU) + Λ⁻(aL z_f + cL) + |Λ| e2 and Λ z_f = Λ(W a_f + b) ± |Λ| e1:
the slack |Λ| e accumulates in a non-negative vector next to the constant. The
residual a run computes, fl(x_hat_f − x_f), adds one rounding u·|x_hat_f − x_f|. Every
error term assumes that no intermediate of the run overflows; the float interval
pass proves that, or `crown_bounds` returns None.

Relu phase splitting (`phases`): a part of branch and bound may fix the phase of
chosen relu / leaky_relu neurons, z_j >= 0 (+1) or z_j <= 0 (−1). Such a part is the
set of points of the box (in a float semantics: of float runs) whose z_j has that
sign, and its bounds hold on that set only. Its proven interval of z_j is clipped to
the phase before the neuron's relaxation is taken: on [max(l, 0), u] relu is the
identity and on [l, min(u, 0)] it is zero (leaky_relu: slope 1 or s), so the entry's
lines there are exact, with no relaxation gap. When the clipped interval is empty, no
point of the box has that phase (the part is empty, `EmptyPart`). The two phases of a
neuron cover every point (z_j = 0 belongs to both), so parts that split a neuron
both ways cover their parent. In a float semantics the phase is that of the *float*
pre-activation z_f, whose enclosure is the one proven here (and the one relu reads in
a float run, where relu is exact): every run has a z_f of one sign or the other, so
the two parts again cover every run.

`crown_bounds(..., alpha=True)` optimises the lower slopes of relu / leaky_relu
neurons (α-CROWN, `verifae.methods.alpha`) and recomputes every bound with them by the
same back-substitution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..activations import Activation
from ..backends.fast import FastBackend, FastTensor
from ..box import Box
from ..errors import BoxError, UnsupportedError
from ..layered import (
    LayeredSpec,
    layered_backward,
    layered_forward,
    layered_parameters,
    mse_grad_output,
    reconstruction_error,
)
from ..numbers import FORMATS
from ..rounding import FloatSemantics, FloatTensor, gamma
from .base import as_bounds
from .dense import DenseProduct

__all__ = ["crown_bounds", "crown_result", "EmptyPart", "PHASE_ACTIVATIONS", "Phases", "Form", "InputProduct", "Lines",
           "Network", "prepare_network", "propagate", "back_substitute", "start_rows", "output_forms", "minus_identity",
           "finish"]

SEMANTICS = ("real", "float32", "float64")
#: activations whose phases can be fixed: piecewise linear with the kink at 0
PHASE_ACTIVATIONS = ("relu", "leaky_relu")
#: fixed phases: layer index -> array over the layer's neurons, +1 (z_j >= 0), −1 (z_j <= 0) or 0 (free)
Phases = dict[int, np.ndarray]


class EmptyPart(Exception):  # noqa: N818 (a result, not an error)
    """No point of the box (no float run) has the fixed phases: the part is empty."""


# ------------------------------------------------------------------ interval helpers
# Only the fast backend's public operations (bounds, interval_floats, up, inflate, ...).


def _meet(B: FastBackend, a: FastTensor, b: FastTensor) -> FastTensor:
    """The intersection of two enclosures of the same quantity (both sound, so it is)."""
    (alo, ahi), (blo, bhi) = B.ends(a), B.ends(b)
    return B.interval_floats(np.maximum(alo, blo), np.minimum(ahi, bhi))


def _abs_times(B: FastBackend, A: FastTensor, e: np.ndarray) -> np.ndarray:
    """An upper bound of |A| e for e >= 0, row by row."""
    return B.upper(B.matvec(B.magnitude(A), B.constant_floats(e)))


def _add_up(B: FastBackend, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An upper bound of a + b (non-negative slack vectors): one rounding, one step up."""
    with np.errstate(over="ignore", invalid="ignore"):
        return B.up(a + b)


def _gamma_up(B: FastBackend, n: int, fmt: Any) -> float:
    """A double >= γ_n of the format (float of a Fraction is correctly rounded)."""
    return float(B.up(np.float64(float(gamma(n, fmt)))))


# ------------------------------------------------------------------ the network


@dataclass
class Lines:
    """One layer's relaxation lines aL z + cL <= act(z) <= aU z + cU, per neuron, and the
    slack |e2| of the float activation (None for the real semantics)."""

    aL: np.ndarray
    cL: np.ndarray
    aU: np.ndarray
    cU: np.ndarray
    e2: np.ndarray | None

    @property
    def parallel(self) -> bool:
        return bool(np.array_equal(self.aL, self.aU))


@dataclass
class Network:
    """Everything back-substitution reads: parameters and inputs as fast tensors (the
    rounded ones in a float semantics), the interval pass to intersect with, and what is
    proven so far: every layer's pre- and post-activation bounds, relaxation lines and
    float error bounds e1."""

    B: FastBackend
    F: FloatSemantics | None
    semantics: str
    names: list[str]
    weights: list[FastTensor]
    biases: list[FastTensor]
    acts: list[Activation | None]
    n_encoder: int
    x: FastTensor
    interval_pre: list[FastTensor]
    interval_post: list[FastTensor]
    interval_residual: FastTensor
    interval_error: FastTensor
    pre: list[FastTensor] = field(default_factory=list)
    post: list[FastTensor] = field(default_factory=list)
    lines: list[Lines | None] = field(default_factory=list)
    e1: list[np.ndarray | None] = field(default_factory=list)
    phases: Phases = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return len(self.weights)


def _check_phases(spec: LayeredSpec, phases: Phases) -> Phases:
    out = {}
    for k, signs in phases.items():
        if not 0 <= k < len(spec.layers):
            raise UnsupportedError(f"phases: layer {k} is out of range (the model has {len(spec.layers)} layers)")
        act = spec.layers[k].activation
        if act is None or act.name not in PHASE_ACTIVATIONS:
            raise UnsupportedError(f"phases: layer {k} has no relu / leaky_relu activation")
        signs = np.asarray(signs)
        if signs.shape != (spec.layers[k].out_features,) or not np.isin(signs, (-1, 0, 1)).all():
            raise UnsupportedError(f"phases: layer {k} needs {spec.layers[k].out_features} signs in {{-1, 0, 1}}")
        out[k] = signs.astype(np.int8)
    return out


def prepare_network(spec: LayeredSpec, box: Box, semantics: str, phases: Phases | None = None) -> Network | None:
    """Parameters, inputs and the interval pass in `semantics`; None where a float run may
    overflow anywhere (some entry of the float interval pass, forward, E or the MSE
    backward pass, is unbounded: every float error term here assumes no overflow).
    `phases` fixes relu phases (module docstring); the interval pass ignores them (it
    encloses the whole box, so the part too)."""
    fixed = _check_phases(spec, phases or {})
    net = _prepare_network(spec, box, semantics)
    if net is not None:
        net.phases = fixed
    return net


def _prepare_network(spec: LayeredSpec, box: Box, semantics: str) -> Network | None:
    if semantics not in SEMANTICS:
        raise UnsupportedError(f"unknown semantics {semantics!r}; valid: {', '.join(SEMANTICS)}")
    if box.dim != spec.input_dim:
        raise BoxError(f"the box has {box.dim} entries but the model's input_dim is {spec.input_dim}")
    B = FastBackend()
    d = spec.input_dim
    if semantics == "real":
        p = layered_parameters(B, spec)
        x = B.box(box)
        fwd = layered_forward(B, p, x)
        residual = B.sub(fwd.output, x)
        error = B.mean(B.square(residual))
        return Network(B, None, semantics, [layer.name for layer in p.layers], [layer.weight for layer in p.layers],
                       [layer.bias for layer in p.layers], [layer.activation for layer in p.layers], p.n_encoder, x,
                       [f.pre_activation for f in fwd.layers], [f.post_activation for f in fwd.layers],
                       residual, error)
    F = FloatSemantics(B, FORMATS[semantics])
    pf = layered_parameters(F, spec)
    xf = F.box(box)  # converted once per box and format
    fwd_f = layered_forward(F, pf, xf)
    error_f = reconstruction_error(F, fwd_f.output, xf)
    grads = layered_backward(F, pf, xf, fwd_f, mse_grad_output(F, fwd_f.output, xf, d))
    tensors = [xf, error_f, *grads.values()]
    for layer, f in zip(pf.layers, fwd_f.layers):
        tensors += [layer.weight, layer.bias, f.pre_activation, f.post_activation]
    if any(t.unbounded.any() for t in tensors):
        return None
    residual_f = F.sub(fwd_f.output, xf)
    return Network(B, F, semantics, [layer.name for layer in pf.layers], [layer.weight.value for layer in pf.layers],
                   [layer.bias.value for layer in pf.layers], [layer.activation for layer in pf.layers],
                   pf.n_encoder, xf.value, [f.pre_activation.value for f in fwd_f.layers],
                   [f.post_activation.value for f in fwd_f.layers], residual_f.value, error_f.value)


# ------------------------------------------------------------------ back-substitution


class InputProduct:
    """The coefficient at the input of a back-substituted form, kept as the product
    Λ = P W_0 of its two thin factors (P rows × n_0, W_0 the first layer's n_0 × d
    weight) and shifted by −I for the residual (`shift` = 1): the rows × d interval
    matrix is never formed for the concretization. Its midpoint-radius enclosure
    (`DenseProduct`: fl(mP mW) ± R, Rump 1999 §3 with Higham's γ_n for the one BLAS
    product, R applied as an operator) is built on first use and shared by the forms
    that hold the same factors (the upper and lower forms when one slope per neuron
    moved both, and the residual's Λ − I), as are its concretizations."""

    __slots__ = ("P", "W", "shift", "_shared")

    def __init__(self, P: FastTensor, W: FastTensor, shift: int = 0,
                 shared: dict[Any, Any] | None = None) -> None:
        self.P, self.W, self.shift = P, W, shift
        self._shared: dict[Any, Any] = {} if shared is None else shared

    def shifted(self, shift: int) -> InputProduct:
        """Λ − shift·I, sharing the factors' enclosure and its cache."""
        return InputProduct(self.P, self.W, shift, self._shared)

    def same_factors(self, other: InputProduct) -> bool:
        return self._shared is other._shared

    def tensor(self, B: FastBackend) -> FastTensor:
        """Λ (− I) as an interval matrix (computed once per factors and shift): the matrix
        back-substitution formed before, for callers that read `Form.Lam`."""
        if ("tensor", 0) not in self._shared:
            self._shared["tensor", 0] = B.rmatvec(self.W, self.P)  # P W_0 (P's rows: batch axes)
        key = ("tensor", self.shift)
        if key not in self._shared:
            self._shared[key] = _minus_identity(B, self._shared["tensor", 0], self.shift)
        return self._shared[key]

    def concretize(self, x: FastTensor) -> tuple[np.ndarray, np.ndarray]:
        """(y, s): (Λ − shift·I) ξ lies in [y − s, y + s] for every Λ in P W_0 and every ξ
        in the box x (`DenseProduct.concretize` over the box's centre and radius, which
        contain it)."""
        key = ("concretize", self.shift, id(x))
        if key not in self._shared:
            centre, radius = x.mid_rad()  # [centre − radius, centre + radius] ⊇ the box
            dense_key = ("dense", id(x))
            if dense_key not in self._shared:
                self._shared[dense_key] = (x, DenseProduct(self.P, self.W, centre=centre))  # x kept: id stays its own
            self._shared[key] = self._shared[dense_key][1].concretize(radius, self.shift)
        return self._shared[key]


class Form:
    """An affine bound Λ x + c ± slack of some quantity over the box (one row per bounded
    quantity): the upper form bounds it from above by sup(Λ x + c) + slack, the lower form
    from below by inf(Λ x + c) − slack, for every Λ and c in their intervals.

    Λ is an interval matrix (rows × d) or, as back-substitution leaves it, the product of
    its factors (`InputProduct`); `Lam` forms the matrix when asked for."""

    __slots__ = ("_Lam", "const", "slack", "product")

    def __init__(self, Lam: FastTensor | None, const: FastTensor, slack: np.ndarray,
                 product: InputProduct | None = None) -> None:
        if Lam is None and product is None:
            raise ValueError("a form needs its coefficient matrix or its factors")
        self._Lam, self.const, self.slack, self.product = Lam, const, slack, product

    @property
    def Lam(self) -> FastTensor:  # noqa: N802 (the maths' Λ)
        if self._Lam is None:
            assert self.product is not None
            self._Lam = self.product.tensor(FastBackend())
        return self._Lam

    def concretize(self, B: FastBackend, x: FastTensor, up: bool) -> np.ndarray:
        """sup (up) or inf of Λ x + c ± slack over the box x: Rump's midpoint-radius product
        bounds Λ x for every Λ in its interval and x in the box (each x_k once)."""
        if self.product is not None:
            y, s = self.product.concretize(x)
            with np.errstate(invalid="ignore", over="ignore"):
                value = B.widen(B.add(B.constant_floats(y), self.const), B.constant_floats(_add_up(B, s, self.slack)))
        else:
            value = B.widen(B.add(B.matvec(self.Lam, x), self.const), B.constant_floats(self.slack))
        lo, hi = B.ends(value)
        return hi if up else lo


def _relax(net: Network, Lam: FastTensor, up: bool, lines: Lines, lower_slopes: np.ndarray | None,
           P: FastTensor | None = None) -> tuple[FastTensor, FastTensor, np.ndarray]:
    """The coefficient Λ on a_j (after act_j) moved onto z_j through the lines: (P, the
    constant Λ⁺ cU + Λ⁻ cL (up) or Λ⁺ cL + Λ⁻ cU (down), the slack |Λ| e2). A given P
    (the other pass's, when both move the same Λ with one slope per neuron) is kept.

    `lower_slopes` (rows × n_j, or None) replaces aL where it is finite: α-CROWN's lower
    lines through the origin (offset 0), sound for relu / leaky_relu neurons straddling
    0 with a slope in [s, 1] (`verifae.methods.alpha` proves it and chooses them)."""
    B = net.B
    aL, cL = lines.aL, lines.cL
    if lower_slopes is not None:
        chosen = np.isfinite(lower_slopes)
        aL = np.where(chosen, lower_slopes, aL)
        cL = np.where(chosen, 0.0, cL)
    # upper pass: a positive coefficient takes the upper line, a negative one the lower
    slope_pos, slope_neg = (lines.aU, aL) if up else (aL, lines.aU)
    off_pos, off_neg = (lines.cU, cL) if up else (cL, lines.cU)
    with np.errstate(invalid="ignore", over="ignore"):
        if P is None:
            P = B.piecewise_scale(Lam, slope_pos, slope_neg)
        # Σ_j (λ⁺ c_pos + λ⁻ c_neg)_ij: the elementwise range, summed (n times the
        # outward-rounded mean, `FastBackend.mean`: the sum's error bound, then /n)
        terms = B.piecewise_scale(Lam, off_pos, off_neg)
        const = B.scale(B.mean(terms), terms.shape[-1])
    if lines.e2 is not None and lines.e2.any():
        slack = _abs_times(B, Lam, lines.e2)
    else:
        slack = np.zeros(const.shape)
    return P, const, slack


def back_substitute(net: Network, k: int, rows: FastTensor, const: FastTensor, slack: np.ndarray,
                    slopes: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[Form, Form]:
    """Upper and lower forms over the input of `rows` · a_{k−1} + `const` ± `slack` (for
    rows = W_k, const = b_k and slack = e1_k: the pre-activation z_k), through layers
    k − 1, ..., 0, whose lines and e1 must be known. `slopes[j]` = (upper pass, lower
    pass) lower-line slopes of layer j, rows × n_j (NaN: the entry's own), for α-CROWN."""
    B = net.B
    forms: dict[bool, tuple[Any, FastTensor, np.ndarray]] = {True: (rows, const, slack), False: (rows, const, slack)}
    products: dict[bool, InputProduct] = {}
    for j in range(k - 1, -1, -1):
        lines = net.lines[j]
        shared = forms[True][0] is forms[False][0]
        step: dict[bool, tuple[FastTensor, FastTensor, np.ndarray]] = {}
        for up in (True, False):
            Lam, c, s = forms[up]
            if lines is None:  # no activation: a_j = z_j (and the float run computes nothing)
                step[up] = (Lam, c, s)
                continue
            own = None if slopes is None or j not in slopes else slopes[j][0 if up else 1]
            reuse = None
            if not up and shared and lines.parallel and slopes is None:
                reuse = step[True][0]  # one slope per neuron: both passes move Λ the same way
            P, c_add, s_add = _relax(net, Lam, up, lines, own, reuse)
            step[up] = (P, B.add(c, c_add), _add_up(B, s, s_add))
        same_P = step[True][0] is step[False][0]
        W, b, e1 = net.weights[j], net.biases[j], net.e1[j]
        for up in (True, False):
            P, c, s = step[up]
            with np.errstate(invalid="ignore", over="ignore"):
                c = B.add(c, B.matvec(P, b))
            if e1 is not None:
                s = _add_up(B, s, _abs_times(B, P, e1))
            if j:
                Lam = forms[True][0] if (not up and same_P) else B.rmatvec(W, P)  # P W_j (P's rows: batch axes)
                forms[up] = (Lam, c, s)
            else:  # at the input: Λ = P W_0, kept as its factors (`InputProduct`)
                products[up] = products[True] if (not up and same_P) else InputProduct(P, W)
                forms[up] = (None, c, s)
    if k == 0:
        return Form(*forms[True]), Form(*forms[False])
    return Form(*forms[True], product=products[True]), Form(*forms[False], product=products[False])


# ------------------------------------------------------------------ layer by layer


def _e1(net: Network, k: int) -> np.ndarray | None:
    """The float error bound of layer k's affine map (None for the real semantics):
    |fl(W a_f + b) − (W a_f + b)| <= γ_{n+1}(|W||a_f| + |b|) + (n+1)·eta for every
    summation order, FMA or not (Higham Lemma 3.1, §3.1 eq. (3.5), with the underflow
    term of eq. (2.8); n + 1 terms with the bias), with |a_f| bounded by the enclosure
    proven for the layer before (the rounded box for k = 0)."""
    if net.F is None:
        return None
    B, fmt = net.B, net.F.format
    a = net.x if k == 0 else net.post[k - 1]
    n = net.weights[k].shape[1]
    abs_sum = B.upper(B.affine(B.magnitude(net.weights[k]), B.magnitude(a), B.magnitude(net.biases[k])))
    with np.errstate(over="ignore", invalid="ignore"):
        # two roundings (a product and a sum) of non-negative terms: `inflate`
        return B.inflate(_gamma_up(B, n + 1, fmt) * abs_sum + (n + 1) * float(fmt.eta), 2)


def _lines(net: Network, act: Activation, z: FastTensor, a: FastTensor) -> Lines:
    """The entry's relaxation of every neuron over its proven interval z (the float z_f in a
    float semantics) and, there, the bound e2 of the float activation's error."""
    lo, hi = net.B.ends(z)
    rows = []
    for lo_j, hi_j in zip(lo.tolist(), hi.tolist()):
        if not (np.isfinite(lo_j) and np.isfinite(hi_j)):
            rows.append((0.0, -np.inf, 0.0, np.inf))  # nothing to relax: act(z) in (−inf, inf)
            continue
        rows.append(act.relaxation_lines(lo_j, hi_j, act.relaxation(lo_j, hi_j)))
    aL, cL, aU, cU = (np.array(v, dtype=np.float64).reshape(len(rows)) for v in zip(*rows)) if rows else \
        (np.zeros(0),) * 4
    e2 = None
    if net.F is not None:
        B = net.B
        e2 = act.float_error(B, net.semantics, B.upper(B.magnitude(z)), B.upper(B.magnitude(a)))
    return Lines(aL, cL, aU, cU, e2)


def _activation_enclosure(net: Network, act: Activation, z: FastTensor) -> FastTensor:
    """act over the proven interval z: the entry's tight extension, in a float semantics
    with the float activation's error (`FloatSemantics.activation`)."""
    if net.F is None:
        return net.B.activation(act, z)
    zf = FloatTensor(z, np.zeros(z.shape, dtype=bool))
    return net.F.activation(act, zf).value


def _fix_phases(B: FastBackend, z: FastTensor, signs: np.ndarray) -> FastTensor:
    """z clipped to the fixed phases: [max(l, 0), u] where z_j >= 0, [l, min(u, 0)] where
    z_j <= 0. z encloses z_j on the part (points of the box with the phases fixed in the
    layers below), so the clipped interval encloses it where the phase holds too; an
    empty one (l > 0 for z_j <= 0, u < 0 for z_j >= 0) proves the part empty."""
    lo, hi = B.ends(z)
    lo = np.where(signs > 0, np.maximum(lo, 0.0), lo)
    hi = np.where(signs < 0, np.minimum(hi, 0.0), hi)
    if (lo > hi).any():
        raise EmptyPart
    return B.interval_floats(lo, hi)


def start_rows(net: Network, k: int, rows: int | None = None) -> tuple[FastTensor, FastTensor, np.ndarray]:
    """Back-substitution's start for z_k = W_k a_{k−1} + b_k (+ e1_k): W_k, b_k, e1_k,
    optionally with the rows repeated `rows` times (α optimises each copy separately)."""
    B = net.B
    W, b, e1 = net.weights[k], net.biases[k], net.e1[k]
    slack = np.zeros(W.shape[0]) if e1 is None else e1
    if rows is not None and rows > 1:
        (Wlo, Whi), (blo, bhi) = B.ends(W), B.ends(b)
        W = B.interval_floats(np.tile(Wlo, (rows, 1)), np.tile(Whi, (rows, 1)))
        b = B.interval_floats(np.tile(blo, rows), np.tile(bhi, rows))
        slack = np.tile(slack, rows)
    return W, b, slack


def propagate(net: Network, layers: int | None = None,
              tighten: Callable[[Network, int], FastTensor | None] | None = None) -> tuple[Form, Form]:
    """Bound layers 0, ..., `layers` − 1 (all by default) in order: each pre-activation by
    back-substitution ∩ interval propagation (∩ `tighten(net, k)`, another sound bound of
    z_k computed from what is proven below layer k, for the hidden layers), then its
    relaxation lines and post-activation enclosure. Returns the last bounded layer's
    (upper, lower) forms, those of the fixed slopes."""
    B = net.B
    count = net.depth if layers is None else layers
    forms: tuple[Form, Form] | None = None
    for k in range(len(net.pre), count):
        net.e1.append(_e1(net, k))
        forms = back_substitute(net, k, *start_rows(net, k))
        x = net.x
        with np.errstate(invalid="ignore", over="ignore"):
            z = B.interval_floats(forms[1].concretize(B, x, up=False), forms[0].concretize(B, x, up=True))
        z = _meet(B, B.interval_floats(*(as_bounds(B.bounds(z)).T)), net.interval_pre[k])
        if tighten is not None and k < net.depth - 1:
            other = tighten(net, k)
            if other is not None:
                z = _meet(B, z, other)
        if k in net.phases:
            z = _fix_phases(B, z, net.phases[k])
        net.pre.append(z)
        act = net.acts[k]
        if act is None:
            net.post.append(_meet(B, z, net.interval_post[k]))
            net.lines.append(None)
        else:
            a = _meet(B, _activation_enclosure(net, act, z), net.interval_post[k])
            net.post.append(a)
            net.lines.append(_lines(net, act, z, a))
    assert forms is not None
    return forms


def output_forms(net: Network, z_forms: tuple[Form, Form]) -> tuple[Form, Form]:
    """Forms of the last layer's output a_L from those of z_L (rows of the same count, or
    a multiple of it): the identity when it has no activation, else row by row through
    its lines, aU_i z_i + cU_i from z_i's upper form where aU_i >= 0, its lower form
    where aU_i < 0 (and the other way round for aL), plus the slack e2. A coefficient
    kept as factors P W_0 has P's rows scaled: row i of diag(a) P W_0 is (a_i P_i) W_0."""
    L = net.depth - 1
    lines = net.lines[L]
    if lines is None:
        return z_forms
    B = net.B
    upper, lower = z_forms
    factored = upper.product is not None and lower.product is not None and upper.product.shift == 0 \
        and lower.product.shift == 0 and upper.product.W is lower.product.W
    reps = upper.const.shape[0] // len(lines.aU)
    out = []
    # One product for both passes when they scale the same rows by the same slopes. The
    # rows are compared by identity, so each entry keeps its rows alive: a merged tensor
    # freed after the first pass could otherwise hand its id to the second pass's
    # different rows (found by the adversarial review: silu and gelu outputs, whose
    # lines share one slope, got the upper form's rows in their lower form).
    scaled: list[tuple[FastTensor, np.ndarray, InputProduct]] = []
    for up, slope, offset in ((True, lines.aU, lines.cU), (False, lines.aL, lines.cL)):
        a, c = np.tile(slope, reps), np.tile(offset, reps)
        # a z <= a·U(x) for a >= 0 and z <= U(x); a z <= a·L(x) for a < 0 and z >= L(x)
        from_upper = (a >= 0) if up else (a < 0)
        coefficients = (upper.product.P, lower.product.P) if factored else (upper.Lam, lower.Lam)  # type: ignore[union-attr]
        chosen = []
        for t_up, t_lo in (coefficients, (upper.const, lower.const)):
            if from_upper.all() or t_up is t_lo:
                chosen.append(t_up)
                continue
            if not from_upper.any():
                chosen.append(t_lo)
                continue
            (ulo, uhi), (llo, lhi) = B.ends(t_up), B.ends(t_lo)
            m = from_upper.reshape(-1, *([1] * (ulo.ndim - 1)))
            chosen.append(B.interval_floats(np.where(m, ulo, llo), np.where(m, uhi, lhi)))
        s = np.where(from_upper, upper.slack, lower.slack)
        with np.errstate(invalid="ignore", over="ignore"):
            Lam: FastTensor | None = None
            product = next((p for source, slopes, p in scaled if source is chosen[0] and np.array_equal(slopes, a)),
                           None) if factored else None
            if product is None:
                rows = B.piecewise_scale(chosen[0], a[:, None], a[:, None])  # row i times a_i
                if factored:
                    product = InputProduct(rows, upper.product.W)  # type: ignore[union-attr]
                    scaled.append((chosen[0], a, product))
                else:
                    Lam = rows
            const = B.add(B.piecewise_scale(chosen[1], a, a), B.constant_floats(c))
            slack = B.inflate(np.abs(a) * s, 1)  # one rounding of a product of non-negatives
            if lines.e2 is not None:
                slack = _add_up(B, slack, np.tile(lines.e2, reps))
        out.append(Form(Lam, const, slack, product=product))
    return out[0], out[1]


def _minus_identity(B: FastBackend, Lam: FastTensor, shift: int = 1) -> FastTensor:
    """Λ − shift·I (Λ with d columns): only the diagonal is recomputed, outward."""
    lo, hi = (v.copy() for v in B.ends(Lam))
    d = lo.shape[-1]
    diagonal = B.sub(B.interval_floats(np.diagonal(lo).copy(), np.diagonal(hi).copy()),
                     B.constant_floats(np.full(d, float(shift))))
    dlo, dhi = B.ends(diagonal)
    np.fill_diagonal(lo, dlo)
    np.fill_diagonal(hi, dhi)
    return B.interval_floats(lo, hi)


def minus_identity(B: FastBackend, form: Form) -> Form:
    """The form of a_L − x from that of a_L (d rows): Λ − I, which differs from Λ on the
    diagonal only (a product of factors keeps them and is shifted when concretized)."""
    if form.product is not None:
        return Form(None, form.const, form.slack, product=form.product.shifted(form.product.shift + 1))
    return Form(_minus_identity(B, form.Lam), form.const, form.slack)


def _pair(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return as_bounds(np.stack([lower, upper], axis=-1))


def finish(net: Network, out_forms: tuple[Form, Form], res_forms: tuple[Form, Form]) -> dict[str, np.ndarray]:
    """The result dictionary from the forms of the output and the residual (and what
    `propagate` proved layer by layer)."""
    B, x = net.B, net.x
    result: dict[str, np.ndarray] = {}
    for name, z, a in zip(net.names, net.pre, net.post):
        result[f"layers.{name}.pre_activation"] = as_bounds(B.bounds(z))
        result[f"layers.{name}.post_activation"] = as_bounds(B.bounds(a))
    with np.errstate(invalid="ignore", over="ignore"):
        out = _pair(out_forms[1].concretize(B, x, up=False), out_forms[0].concretize(B, x, up=True))
        r = _pair(res_forms[1].concretize(B, x, up=False), res_forms[0].concretize(B, x, up=True))
    output = _meet(B, B.interval_floats(out[:, 0], out[:, 1]), net.post[-1])
    residual = B.interval_floats(r[:, 0], r[:, 1])
    if net.F is None:
        residual = _meet(B, residual, net.interval_residual)
        # E = mean(r_i²) from the bounds of each r_i (a square's exact range, then the mean)
        error = B.mean(B.square(residual))
    else:
        F = net.F
        # r_f = fl(x_hat_f − x_f): one rounding, |δ| <= u, of a difference (no underflow term)
        with np.errstate(invalid="ignore", over="ignore"):
            rounding = B.inflate(float(F.u) * B.upper(B.magnitude(residual)), 1)
        residual = _meet(B, B.widen(residual, B.constant_floats(rounding)), net.interval_residual)
        squares = F.square(FloatTensor(residual, np.zeros(residual.shape, dtype=bool)))
        mean = F.mean(squares)
        error = mean.value
        if squares.unbounded.any() or mean.unbounded.any():
            error = net.interval_error  # the interval pass proved E bounded: keep it
    error = _meet(B, error, net.interval_error)
    result["output"] = as_bounds(B.bounds(output))
    result["latent"] = result[f"layers.{net.names[net.n_encoder - 1]}.post_activation"]
    result["residual"] = as_bounds(B.bounds(residual))
    e = as_bounds(B.bounds(error)).reshape(2)
    result["reconstruction_error"] = np.array([max(float(e[0]), 0.0), float(e[1])])
    return result


def crown_bounds(spec: LayeredSpec, box: Box, semantics: str = "real", *, alpha: bool = False,
                 phases: Phases | None = None) -> dict[str, np.ndarray] | None:
    """Rigorous float64 (lower, upper) bounds (shape (..., 2)) of every layer's pre- and
    post-activation ("layers.<name>.pre_activation", "layers.<name>.post_activation"),
    "output", "latent", "residual" (r as the semantics computes it: fl(x_hat_f − x_f) in
    a float one) and "reconstruction_error" (from r's bounds: square and mean, in a float
    semantics with `FloatSemantics`' square and mean), by CROWN (module docstring),
    each intersected with interval propagation. None where a float run may overflow.

    alpha=True: optimised lower-line slopes of relu / leaky_relu neurons straddling 0
    (α-CROWN, `verifae.methods.alpha`) for the output and the residual; the result is
    intersected with the fixed-slope one, so it is never wider.

    `phases` ({layer index: signs}) fixes relu phases: the bounds then hold on the part
    of the box where every fixed z_j has its sign (module docstring); `EmptyPart` when
    that part is proven empty.
    """
    net = prepare_network(spec, box, semantics, phases)
    if net is None:
        return None
    result = crown_result(net)
    if alpha:
        from .alpha import alpha_result

        again = prepare_network(spec, box, semantics, phases)
        assert again is not None  # the same pass as above
        tighter = alpha_result(again)
        for key, bounds in tighter.items():  # both sound: the intersection, never wider than CROWN's
            lo = np.maximum(result[key][..., 0], bounds[..., 0])
            hi = np.minimum(result[key][..., 1], bounds[..., 1])
            result[key] = np.stack([lo, hi], axis=-1)
    return result


def crown_result(net: Network,
                 tighten: Callable[[Network, int], FastTensor | None] | None = None) -> dict[str, np.ndarray]:
    """CROWN's result with the entries' (fixed) slopes, over intermediate bounds tightened
    by `tighten` (see `propagate`)."""
    z_forms = propagate(net, tighten=tighten)
    out_forms = output_forms(net, z_forms)
    return finish(net, out_forms, (minus_identity(net.B, out_forms[0]), minus_identity(net.B, out_forms[1])))
