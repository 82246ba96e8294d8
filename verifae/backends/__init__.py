"""Backends by name: an explicit registry, no import side effects."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnsupportedError
from ..numbers import FLOAT32, FLOAT64
from .arb import ArbBackend
from .base import Backend, IntervalBackend, ObjectIntervalBackend
from .exact import ExactBackend
from .fast import FastBackend
from .floats import FloatBackend
from .mpmath_iv import MpmathBackend

__all__ = ["BACKENDS", "RIGOROUS_BACKENDS", "get_backend", "Backend", "IntervalBackend", "ObjectIntervalBackend"]

def _float64(precision: int | None = None) -> FloatBackend:
    return FloatBackend(FLOAT64, precision)


def _float32(precision: int | None = None) -> FloatBackend:
    return FloatBackend(FLOAT32, precision)


#: name -> factory(precision) for every backend
BACKENDS: dict[str, Callable[[int | None], Backend]] = {
    "arb": ArbBackend,
    "mpmath": MpmathBackend,
    "exact": ExactBackend,
    "fast": FastBackend,
    "float64": _float64,
    "float32": _float32,
}

#: the backends that compute enclosures
RIGOROUS_BACKENDS: tuple[str, ...] = ("arb", "mpmath", "exact", "fast")


def get_backend(name: str | Backend, precision: int | None = None) -> Backend:
    """The backend called `name`, at `precision` bits where it has a precision."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        valid = ", ".join(BACKENDS)
        raise UnsupportedError(f"unknown backend {name!r}; valid backends are: {valid}")
    if precision is not None and (not isinstance(precision, int) or precision < 2):
        raise UnsupportedError(f"precision must be an integer number of bits >= 2, got {precision!r}")
    return BACKENDS[name](precision)
