"""The `Activation` interface: everything verifae knows about one activation function.

An activation is one object (a registry entry, `verifae.activations.registry`) that
holds, for every part of verifae that needs it:

- its point value and derivative on numpy arrays, as a user's numpy code or
  PyTorch's kernel computes them (the float point backends, the explicit loops of
  the Float-run check);
- its high-precision Arb reference (the linear relaxation's proven offsets, tests);
- the tight interval extensions of value and derivative, once against `IntervalKit`
  (arb, mpmath, exact) and once vectorised against `FastKit` (the `fast` backend);
- its float error model (`FloatKit`, used by `verifae.rounding.FloatSemantics`):
  the library bound K of `verifae.libm` or exactness, and how the derivative rounds;
- its linear relaxation with proven offsets (`verifae.methods.linear`);
- the set its values lie in, whether it is transcendental (the exact backend
  refuses it), its PyTorch module and its ONNX operator.

Every method is abstract, so an activation that forgets one cannot be instantiated.
The interval extensions return the *range* of the function over the interval up to
the backend's outward rounding, never merely a sound superset.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
from flint import arb

from ..directed import float_down, float_up
from ..errors import SpecError

__all__ = ["Activation", "ExactOnFloats", "IntervalKit", "FastKit", "FloatKit", "RELAXATION_BITS", "proven_offsets"]

#: working precision (bits) of the Arb evaluations that prove relaxation offsets
RELAXATION_BITS = 128


class IntervalKit(Protocol):
    """The scalar operations a rigorous backend lends to the activation extensions.

    `I` is the backend's interval scalar, `E` an exact endpoint value that compares
    exactly with 0 and with other endpoints. A kit may also offer `tanh(x)`, a
    rigorous enclosure of tanh over interval x (Arb does); tanh uses it when present.
    """

    def endpoints(self, x: Any) -> tuple[Any, Any]:
        """The exact lower and upper endpoints of interval x."""

    def point(self, e: Any) -> Any:
        """The interval {e} of an exact endpoint or small integer (may round outward)."""

    def join(self, a: Any, b: Any) -> Any:
        """An interval from the lower end of `a` to the upper end of `b`."""

    def exp(self, x: Any) -> Any:
        """A rigorous enclosure of exp over interval x."""

    def log1p(self, x: Any) -> Any:
        """A rigorous enclosure of log(1 + x) over interval x (x > −1; softplus)."""

    def erfc(self, x: Any) -> Any:
        """A rigorous enclosure of erfc = 1 − erf over interval x (gelu: the normal cdf
        Φ(z) = erfc(−z/√2)/2 without the cancellation of 1 + erf in the lower tail)."""

    def from_fraction(self, q: Fraction) -> Any:
        """An interval containing the exact rational q (a parameter of the activation)."""


class FastKit(Protocol):
    """The float64 primitives the `fast` backend lends to the vectorised extensions.

    Each elementwise +, −, ·, / in round-to-nearest is within one step of the exact
    value, so `down` and `up` of it bound the exact result (see `verifae.backends.fast`).
    """

    #: unit roundoff of float64, 2^-53
    unit_roundoff: float
    #: smallest normal float64, 2^-1022
    realmin: float

    def down(self, x: Any) -> Any:
        """One float step toward −inf, elementwise."""

    def up(self, x: Any) -> Any:
        """One float step toward +inf, elementwise."""

    def inflate(self, x: np.ndarray, k: int) -> np.ndarray:
        """An upper bound of E >= 0, given x = the float evaluation of E with at most k
        roundings of non-negative terms."""

    def erfc(self, x: np.ndarray) -> np.ndarray:
        """erfc at float64 points as the library "erfc" of `verifae.libm` computes it
        (numpy has none), within LIBRARY_ULPS["float64"]["erfc"] ulps."""


class FloatKit(Protocol):
    """What the float error models need from `verifae.rounding.FloatSemantics`.

    Tensors of the float semantics have `.value` (an enclosure in the inner backend)
    and `.unbounded` (a boolean mask). The models return (value, unbounded) pairs.
    """

    #: the rigorous real backend the enclosures are computed in
    inner: Any
    #: the float format (`verifae.numbers.FloatFormat`)
    format: Any
    #: unit roundoff, smallest subnormal and smallest normal of the format
    u: Fraction
    eta: Fraction
    realmin: Fraction
    #: the largest finite number of the format
    realmax: Fraction

    def full(self, shape: tuple[int, ...], q: Fraction) -> Any:
        """An inner tensor of the given shape holding the exact q."""

    def radius(self, t: Any, rel: Fraction) -> Any:
        """rel·|t|, elementwise, as inner intervals."""

    def relative(self, t: Any, rel: Fraction, absolute: Fraction) -> Any:
        """t widened by rel·|t| + absolute: one rounding of relative size rel."""

    def gamma(self, n: int) -> Fraction:
        """γ_n = nu / (1 − nu) of the format (Higham, Lemma 3.1)."""

    def activation(self, act: Any, z: Any) -> Any:
        """The float semantics' enclosure of act over z (a tensor with .value, .unbounded)."""


