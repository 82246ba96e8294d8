"""Properties to prove or refute over a box (design §8): parsing, and reading a
property's value out of an enclosure or a point run.

    error<=T              E(x) = (1/d) Σ (x_hat_i − x_i)² stays at most T
    output[i]<=T / >=T    x_hat_i stays at most / at least T
    latent[i]<=T / >=T    the encoder's last output (v1: the hidden layer) likewise
    input_grad_inf<=T     max_k |dX_k| for the MSE loss (a local Lipschitz bound of the
                          network's part of dE/dx, design §1: dX is through the network only)

T is an exact number: a decimal ("0.1" is 1/10), a rational ("1/3") or a hexadecimal
float, parsed as case files parse numbers (`verifae.numbers.to_exact`).

Every property is written as "badness <= 0": badness = value − T for "<=" and
T − value for ">=". The search maximises badness; a part is closed when the upper
end of its badness is <= 0 and a point violates when its badness is > 0. The
comparisons with T are exact (Fractions), so a bound within one ulp of T is never
rounded into a verdict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import InvalidNumberError, VerifaeError
from ..numbers import to_exact

__all__ = ["Property", "PropertyError", "parse_property", "KINDS"]

#: the quantities a property can name, and whether they take an index
KINDS: dict[str, bool] = {"error": False, "output": True, "latent": True, "input_grad_inf": False}
#: quantities that only have an upper-bound form (a lower bound of E or of |dX| is not asked for)
_UPPER_ONLY = ("error", "input_grad_inf")

_GRAMMAR = re.compile(r"\s*([A-Za-z_]+)\s*(?:\[\s*([^\]]*?)\s*\])?\s*(<=|>=|<|>|==|=)\s*(.*?)\s*")


class PropertyError(VerifaeError, ValueError):
    """A property that cannot be parsed, or that names an index the model does not have."""


@dataclass(frozen=True)
class Property:
    """One property: `kind` in KINDS, `index` (None for error and input_grad_inf),
    `sense` "<=" or ">=", the exact `threshold` T, and the `text` it was parsed from."""

    kind: str
    index: int | None
    sense: str
    threshold: Fraction
    text: str

    def __str__(self) -> str:
        return self.text

    # ------------------------------------------------------------ model checks

    def check_dims(self, input_dim: int, latent_dim: int) -> None:
        """PropertyError when the index is out of range for this model."""
        if self.index is None:
            return
        size = input_dim if self.kind == "output" else latent_dim
        if not 0 <= self.index < size:
            raise PropertyError(f"{self.text!r}: index {self.index} is out of range; the model's {self.kind} has "
                                f"{size} entries (indices 0 to {size - 1})")

    # ------------------------------------------------------------ values

    def value_bounds(self, enclosure: Any) -> tuple[float, float]:
        """(lower, upper) of the property's value from an `Enclosure` (v1) or a
        `LayeredEnclosure`: float64 endpoints that are rounded outward there, so they
        enclose the value (NaN read as unbounded, as `methods.as_bounds` does)."""
        if self.kind == "error":
            b = np.asarray(enclosure.reconstruction_error, dtype=np.float64)
        elif self.kind == "output":
            b = np.asarray(enclosure.output[self.index], dtype=np.float64)
        elif self.kind == "latent":
            latent = getattr(enclosure, "latent", None)
            if latent is None:  # v1: the latent vector is the hidden layer
                latent = enclosure.hidden
            b = np.asarray(latent[self.index], dtype=np.float64)
        else:
            # max_k |dX_k| lies in [max_k mig(dX_k), max_k mag(dX_k)]: mig (the smallest
            # |v| over the interval) and mag (the largest) are exact on float endpoints
            g = np.asarray(enclosure.gradients["input"], dtype=np.float64)
            lo, hi = g[..., 0], g[..., 1]
            with np.errstate(invalid="ignore"):
                mag = np.maximum(np.abs(lo), np.abs(hi))
                mig = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
            if np.isnan(mag).any():
                return 0.0, math.inf
            b = np.array([float(mig.max()), float(mag.max())])
        lo_f = -math.inf if math.isnan(b[0]) else float(b[0])
        hi_f = math.inf if math.isnan(b[1]) else float(b[1])
        return lo_f, hi_f

    def point_value(self, latent: np.ndarray, output: np.ndarray, error: np.ndarray,
                    grad_input: np.ndarray | None) -> np.ndarray:
        """The value at each run (leading axis) from the runs' quantities."""
        if self.kind == "error":
            return np.asarray(error)
        if self.kind == "output":
            return np.asarray(output)[..., self.index]
        if self.kind == "latent":
            return np.asarray(latent)[..., self.index]
        assert grad_input is not None
        with np.errstate(invalid="ignore"):
            return np.abs(np.asarray(grad_input)).max(axis=-1)

    # ------------------------------------------------------------ verdict tests (exact)

    def proves(self, lower: float, upper: float) -> bool:
        """Whether an enclosure [lower, upper] of the value implies the property."""
        if self.sense == "<=":
            return not math.isnan(upper) and upper != math.inf and Fraction(upper) <= self.threshold
        return not math.isnan(lower) and lower != -math.inf and Fraction(lower) >= self.threshold

    def refutes(self, lower: float, upper: float) -> bool:
        """Whether every value in the enclosure [lower, upper] breaks the property."""
        if self.sense == "<=":
            return lower == math.inf or (math.isfinite(lower) and Fraction(lower) > self.threshold)
        return upper == -math.inf or (math.isfinite(upper) and Fraction(upper) < self.threshold)

    def violated_by(self, value: float) -> bool:
        """Whether one run's value breaks the property. NaN breaks it: a run whose value
        is NaN does not satisfy value <= T (IEEE comparisons with NaN are false)."""
        if math.isnan(value):
            return True
        if math.isinf(value):
            return (value > 0) == (self.sense == "<=")
        return Fraction(value) > self.threshold if self.sense == "<=" else Fraction(value) < self.threshold

    def badness(self, lower: float, upper: float) -> float:
        """The largest badness (value − T, or T − value) over [lower, upper], in float64,
        used only to order parts (never for a verdict)."""
        t = float(self.threshold)
        if self.sense == "<=":
            return math.inf if math.isnan(upper) else upper - t
        return math.inf if math.isnan(lower) else t - lower

    def point_badness(self, values: np.ndarray) -> np.ndarray:
        """Badness of point values, float64 (NaN as +inf: the worst), for the search."""
        t = float(self.threshold)
        v = np.asarray(values, dtype=np.float64)
        b = v - t if self.sense == "<=" else t - v
        return np.where(np.isnan(b), np.inf, b)


