"""The float32 / float64 execution semantics as widening of real enclosures.

`FloatSemantics(inner, fmt)` is a backend that wraps a rigorous real backend. Its
tensors hold, for every quantity, an enclosure of *every value an IEEE-754
execution of the spec in `fmt` can produce* (design §2): parameters and inputs
rounded to nearest, round to nearest on every operation, any summation order,
with or without FMA, and library exp / tanh / sigmoid within `verifae.libm`'s K
ulps. Each operation is the inner backend's real operation on the enclosures of
its float operands, widened by a proven bound on the rounding error of that
operation.

The error model is Higham's (N. J. Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., SIAM 2002), with gradual underflow (§2.2, eq. (2.8)):

    fl(a op b) = (a op b)(1 + δ) + η,   |δ| <= u,  |η| <= eta/2,  δη = 0,

with η = 0 for + and − (a sum in the subnormal range is exact). Here u = 2^-p is
the unit roundoff and eta = 2^(emin − p + 1) the smallest subnormal; we use the
absolute term eta (twice eta/2) per operation, which also absorbs an η scaled by
a later factor of magnitude below 1. γ_n = nu / (1 − nu) (Higham §3.1, Lemma 3.1).

Dot products, any order, FMA or not (Higham §3.1, eq. (3.5), with the underflow
terms of (2.8)): for s = Σ_{i<=n} a_i b_i,

    |fl(s) − s| <= γ_n Σ |a_i b_i| + n · eta,

because each of the n products carries one η (|η| <= eta/2) that at most n − 1
later additions scale by (1 + u)^(n−1) <= 2. A bias added to the sum, inside the
accumulation (PyTorch's addmm) or after it (numpy's x @ A.T + b), is one more
term, so A x + b is bounded with n + 1 terms and |b| added to Σ|a_i b_i|.

Overflow (contract item 3): whenever the magnitude bound of an operation's result,
or of any partial sum of a dot product (at most Σ|a_i b_i| plus its error bound),
can reach realmax, that element and everything computed from it is marked
unbounded, and the enclosure says why. IEEE inf · 0 = NaN, so one unbounded entry
of a vector poisons every entry of a matrix product with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from .activations import Activation, get_activation
from .backends.base import Backend, IntervalBackend
from .numbers import FloatFormat, nearest_floats

__all__ = ["FloatSemantics", "FloatTensor", "Note", "gamma", "note_texts", "notes_in"]


def gamma(n: int, fmt: FloatFormat) -> Fraction:
    """γ_n = nu / (1 − nu) (Higham, Lemma 3.1); requires nu < 1."""
    nu = n * fmt.unit_roundoff
    if nu >= 1:
        raise ValueError(f"n = {n} is too large for {fmt.name}: n·u >= 1")
    return nu / (1 - nu)


class Note(NamedTuple):
    """A human-readable note and when it was written (`_clock`), so that notes merged
    from several operands keep the order in which the computation met them."""

    time: int
    text: str


#: the order of notes, shared by every FloatSemantics: it only ever counts up
_clock = itertools.count()


def _note(text: str) -> tuple[Note, ...]:
    return (Note(next(_clock), text),)


class FloatTensor(NamedTuple):
    """An enclosure of every float value (inner tensor), where it may be unbounded, and
    the notes that say why: every note of the operations it was computed from, in the
    order they were met, each once."""

    value: Any
    unbounded: np.ndarray  # bool, the shape of value
    notes: tuple[Note, ...] = ()


def _merged(*groups: tuple[Note, ...]) -> tuple[Note, ...]:
    return tuple(sorted({note for group in groups for note in group}))


def notes_in(*objects: Any) -> tuple[Note, ...]:
    """Every note of the float tensors in `objects` (tensors, or tuples, lists and dicts
    of them, nested), in the order they were written; tensors of any other backend carry
    none."""
    found: list[tuple[Note, ...]] = []

    def visit(o: Any) -> None:
        if isinstance(o, FloatTensor):
            found.append(o.notes)
        elif isinstance(o, (tuple, list)):
            for item in o:
                visit(item)
        elif isinstance(o, dict):
            for item in o.values():
                visit(item)

    visit(objects)
    return _merged(*found)


def note_texts(notes: Iterable[Note]) -> tuple[str, ...]:
    """The texts of `notes` in the order they were written, each once."""
    return tuple(dict.fromkeys(note.text for note in _merged(tuple(notes))))


class FloatSemantics(Backend):
    """Enclosures of every IEEE-754 execution in `fmt`, computed with `inner`."""

    rigorous = True

    def __init__(self, inner: IntervalBackend, fmt: FloatFormat) -> None:
        self.inner = inner
        self.format = fmt
        self.name = inner.name
        self.precision = inner.precision
        self.u = fmt.unit_roundoff
        self.eta = fmt.eta
        self.realmin = Fraction(2) ** fmt.emin
        self.realmax = fmt.realmax

    def check_supports(self, activation: str | Activation) -> None:
        self.inner.check_supports(activation)

    # helpers (also the `verifae.activations.FloatKit` the activation entries use)
    def full(self, shape: tuple[int, ...], q: Fraction) -> Any:
        """An inner tensor of `shape` holding the exact q."""
        return self.inner.constant(np.full(shape, q, dtype=object))

    def radius(self, t: Any, rel: Fraction) -> Any:
        """rel·|t|, elementwise, as inner intervals."""
        return self.inner.scale(self.inner.magnitude(t), rel.numerator, rel.denominator)

    def relative(self, t: Any, rel: Fraction, absolute: Fraction) -> Any:
        """t widened by rel·|t| + absolute: one rounding of relative size rel."""
        return self.inner.widen(t, self.radius(t, rel), absolute)

    def gamma(self, n: int) -> Fraction:
        """γ_n of this format."""
        return gamma(n, self.format)

    def _finish(self, value: Any, unbounded: np.ndarray | np.bool_, magnitude: Any, what: str,
                *operands: FloatTensor) -> FloatTensor:
        """Mark the elements whose magnitude bound may reach realmax; the result carries
        the operands' notes and, where this operation is what may overflow, its own."""
        overflow = self.inner.exceeds(magnitude, self.realmax)
        notes = _merged(*(t.notes for t in operands))
        if overflow.any() and not (unbounded | ~overflow).all():
            notes = _merged(notes, _note(
                f"{self.format.name}: {what} can exceed the largest finite {self.format.name} "
                f"({float(self.realmax):.4g}); what depends on it is unbounded"
            ))
        return FloatTensor(value, np.broadcast_to(unbounded | overflow, np.shape(value)).copy(), notes)

    def _overflow_note(self, overflow: np.ndarray, what: str) -> tuple[Note, ...]:
        """The note of a rounding to the format that overflows somewhere (none if nowhere)."""
        if not overflow.any():
            return ()
        return _note(f"{self.format.name}: {what} overflows when rounded to {self.format.name}")

    def _round(self, values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        """fl(values) as doubles (0 where it overflows) and the overflow mask."""
        rounded, overflow = nearest_floats(values, self.format)
        return np.where(overflow, 0.0, rounded), overflow

    @property
    def cache_key(self) -> None:
        return None  # parameters go through convert_parameters, which also records overflow

    def convert_arrays(self, owner: Any, names: tuple[str, ...]) -> tuple[FloatTensor, ...]:
        """fl(parameters), converted once per owner (a spec or a layer), format and inner
        backend."""
        rounded = owner.derived(("rounded", self.format.name),
                                lambda: tuple(nearest_floats(getattr(owner, n), self.format, owner.float64(n)[0])
                                              for n in names))
        notes = self._overflow_note(np.array([overflow.any() for _, overflow in rounded]), "a parameter")

        def convert():
            return tuple(self.inner.constant_floats(np.where(o, 0.0, r)) for r, o in rounded)

        key = self.inner.cache_key
        values = convert() if key is None else owner.derived(("float parameters", self.format.name, key), convert)
        return tuple(FloatTensor(v, o.copy(), notes) for v, (_, o) in zip(values, rounded))

    # conversion in: parameters and inputs are rounded to nearest in the format
    def constant(self, values: np.ndarray) -> FloatTensor:
        rounded, overflow = self._round(values, "a parameter")
        return FloatTensor(self.inner.constant_floats(rounded), overflow, self._overflow_note(overflow, "a parameter"))

    def box(self, box: Any) -> FloatTensor:
        """The tensor of a `Box`: its exact endpoints rounded to the format, converted once
        per box, format and inner backend (kept on the box, `Box.derived`: about 20 ms for
        d = 784), with a fresh copy of the overflow mask for each caller."""
        key = self.inner.cache_key
        if key is None:
            return self.interval(box.lower, box.upper)
        t = box.derived(("float box", self.format.name, key), lambda: self.interval(box.lower, box.upper))
        return FloatTensor(t.value, t.unbounded.copy(), t.notes)

    def interval_floats(self, lower: np.ndarray, upper: np.ndarray) -> FloatTensor:
        """Boxes given as doubles: rounding a double to float32 is numpy's single correct cast."""
        lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        with np.errstate(over="ignore"):
            lo = lower.astype(self.format.dtype).astype(np.float64)
            hi = upper.astype(self.format.dtype).astype(np.float64)
        overflow = np.isinf(lo) | np.isinf(hi)
        lo, hi = np.where(overflow, 0.0, lo), np.where(overflow, 0.0, hi)
        notes = self._overflow_note(overflow, "a box endpoint")
        return FloatTensor(self.inner.interval_floats(lo, hi), overflow, notes)

    def interval(self, lower: np.ndarray, upper: np.ndarray) -> FloatTensor:
        # Rounding to nearest is monotone, so the floats of [lo, hi] lie in [fl(lo), fl(hi)].
        lo, lo_over = self._round(lower, "a box endpoint")
        hi, hi_over = self._round(upper, "a box endpoint")
        to_q = np.vectorize(Fraction, otypes=[object])
        return FloatTensor(self.inner.interval(to_q(lo), to_q(hi)), lo_over | hi_over,
                           self._overflow_note(lo_over | hi_over, "a box endpoint"))

    # dot products
    def _dot(self, real: Any, abs_sum: Any, n: int, unbounded: np.ndarray, what: str,
             *operands: FloatTensor) -> FloatTensor:
        radius = self.radius(abs_sum, gamma(n, self.format))
        partial = self.inner.widen(abs_sum, radius, n * self.eta)  # bounds every partial sum and product
        return self._finish(self.inner.widen(real, radius, n * self.eta), unbounded, partial, what, *operands)

    @staticmethod
    def _poisoned(t: FloatTensor, shape: tuple[int, ...]) -> np.ndarray:
        """Any unbounded entry of the summed axis poisons the whole output row."""
        return np.broadcast_to(t.unbounded.any(axis=-1, keepdims=True), shape)

    def affine(self, A: FloatTensor, x: FloatTensor, b: FloatTensor) -> FloatTensor:
        inner = self.inner
        real = inner.affine(A.value, x.value, b.value)
        abs_sum = inner.affine(inner.magnitude(A.value), inner.magnitude(x.value), inner.magnitude(b.value))
        shape = np.shape(real)
        unbounded = self._poisoned(x, shape) | A.unbounded.any() | np.broadcast_to(b.unbounded, shape)
        return self._dot(real, abs_sum, A.value.shape[1] + 1, unbounded, "an affine map A x + b", A, x, b)

    def matvec(self, A: FloatTensor, x: FloatTensor) -> FloatTensor:
        inner = self.inner
        real = inner.matvec(A.value, x.value)
        abs_sum = inner.matvec(inner.magnitude(A.value), inner.magnitude(x.value))
        unbounded = self._poisoned(x, np.shape(real)) | A.unbounded.any()
        return self._dot(real, abs_sum, A.value.shape[1], unbounded, "a matrix-vector product", A, x)

    def rmatvec(self, A: FloatTensor, y: FloatTensor) -> FloatTensor:
        inner = self.inner
        real = inner.rmatvec(A.value, y.value)
        abs_sum = inner.rmatvec(inner.magnitude(A.value), inner.magnitude(y.value))
        unbounded = self._poisoned(y, np.shape(real)) | A.unbounded.any()
        return self._dot(real, abs_sum, A.value.shape[0], unbounded, "a transposed matrix-vector product", A, y)

    def outer_sum(self, u: FloatTensor, v: FloatTensor) -> FloatTensor:
        # The summed weight gradient of a batch as PyTorch forms it, dW = Gᵀ A: one
        # matrix product of the float rows u_b (G) and v_b (A), each entry a dot product
        # of B terms in any order, FMA or not, so within γ_B Σ_b |u_bi v_bj| + B·eta of the
        # exact sum of the float products (Higham eq. (3.5) with (2.8), module docstring).
        # An unbounded entry anywhere in column i of u or j of v poisons entry (i, j).
        inner = self.inner
        real = inner.outer_sum(u.value, v.value)
        abs_sum = inner.outer_sum(inner.magnitude(u.value), inner.magnitude(v.value))
        unbounded = np.asarray(u.unbounded.any(axis=0))[:, None] | np.asarray(v.unbounded.any(axis=0))[None, :]
        return self._dot(real, abs_sum, u.unbounded.shape[0], unbounded, "a summed outer product (Gᵀ A)", u, v)

    # one rounding each
    def _one_rounding(self, real: Any, unbounded: np.ndarray, absolute: Fraction, what: str,
                      *operands: FloatTensor) -> FloatTensor:
        out = self.relative(real, self.u, absolute)
        return self._finish(out, unbounded, out, what, *operands)

    def batch_hull(self, t: FloatTensor) -> FloatTensor:
        """Every float value of every row: the inner backend's hull of the rows, unbounded
        where some row is."""
        return FloatTensor(self.inner.batch_hull(t.value), np.asarray(t.unbounded.any(axis=0)), t.notes)

    def outer(self, u: FloatTensor, v: FloatTensor) -> FloatTensor:
        unbounded = u.unbounded[..., :, None] | v.unbounded[..., None, :]
        return self._one_rounding(self.inner.outer(u.value, v.value), unbounded, self.eta, "an outer product", u, v)

    def add(self, a: FloatTensor, b: FloatTensor) -> FloatTensor:
        return self._one_rounding(
            self.inner.add(a.value, b.value), a.unbounded | b.unbounded, Fraction(0), "a sum", a, b
        )

    def sub(self, a: FloatTensor, b: FloatTensor) -> FloatTensor:
        return self._one_rounding(
            self.inner.sub(a.value, b.value), a.unbounded | b.unbounded, Fraction(0), "a difference", a, b
        )

    def mul(self, a: FloatTensor, b: FloatTensor) -> FloatTensor:
        return self._one_rounding(
            self.inner.mul(a.value, b.value), a.unbounded | b.unbounded, self.eta, "a product", a, b
        )

    def square(self, a: FloatTensor) -> FloatTensor:
        return self._one_rounding(self.inner.square(a.value), a.unbounded, self.eta, "a square", a)

    def scale(self, a: FloatTensor, numerator: int, denominator: int = 1) -> FloatTensor:
        # q·a with q = n/m is run as fl(fl(q) · a) or as fl(fl(n·a) / m) (2·(x_hat − x)/d,
        # as user code writes it): two roundings either way, relative γ_2 of the exact
        # q·a. The intermediate n·a may overflow where q·a does not (n = 2, m = d), and
        # fl(q)·a exceeds |q·a| by at most the rounding of q: the overflow check takes the
        # larger factor max(|n|, |q|), with the same γ_2 and eta.
        inner, g2 = self.inner, gamma(2, self.format)
        q = Fraction(numerator, denominator)
        out = self.relative(inner.scale(a.value, numerator, denominator), g2, self.eta)
        factor = max(abs(q), Fraction(abs(numerator)))
        partial = self.relative(inner.scale(inner.magnitude(a.value), factor.numerator, factor.denominator),
                                 g2, self.eta)
        return self._finish(out, a.unbounded, partial, "a scaled vector (2·r before /d included)", a)

    def mean(self, a: FloatTensor) -> FloatTensor:
        # Σ a_i in any order (γ_{n−1} Σ|a_i|), then one division by n or a product
        # with fl(1/n) (γ_2): together at most γ_{n+1} mean|a| (Higham, Lemma 3.3).
        inner = self.inner
        n = a.value.shape[-1]
        real = inner.mean(a.value)
        abs_mean = inner.mean(inner.magnitude(a.value))
        radius = self.radius(abs_mean, gamma(n + 1, self.format))
        partial = inner.scale(inner.widen(abs_mean, radius, self.eta), n)  # bounds every partial sum
        unbounded = a.unbounded.any(axis=-1)
        return self._finish(inner.widen(real, radius, self.eta), unbounded, partial, "a mean", a)

    # activations: each entry's float error model (`Activation.float_value` and
    # `float_derivative`: exact for relu and identity, the library bound K of
    # verifae.libm for sigmoid and tanh, and how each derivative rounds)
    def activation(self, act: str | Activation, z: FloatTensor) -> FloatTensor:
        # the error models write no notes: the result carries z's
        return FloatTensor(*get_activation(act).float_value(self, z), z.notes)

    def activation_derivative(self, act: str | Activation, z: FloatTensor) -> FloatTensor:
        return FloatTensor(*get_activation(act).float_derivative(self, z), z.notes)

    def activation_vjp(self, act: str | Activation, gy: FloatTensor, z: FloatTensor) -> FloatTensor:
        # gy ⊙ act'(z) rounds once (`mul`). A run's backward kernel may form an
        # intermediate larger than that product first (PyTorch's softplus: gy·e^x before
        # /(e^x + 1); elu: gy·α before ·e^z), which can overflow where the product does
        # not: the entry bounds |intermediate| <= |gy|·growth, one more rounding (γ_2
        # with eta covers it), and where that may reach realmax the gradient is unbounded.
        entry = get_activation(act)
        out = self.mul(gy, self.activation_derivative(entry, z))
        growth = entry.backward_growth(self, z)
        if growth is None:
            return out
        inner = self.inner
        intermediate = self.relative(inner.mul(inner.magnitude(gy.value), growth), self.gamma(2), self.eta)
        return self._finish(out.value, out.unbounded, intermediate,
                            f"an intermediate of {entry.name}'s backward kernel", out, gy)

    # conversion out
    def bounds(self, t: FloatTensor) -> np.ndarray:
        out = self.inner.bounds(t.value)
        out[t.unbounded] = (-np.inf, np.inf)
        return out
