"""The backend interface: the small set of operations the model code is written in.

A backend owns a representation of vectors and matrices ("tensors") and the
arithmetic on them. The model code (`verifae.model`) calls only the methods below
and never asks which backend it runs on. Tensors may carry leading batch axes:
`matvec(A, x)` maps x of shape (..., n) to (..., m).

Precision and rounding live on the backend instance, never in global state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any

import numpy as np

from ..activations import Activation, get_activation
from ..errors import UnsupportedError

__all__ = ["Backend", "IntervalBackend", "ObjectIntervalBackend"]


class Backend(ABC):
    """Arithmetic on tensors; see the module docstring."""

    #: registry name, e.g. "arb"
    name: str = ""
    #: True when every operation returns a rigorous enclosure (interval backends)
    rigorous: bool = False
    #: working precision in bits, where the backend has one
    precision: int | None = None

    @property
    def cache_key(self) -> Any:
        """What determines this backend's tensors of given exact values, or None when
        its tensors cannot be shared between instances (mpmath's belong to a context)."""
        return (self.name, self.precision)

    def convert_parameters(self, spec: Any) -> tuple[Any, Any, Any, Any]:
        """(W_enc, b_enc, W_dec, b_dec) as tensors, converted once per spec and cache_key."""
        return self.convert_arrays(spec, ("W_enc", "b_enc", "W_dec", "b_dec"))

    def convert_layer(self, layer: Any) -> tuple[Any, Any]:
        """(weight, bias) of one dense layer (`verifae.layered.Layer`) as tensors, converted
        once per layer and cache_key, exactly as `convert_parameters` converts a v1 spec."""
        return self.convert_arrays(layer, ("weight", "bias"))

    def convert_arrays(self, owner: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
        """The exact arrays `owner.<name>` as tensors. `owner` has `derived` and `float64`
        (an `AutoencoderSpec` or a `Layer`) and is always asked for the same `names`, so
        the cache key need not hold them."""
        convert = lambda: tuple(self.constant(getattr(owner, n)) for n in names)  # noqa: E731
        key = self.cache_key
        return convert() if key is None else owner.derived(("parameters", key), convert)

    def check_supports(self, activation: str | Activation) -> None:
        """Raise `UnsupportedError` when this backend cannot be rigorous for `activation`
        (`SpecError` when it is no activation)."""
        get_activation(activation)

    # conversion in
    @abstractmethod
    def constant(self, values: np.ndarray) -> Any:
        """A tensor holding the exact rationals of object array `values` (rounded outward)."""

    @abstractmethod
    def interval(self, lower: np.ndarray, upper: np.ndarray) -> Any:
        """A tensor enclosing every vector between exact `lower` and `upper`."""

    def interval_floats(self, lower: np.ndarray, upper: np.ndarray) -> Any:
        """A tensor enclosing every vector between float64 arrays `lower` and `upper`."""
        to_q = np.vectorize(Fraction, otypes=[object])
        return self.interval(to_q(np.asarray(lower, dtype=np.float64)), to_q(np.asarray(upper, dtype=np.float64)))

    def box(self, box: Any) -> Any:
        """The tensor of a `Box`, converted once per box and cache_key."""
        convert = lambda: self.interval(box.lower, box.upper)  # noqa: E731
        key = self.cache_key
        return convert() if key is None else box.derived(("interval", key), convert)

    # linear algebra
    @abstractmethod
    def matvec(self, A: Any, x: Any) -> Any:
        """A x over the trailing axis of x."""

    @abstractmethod
    def rmatvec(self, A: Any, y: Any) -> Any:
        """Aᵀ y over the trailing axis of y."""

    def affine(self, A: Any, x: Any, b: Any) -> Any:
        """A x + b: one primitive, because a float run may fold b into the sum (addmm)."""
        return self.add(self.matvec(A, x), b)

    @abstractmethod
    def outer(self, u: Any, v: Any) -> Any:
        """u ⊗ v: (..., m) and (..., n) to (..., m, n)."""

    def batch_hull(self, t: Any) -> Any:
        """A tensor holding every value of every row of `t` along its leading (batch) axis:
        (B, ...) to (...). Interval backends only (a set of points is no point)."""
        raise UnsupportedError(f"backend {self.name!r} computes points, not enclosures: it has no hull")

    @abstractmethod
    def outer_sum(self, u: Any, v: Any) -> Any:
        """Σ_b u_b ⊗ v_b over the leading (batch) axis: (B, m) and (B, n) to (m, n), the
        matrix product uᵀ v. It is the batch's summed weight gradient Gᵀ A (dW = Σ_b dz_b ⊗
        a_b), formed as one product, never as the B outer products."""

    # elementwise
    @abstractmethod
    def add(self, a: Any, b: Any) -> Any: ...

    @abstractmethod
    def sub(self, a: Any, b: Any) -> Any: ...

    @abstractmethod
    def mul(self, a: Any, b: Any) -> Any: ...

    @abstractmethod
    def scale(self, a: Any, numerator: int, denominator: int = 1) -> Any:
        """(numerator/denominator) · a, exactly as written: a float run may form it as
        fl(fl(n/m) · a) or as fl(fl(n · a) / m) (2·r/d), so the float semantics also
        bounds the intermediate n · a."""

    @abstractmethod
    def square(self, a: Any) -> Any:
        """a², the range of the square (not a · a, which is wider on a straddling interval)."""

    @abstractmethod
    def mean(self, a: Any) -> Any:
        """The mean over the trailing axis."""

    @abstractmethod
    def activation(self, act: str | Activation, z: Any) -> Any:
        """act(z) elementwise; `act` is a registry name or an `Activation`."""

    @abstractmethod
    def activation_derivative(self, act: str | Activation, z: Any) -> Any:
        """act'(z) elementwise (relu'(0) = 0)."""

    def activation_vjp(self, act: str | Activation, gy: Any, z: Any) -> Any:
        """gy ⊙ act'(z): the gradient through the activation, given the gradient gy of
        its output (the float semantics also bounds the intermediates of a run's backward
        kernel, `Activation.backward_growth`)."""
        return self.mul(gy, self.activation_derivative(act, z))

    # conversion out
    def bounds(self, t: Any) -> np.ndarray:
        """Float64 (lower, upper) pairs in a trailing axis of length 2, rounded outward."""
        raise UnsupportedError(f"backend {self.name!r} computes points, not enclosures")

    def values(self, t: Any) -> np.ndarray:
        """Point values (float arrays, or Fractions for the exact backend)."""
        raise UnsupportedError(f"backend {self.name!r} computes enclosures, not points")


class IntervalBackend(Backend):
    """A rigorous backend that can carry the float semantics (`verifae.rounding.FloatSemantics`).

    Besides the `Backend` operations, each of which returns an enclosure of its exact
    result over every value of its arguments, `FloatSemantics` needs the operations
    below from its inner backend: it widens enclosures of real results by proven bounds
    of the rounding errors of a float run, and these are the operations those bounds are
    written in. Each must hold for every element, including unbounded ones.
    """

    rigorous = True

    @abstractmethod
    def constant_floats(self, values: np.ndarray) -> Any:
        """A tensor enclosing each value of the float64 array `values`: the double itself
        where the backend's precision holds it (fast, exact, arb at any precision, mpmath
        at 53 bits or more), else an outward-rounded interval around it."""

    @abstractmethod
    def magnitude(self, a: Any) -> Any:
        """Elementwise upper bounds of |a|: a tensor whose every value m satisfies m >= |v|
        for every value v of the same element of `a` (so m >= 0). Used as the radii of
        rounding errors and to bound partial sums."""

    @abstractmethod
    def widen(self, a: Any, r: Any, absolute: Fraction = Fraction(0)) -> Any:
        """An enclosure of every a + e with |e| <= r + absolute, elementwise: every value of
        `a` plus any e whose magnitude is at most the largest value of the non-negative
        `r` plus the exact `absolute` >= 0."""

    @abstractmethod
    def exceeds(self, a: Any, bound: Fraction) -> np.ndarray:
        """A boolean array of the shape of `a`, False only where every value of the element
        is certainly below `bound` in magnitude (True for unbounded or NaN elements)."""

    @abstractmethod
    def bounds(self, t: Any) -> np.ndarray:
        """Float64 (lower, upper) pairs in a trailing axis of length 2, rounded outward, so
        that [lower, upper] contains every value of the element ((-inf, inf) if unbounded)."""


class ObjectIntervalBackend(IntervalBackend):
    """A rigorous backend whose tensors are numpy object arrays of scalar intervals.

    Numpy's object-dtype operators (+, -, *, @) call the scalar type's own
    operators, which are rigorous (outward-rounded) for every scalar type used here.
    Subclasses supply the scalar kit: conversion, tight product and square,
    exp and the endpoint access of `verifae.activations.IntervalKit`, through which the
    activation entries compute their interval extensions.
    """

    # IntervalKit (verifae.activations), supplied by subclasses
    @abstractmethod
    def endpoints(self, x: Any) -> tuple[Any, Any]:
        """The exact lower and upper endpoints of interval x."""

    @abstractmethod
    def point(self, e: Any) -> Any:
        """The interval {e} of an exact endpoint or small integer (may round outward)."""

    @abstractmethod
    def join(self, a: Any, b: Any) -> Any:
        """An interval from the lower end of `a` to the upper end of `b`."""

    @abstractmethod
    def exp(self, x: Any) -> Any:
        """A rigorous enclosure of exp over interval x."""

    @abstractmethod
    def log1p(self, x: Any) -> Any:
        """A rigorous enclosure of log(1 + x) over interval x (x > −1)."""

    @abstractmethod
    def erfc(self, x: Any) -> Any:
        """A rigorous enclosure of erfc over interval x."""

    @abstractmethod
    def union(self, a: Any, b: Any) -> Any:
        """An interval holding every value of `a` and of `b` (from the lesser lower end to
        the greater upper end, compared exactly)."""

    def batch_hull(self, t: Any) -> Any:
        # the rows joined one by one with the backend's exact `union`: no endpoint is
        # converted (an mpmath end such as e^(−2e30) has no Fraction one can build)
        return np.frompyfunc(self.union, 2, 1).reduce(t, axis=0)

    # scalar kit, supplied by subclasses
    @abstractmethod
    def from_fraction(self, q: Fraction) -> Any: ...

    @abstractmethod
    def hull(self, lo: Fraction, hi: Fraction) -> Any:
        """An interval containing [lo, hi]."""

    @abstractmethod
    def scalar_mul(self, a: Any, b: Any) -> Any:
        """The interval product, tight (endpoint products) where both factors are wide."""

    @abstractmethod
    def scalar_square(self, a: Any) -> Any: ...

    @abstractmethod
    def scalar_bounds(self, a: Any) -> tuple[float, float]:
        """Float64 endpoints of a, rounded outward; (-inf, inf) if a is unbounded or NaN."""

    @abstractmethod
    def scalar_magnitude(self, a: Any) -> Any:
        """The point interval {m} of an exact upper bound m >= max |a|."""

    @abstractmethod
    def scalar_widen(self, a: Any, r: Any) -> Any:
        """a + [-m, m] where m >= every value of the non-negative interval r."""

    @abstractmethod
    def scalar_exceeds(self, a: Any, bound: Fraction) -> bool:
        """True unless every value of a is certainly below `bound` in magnitude."""

    # tensors
    def _map(self, f, *arrays: np.ndarray) -> np.ndarray:
        # frompyfunc returns a bare scalar for 0-d input; keep every tensor an array.
        return np.asarray(np.frompyfunc(f, len(arrays), 1)(*arrays), dtype=object)

    def constant(self, values: np.ndarray) -> np.ndarray:
        return self._map(self.from_fraction, np.asarray(values, dtype=object))

    def from_float(self, f: float) -> Any:
        """The point interval of a double (exact in every backend here)."""
        return self.from_fraction(Fraction(f))

    def constant_floats(self, values: np.ndarray) -> np.ndarray:
        """A tensor of the exact values of a float64 array."""
        return self._map(self.from_float, np.asarray(values, dtype=np.float64).astype(object))

    def interval(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        return self._map(self.hull, np.asarray(lower, dtype=object), np.asarray(upper, dtype=object))

    def _zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.constant(np.full(shape, Fraction(0), dtype=object))

    def matvec(self, A: np.ndarray, x: np.ndarray) -> np.ndarray:
        if A.shape[1] == 0:  # empty sum: numpy would return the int 0
            return self._zeros(x.shape[:-1] + (A.shape[0],))
        return x @ A.T

    def rmatvec(self, A: np.ndarray, y: np.ndarray) -> np.ndarray:
        if A.shape[0] == 0:
            return self._zeros(y.shape[:-1] + (A.shape[1],))
        return y @ A

    def outer(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._map(self.scalar_mul, u[..., :, None], v[..., None, :])

    def outer_sum(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """uᵀ v with the scalar type's own rigorous + and ·: every partial sum is an
        enclosure, so the result encloses the exact sum over every value of u and v."""
        if u.shape[0] == 0:  # empty sum: numpy would return zeros of the wrong type
            return self._zeros((u.shape[1], v.shape[1]))
        return np.asarray(u.T @ v, dtype=object)

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(a + b, dtype=object)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(a - b, dtype=object)

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._map(self.scalar_mul, a, b)

    def scale(self, a: np.ndarray, numerator: int, denominator: int = 1) -> np.ndarray:
        c = self.from_fraction(Fraction(numerator, denominator))
        return self._map(lambda v: v * c, a)

    def square(self, a: np.ndarray) -> np.ndarray:
        return self._map(self.scalar_square, a)

    def mean(self, a: np.ndarray) -> np.ndarray:
        n = a.shape[-1]
        return np.asarray(a.sum(axis=-1) * self.from_fraction(Fraction(1, n)), dtype=object)

    def activation(self, act: str | Activation, z: np.ndarray) -> np.ndarray:
        """The entry's tight interval extension, with this backend as its `IntervalKit`."""
        entry = get_activation(act)
        return self._map(lambda v: entry.interval(self, v), z)

    def activation_derivative(self, act: str | Activation, z: np.ndarray) -> np.ndarray:
        entry = get_activation(act)
        return self._map(lambda v: entry.interval_derivative(self, v), z)

    def magnitude(self, a: np.ndarray) -> np.ndarray:
        """Point intervals bounding |a| elementwise from above."""
        return self._map(self.scalar_magnitude, a)

    def widen(self, a: np.ndarray, r: np.ndarray, absolute: Fraction = Fraction(0)) -> np.ndarray:
        """a + [-(r + absolute), r + absolute] elementwise, for non-negative radii r."""
        if absolute:
            c = self.from_fraction(absolute)
            return self._map(lambda v, w: self.scalar_widen(v, w + c), a, r)
        return self._map(self.scalar_widen, a, r)

    def exceeds(self, a: np.ndarray, bound: Fraction) -> np.ndarray:
        """Boolean mask of the elements whose magnitude may reach `bound`."""
        return np.asarray(np.frompyfunc(lambda v: self.scalar_exceeds(v, bound), 1, 1)(a), dtype=bool)

    def bounds(self, t: Any) -> np.ndarray:
        t = np.asarray(t, dtype=object)
        out = np.empty(t.shape + (2,), dtype=np.float64)
        for index, v in np.ndenumerate(t):
            out[index] = self.scalar_bounds(v)
        return out


def refuse_transcendental(backend: Backend, activation: str | Activation) -> None:
    """Shared refusal for backends that cannot evaluate exp rigorously and exactly."""
    entry = get_activation(activation)
    if entry.transcendental:
        raise UnsupportedError(
            f"backend {backend.name!r} computes exactly in rational arithmetic and cannot "
            f"evaluate {entry.name!r} (it needs exp); use backend 'arb' or 'mpmath'"
        )