def parse_property(text: str) -> Property:
    """Parse `error<=T`, `output[i]<=T`, `output[i]>=T`, `latent[i]<=T`, `latent[i]>=T`
    or `input_grad_inf<=T` (spaces allowed); PropertyError with the reason otherwise."""
    if not isinstance(text, str):
        raise PropertyError(f"a property is a string like 'error<=0.05', got {type(text).__name__}")
    forms = "error<=T, output[i]<=T, output[i]>=T, latent[i]<=T, latent[i]>=T, input_grad_inf<=T"
    m = _GRAMMAR.fullmatch(text)
    if not m:
        raise PropertyError(f"cannot parse property {text!r}; expected one of: {forms}")
    kind, index_text, sense, threshold_text = m.groups()
    if kind not in KINDS:
        raise PropertyError(f"{text!r}: unknown quantity {kind!r}; expected one of: {forms}")
    if sense not in ("<=", ">="):
        raise PropertyError(f"{text!r}: comparison {sense!r} is not supported; use <= or >=")
    if KINDS[kind]:
        if index_text is None:
            raise PropertyError(f"{text!r}: {kind} needs an index, as in {kind}[0]{sense}{threshold_text or 'T'}")
        if not re.fullmatch(r"\d+", index_text):
            raise PropertyError(f"{text!r}: index {index_text!r} is not a non-negative integer")
        index: int | None = int(index_text)
    else:
        if index_text is not None:
            raise PropertyError(f"{text!r}: {kind} takes no index")
        index = None
    if kind in _UPPER_ONLY and sense != "<=":
        raise PropertyError(f"{text!r}: {kind} only has the form {kind}<=T")
    if not threshold_text:
        raise PropertyError(f"{text!r}: missing the threshold after {sense}")
    try:
        threshold = to_exact(threshold_text)
    except InvalidNumberError as exc:
        raise PropertyError(f"{text!r}: threshold {exc}") from None
    return Property(kind, index, sense, threshold, text.strip())
