"""Axis-aligned boxes of exact rationals: the input set and the grad_output set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .derived import Derived, frozen
from .errors import BoxError, VerifaeError
from .numbers import exact_array

__all__ = ["Box"]


@dataclass(frozen=True, eq=False)
class Box(Derived):
    """The box {x : lower <= x <= upper}, with exact rational endpoints.

    `lower` and `upper` are 1-D object arrays of `Fraction`s.
    """

    lower: np.ndarray
    upper: np.ndarray
    _derived: dict[Any, Any] = field(init=False, repr=False, compare=False)

    def __init__(self, lower: Any, upper: Any) -> None:
        lo = _vector(lower, "lower")
        hi = _vector(upper, "upper")
        if lo.shape != hi.shape:
            raise BoxError(
                f"lower has {lo.shape[0]} entries but upper has {hi.shape[0]}"
            )
        bad = [i for i in range(lo.shape[0]) if lo[i] > hi[i]]
        if bad:
            i = bad[0]
            raise BoxError(
                f"lower[{i}] = {float(lo[i])!r} exceeds upper[{i}] = {float(hi[i])!r}"
                + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
            )
        object.__setattr__(self, "lower", frozen(lo))
        object.__setattr__(self, "upper", frozen(hi))
        object.__setattr__(self, "_derived", {})

    @classmethod
    def around(cls, center: Any, radius: Any) -> Box:
        """The box [center - radius, center + radius]; radius is a number or a vector."""
        c = _vector(center, "center")
        try:
            r = exact_array(radius)
        except VerifaeError as exc:
            raise BoxError(f"radius: {exc}") from None
        if r.ndim == 0:
            r = np.full(c.shape, r[()], dtype=object)
        elif r.shape != c.shape:
            raise BoxError(
                f"radius has {r.shape[0] if r.ndim == 1 else r.shape} entries "
                f"but center has {c.shape[0]}"
            )
        negative = [i for i in range(r.shape[0]) if r[i] < 0]
        if negative:
            i = negative[0]
            raise BoxError(f"radius[{i}] = {float(r[i])!r} is negative")
        return cls(c - r, c + r)

    @classmethod
    def point(cls, x: Any) -> Box:
        """The degenerate box {x}."""
        v = _vector(x, "point")
        return cls(v, v)


    @property
    def dim(self) -> int:
        return int(self.lower.shape[0])

    @property
    def is_point(self) -> bool:
        return all(a == b for a, b in zip(self.lower, self.upper))

    @property
    def center(self) -> np.ndarray:
        return (self.lower + self.upper) / 2

    def corners(self, limit: int = 1024):
        """Yield the box's corners (at most `limit` of them), as Fraction vectors."""
        free = [i for i in range(self.dim) if self.lower[i] != self.upper[i]]
        for k in range(min(2 ** len(free), limit)):
            x = self.lower.copy()
            for bit, i in enumerate(free):
                if (k >> bit) & 1:
                    x[i] = self.upper[i]
            yield x

    def __repr__(self) -> str:
        lo = [float(v) for v in self.lower[:4]]
        hi = [float(v) for v in self.upper[:4]]
        more = ", ..." if self.dim > 4 else ""
        return f"Box(lower={lo}{more}, upper={hi}{more})"


def _vector(values: Any, name: str) -> np.ndarray:
    try:
        v = exact_array(values)
    except VerifaeError as exc:
        raise BoxError(f"{name}: {exc}") from None
    if v.ndim != 1:
        raise BoxError(f"{name}: expected a vector of numbers, got shape {v.shape}")
    return v
