"""Activations: names, point formulas and their tight interval extensions.

The interval extensions here are written once against `IntervalKit`, the few
scalar operations a rigorous backend provides (exact endpoints, a point interval,
a hull, rigorous exp). Each extension returns the *range* of the function over the
interval up to the backend's outward rounding, never merely a sound superset:

- relu, sigmoid and tanh are monotone, so their range over [a, b] is
  [f(a), f(b)], evaluated rigorously at the two exact endpoints.
- relu' is a step with relu'(0) = 0 (design §1): on an interval straddling 0 it is
  [0, 1], never a branch on the midpoint.
- sigmoid' and tanh' are even and strictly decreasing in |z|, so over [a, b] they
  are maximal at the point nearest 0 (exactly 1/4 and 1 when 0 is inside) and
  minimal at the endpoint farthest from 0.

Saturated values use cancellation-free forms, t = exp(-|p|):
sigmoid'(p) = t / (1 + t)^2 and tanh'(p) = 4t^2 / (1 + t^2)^2 with t = exp(-|p|),
which follow from sigmoid(-|p|) = t / (1 + t) and sech(p) = 2t / (1 + t^2).
"""

from __future__ import annotations

from typing import Any, Protocol

from .errors import SpecError

__all__ = [
    "ACTIVATIONS",
    "validate_activation",
    "IntervalKit",
    "interval_activation",
    "interval_activation_derivative",
]

ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid", "tanh", "identity")

# Activations whose value or derivative involves exp: no finite rational
# arithmetic computes them exactly.
TRANSCENDENTAL: frozenset[str] = frozenset({"sigmoid", "tanh"})


def validate_activation(name: Any) -> str:
    """Return `name` if it is a known activation, else raise `SpecError` listing them."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        valid = ", ".join(ACTIVATIONS)
        raise SpecError(f"unknown activation {name!r}; valid activations are: {valid}")
    return name


class IntervalKit(Protocol):
    """The scalar operations a rigorous backend lends to the activation extensions.

    `I` is the backend's interval scalar, `E` an exact endpoint value that compares
    exactly with 0 and with other endpoints.
    """

    def endpoints(self, x: Any) -> tuple[Any, Any]:
        """The exact lower and upper endpoints of interval x."""

    def point(self, e: Any) -> Any:
        """The interval {e} of an exact endpoint or small integer (may round outward)."""

    def join(self, a: Any, b: Any) -> Any:
        """An interval from the lower end of `a` to the upper end of `b`."""

    def exp(self, x: Any) -> Any:
        """A rigorous enclosure of exp over interval x."""


def _sigmoid_at(kit: IntervalKit, e: Any) -> Any:
    one = kit.point(1)
    return one / (one + kit.exp(-kit.point(e)))


def _tanh_at(kit: IntervalKit, e: Any) -> Any:
    tanh = getattr(kit, "tanh", None)
    if tanh is not None:
        return tanh(kit.point(e))
    # tanh(p) = sign(p) (1 - t) / (1 + t), t = exp(-2|p|) in (0, 1]: no overflow.
    one = kit.point(1)
    t = kit.exp(kit.point(-2 * abs(e)))
    value = (one - t) / (one + t)
    return -value if e < 0 else value


def _sigmoid_prime_at(kit: IntervalKit, e: Any) -> Any:
    one = kit.point(1)
    t = kit.exp(kit.point(-abs(e)))
    return t / ((one + t) * (one + t))


def _tanh_prime_at(kit: IntervalKit, e: Any) -> Any:
    one = kit.point(1)
    t = kit.exp(kit.point(-2 * abs(e)))
    return 4 * t / ((one + t) * (one + t))


def _near_far(lo: Any, hi: Any) -> tuple[Any, Any]:
    """The points of [lo, hi] nearest to and farthest from 0."""
    if lo > 0:
        near = lo
    elif hi < 0:
        near = hi
    else:
        near = 0
    far = lo if -lo >= hi else hi
    return near, far


def interval_activation(kit: IntervalKit, name: str, x: Any) -> Any:
    """The range of activation `name` over interval x, rounded outward."""
    if name == "identity":
        return x
    lo, hi = kit.endpoints(x)
    if name == "relu":
        if lo >= 0:
            return x
        if hi <= 0:
            return kit.point(0)
        return kit.join(kit.point(0), x)
    if name == "sigmoid":
        return kit.join(_sigmoid_at(kit, lo), _sigmoid_at(kit, hi))
    if name == "tanh":
        return kit.join(_tanh_at(kit, lo), _tanh_at(kit, hi))
    raise SpecError(f"unknown activation {name!r}")


def interval_activation_derivative(kit: IntervalKit, name: str, x: Any) -> Any:
    """The range of act' over interval x (act' of the spec: relu'(0) = 0), rounded outward."""
    if name == "identity":
        return kit.point(1)
    lo, hi = kit.endpoints(x)
    if name == "relu":
        if lo > 0:
            return kit.point(1)
        if hi <= 0:
            return kit.point(0)
        return kit.join(kit.point(0), kit.point(1))
    if name in ("sigmoid", "tanh"):
        at = _sigmoid_prime_at if name == "sigmoid" else _tanh_prime_at
        near, far = _near_far(lo, hi)
        smallest = at(kit, far)
        # The maximum is exactly 1/4 (sigmoid) or 1 (tanh) when 0 is inside.
        if near == 0:
            largest = kit.point(1) / 4 if name == "sigmoid" else kit.point(1)
        else:
            largest = at(kit, near)
        return kit.join(smallest, largest)
    raise SpecError(f"unknown activation {name!r}")