def proven_offsets(values: list[arb]) -> tuple[float, float]:
    """(cL, cU): doubles below every lower and above every upper end of the Arb balls
    `values` (exact directed roundings)."""
    cL = min(float_down(v.lower()) for v in values)
    cU = max(float_up(v.upper()) for v in values)
    return cL, cU


class Activation(ABC):
    """One activation function and everything verifae needs to know about it.

    Entries are immutable; an activation with parameters (leaky_relu's slope) is an
    instance configured by them. `config()` is the JSON form of the instance.
    """

    # ------------------------------------------------------------ identity

    @property
    @abstractmethod
    def name(self) -> str:
        """The registry name, as written in a case file."""

    @property
    @abstractmethod
    def onnx_op(self) -> str:
        """The ONNX operator that computes it (opset 13 and later, unless the entry's
        docstring names a later opset: Gelu 20, Swish 24)."""

    @property
    @abstractmethod
    def transcendental(self) -> bool:
        """Whether value or derivative needs exp: no finite rational arithmetic computes
        it exactly, so the exact backend refuses it."""

    #: Whether act is continuous on the whole real line. The mean-value forms
    #: (`verifae.methods.mean_value`, `layered_mean_value`) and their float lifts (a
    #: Lipschitz bound of act between the real and the float pre-activation) rest on
    #: it, and bound nothing for an activation that jumps (softplus at PyTorch's
    #: threshold); every other method encloses values piece by piece.
    continuous: bool = True

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> Activation:
        """The instance with these parameters (a case file's activation object without its
        "name"); an activation without parameters takes none."""
        if params:
            name = cls.name if isinstance(cls.name, str) else cls.__name__
            raise SpecError(f"activation {name!r} takes no parameters, got {', '.join(map(repr, params))}")
        return cls()

    def config(self) -> dict[str, Any]:
        """The JSON description of this instance: its name and its parameters (as strings
        of their exact values)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.config().items())))

    # ------------------------------------------------------------ points

    @abstractmethod
    def point(self, z: Any, dtype: Any) -> Any:
        """act(z) for numpy values z of `dtype` (np.float32 or np.float64), in that dtype,
        as numpy code computes it (overflow follows IEEE; the caller silences warnings)."""

    @abstractmethod
    def point_derivative(self, z: Any, dtype: Any) -> Any:
        """act'(z), as PyTorch's autograd computes it (relu'(0) = 0), in `dtype`."""

    @abstractmethod
    def reference(self, z: arb) -> arb:
        """act over the Arb ball z, at the current Arb precision (rigorous)."""

    @abstractmethod
    def reference_derivative(self, z: arb) -> arb:
        """act' over the Arb ball z (rigorous; relu'(0) = 0)."""

    @abstractmethod
    def torch_module(self, dtype: Any = np.float64) -> Any:
        """The PyTorch module (torch.nn.ReLU() and so on) of a run in numpy `dtype` (an
        activation parameter is passed as that format holds it); imports torch."""

    # ------------------------------------------------------------ intervals

    @abstractmethod
    def interval(self, kit: IntervalKit, x: Any) -> Any:
        """The range of act over interval x, rounded outward."""

    @abstractmethod
    def interval_derivative(self, kit: IntervalKit, x: Any) -> Any:
        """The range of act' over interval x (relu'(0) = 0), rounded outward."""

    @abstractmethod
    def fast(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float64 bounds of act over [lo, hi], elementwise."""

    @abstractmethod
    def fast_derivative(self, kit: FastKit, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float64 bounds of act' over [lo, hi], elementwise."""

    @abstractmethod
    def value_range(self, semantics: str) -> tuple[float, float]:
        """A set every value of act lies in, in `semantics` ("real", "float64", "float32")."""

    # ------------------------------------------------------------ float semantics

    @abstractmethod
    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        """Float64 upper bounds of |act_f(z) − act(z)|, elementwise, for the float act_f
        of a run in `format_name`, at float z with |z| <= z_mag and |act_f(z)| <= value_mag
        (0 where act is exact on floats; the linear and mean-value methods' e2)."""

    @abstractmethod
    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        """(value, unbounded): every float act(z_f) for z_f in the float tensor z."""

    @abstractmethod
    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        """(value, unbounded): every float act'(z_f) as a run computes it."""

    def backward_growth(self, kit: FloatKit, z: Any) -> Any | None:
        """How much larger than |gy| an intermediate of a run's backward kernel through
        act can get, for gy the gradient of act's output and z the float tensor of its
        input: an inner tensor `growth` >= 0 with |intermediate| <= |gy|·growth, or None
        where every intermediate is at most max(|gy|, |gy·act'(z)|) (relu, leaky_relu
        with slope <= 1, identity; sigmoid's gy·(1 − s)·s, tanh's gy·(1 − t²); silu's
        (gy·s)·(1 + z(1 − s)) and gelu's gy·(cdf + z·pdf) multiply gy by factors of at
        most 1 first). `verifae.rounding.FloatSemantics.activation_vjp` marks a gradient
        unbounded where |gy|·growth may overflow."""
        return None

    # ------------------------------------------------------------ relaxation

    @abstractmethod
    def relaxation(self, lo: float, hi: float) -> tuple[float, float, float]:
        """(a, cL, cU): one slope and offsets, proven, with a z + cL <= act(z) <= a z + cU
        for every z in [lo, hi]."""

    def relaxation_lines(
        self, lo: float, hi: float, parallel: tuple[float, float, float]
    ) -> tuple[float, float, float, float]:
        """(aL, cL, aU, cU): the lower and upper lines used for back-substitution, given
        `parallel` = `relaxation(lo, hi)`. By default the two parallel lines."""
        a, cL, cU = parallel
        return a, cL, a, cU

    def origin_slopes(self) -> tuple[float, float] | None:
        """Doubles (lo, hi) with act(z) >= a z for every real z and every a in [lo, hi]:
        lower lines through the origin that need no offset proof, which α-CROWN may choose
        freely (`verifae.methods.alpha`); None (the default) where there are none."""
        return None


class ExactOnFloats:
    """The float error model of an activation whose value and derivative every float
    run computes exactly (z, max(z, 0), 1, z > 0: no rounding happens): the float
    semantics takes the inner backend's enclosures as they are. Mixed in before
    `Activation`, it supplies the three float methods."""

    def float_error(self, kit: FastKit, format_name: str, z_mag: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
        return np.zeros_like(value_mag)

    def float_value(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        return kit.inner.activation(self, z.value), z.unbounded.copy()

    def float_derivative(self, kit: FloatKit, z: Any) -> tuple[Any, np.ndarray]:
        return kit.inner.activation_derivative(self, z.value), z.unbounded.copy()
