"""Properties to prove or refute over a box (design §8): parsing, and reading a
property's value out of an enclosure or a point run.

    error<=T              E(x) = (1/d) Σ (x_hat_i − x_i)² stays at most T
    output[i]<=T / >=T    x_hat_i stays at most / at least T
    latent[i]<=T / >=T    the encoder's last output (v1: the hidden layer) likewise
    input_grad_inf<=T     max_k |dX_k| for the MSE loss (a local Lipschitz bound of the
                          network's part of dE/dx, design §1: dX is through the network only)

    FILE.vnnlib           the output constraints of a VNN-LIB file over Y_i, the decoder
                          output x_hat_i (`verifae.verify.vnnlib`): they state the unsafe
                          region, a disjunction of conjunctions of linear constraints
                          c·y + d <= 0, and the property holds when no x of the box
                          makes any disjunct true

T is an exact number: a decimal ("0.1" is 1/10), a rational ("1/3") or a hexadecimal
float, parsed as case files parse numbers (`verifae.numbers.to_exact`).

Every property is written as "badness <= 0": badness = value − T for "<=" and
T − value for ">=". The search maximises badness; a part is closed when the upper
end of its badness is <= 0 and a point violates when its badness is > 0. The
comparisons with T are exact (Fractions), so a bound within one ulp of T is never
rounded into a verdict.

A VNN-LIB property has the value m(y) = min_j max_i (c_ji·y + d_ji) (the "margin": the
disjunct j is true at y exactly when max_i (c_ji·y + d_ji) <= 0), the strict sense ">"
and T = 0: it holds at y iff m(y) > 0, so badness = −m, a part is closed when the lower
end of m is > 0, and a point violates when m <= 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..box import Box
from ..errors import InvalidNumberError, VerifaeError
from ..numbers import round_down, round_up, to_exact

__all__ = ["Property", "PropertyError", "LinearConstraint", "parse_property", "KINDS"]

#: the quantities a property can name, and whether they take an index
KINDS: dict[str, bool] = {"error": False, "output": True, "latent": True, "input_grad_inf": False}
#: quantities that only have an upper-bound form (a lower bound of E or of |dX| is not asked for)
_UPPER_ONLY = ("error", "input_grad_inf")

#: the weight of the disjuncts that do not attain a vnnlib margin in the ascent's direction
_SIDE_WEIGHT = 1e-3

_GRAMMAR = re.compile(r"\s*([A-Za-z_]+)\s*(?:\[\s*([^\]]*?)\s*\])?\s*(<=|>=|<|>|==|=)\s*(.*?)\s*")


class PropertyError(VerifaeError, ValueError):
    """A property that cannot be parsed, or that names an index the model does not have."""


@dataclass(frozen=True)
class LinearConstraint:
    """c·y + d <= 0 over the decoder output y: `coefficients` (index, c_i) with c_i != 0,
    the constant `d`, and the line of the file it was read from."""

    coefficients: tuple[tuple[int, Fraction], ...]
    constant: Fraction
    line: int | None = None

    def range(self, lower: np.ndarray, upper: np.ndarray) -> tuple[float, float]:
        """An enclosure [lo, hi] of c·y + d over the box lower <= y <= upper (float64
        endpoints, NaN read as unbounded). The sum is exact (Fractions of the float
        endpoints), then rounded outward once (`round_down`/`round_up`), so it holds."""
        lo: Fraction | None = self.constant
        hi: Fraction | None = self.constant
        for i, c in self.coefficients:
            a, b = float(lower[i]), float(upper[i])
            low_end, high_end = (a, b) if c > 0 else (b, a)
            if lo is not None:
                lo = None if not math.isfinite(low_end) else lo + c * Fraction(low_end)
            if hi is not None:
                hi = None if not math.isfinite(high_end) else hi + c * Fraction(high_end)
        return (-math.inf if lo is None else round_down(lo)), (math.inf if hi is None else round_up(hi))

    def exact_value(self, y: np.ndarray) -> Fraction | None:
        """c·y + d exactly at a finite float point y; None when an entry it uses is not finite."""
        total = self.constant
        for i, c in self.coefficients:
            v = float(y[i])
            if not math.isfinite(v):
                return None
            total += c * Fraction(v)
        return total

    def float_value(self, Y: np.ndarray) -> np.ndarray:
        """c·y + d in float64 at each row of Y (for non-finite entries only: inf and NaN
        propagate as IEEE arithmetic does)."""
        out = np.full(Y.shape[:-1], float(self.constant))
        for i, c in self.coefficients:
            out = out + float(c) * Y[..., i]
        return out


@dataclass(frozen=True)
class Property:
    """One property: `kind` in KINDS or "vnnlib", `index` (None for error,
    input_grad_inf and vnnlib), `sense` "<=", ">=" or ">" (vnnlib: the margin is > 0),
    the exact `threshold` T, and the `text` it was parsed from. A vnnlib property also
    has its `disjuncts` (the unsafe region: some disjunct with all constraints true),
    `input_dim` and `output_dim` (the X_i and Y_i it declares) and `input_region` (the boxes its input
    constraints give, None when it has none)."""

    kind: str
    index: int | None
    sense: str
    threshold: Fraction
    text: str
    disjuncts: tuple[tuple[LinearConstraint, ...], ...] = ()
    output_dim: int | None = None
    input_dim: int | None = None
    input_region: tuple[Box, ...] | None = None

    def __str__(self) -> str:
        return self.text

    # ------------------------------------------------------------ model checks

    def check_dims(self, input_dim: int, latent_dim: int) -> None:
        """PropertyError when the index is out of range for this model."""
        if self.kind == "vnnlib":
            if self.input_dim != input_dim:
                raise PropertyError(f"{self.text!r} declares {self.input_dim} inputs X_i, but the model's "
                                    f"input has {input_dim} entries")
            if self.output_dim != input_dim:
                raise PropertyError(f"{self.text!r} declares {self.output_dim} outputs Y_i, but the model's "
                                    f"output (its decoder's) has {input_dim} entries")
            return
        if self.index is None:
            return
        size = input_dim if self.kind == "output" else latent_dim
        if not 0 <= self.index < size:
            raise PropertyError(f"{self.text!r}: index {self.index} is out of range; the model's {self.kind} has "
                                f"{size} entries (indices 0 to {size - 1})")

    # ------------------------------------------------------------ values

    def value_bounds(self, enclosure: Any, part: tuple[Any, Box, str] | None = None) -> tuple[float, float]:
        """(lower, upper) of the property's value from an `Enclosure` (v1) or a
        `LayeredEnclosure`: float64 endpoints that are rounded outward there, so they
        enclose the value (NaN read as unbounded, as `methods.as_bounds` does).
        `part` = (spec, box, semantics) of that enclosure lets a vnnlib property also
        bound its constraints by CROWN with their c (`vnnlib.relaxed_ranges`)."""
        if self.kind == "vnnlib":
            return self._margin_bounds(np.asarray(enclosure.output, dtype=np.float64), part)
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

    def _margin_bounds(self, output: np.ndarray, part: tuple[Any, Box, str] | None) -> tuple[float, float]:
        """[lower, upper] of m = min_j max_i g_ji over the output enclosure: min and max
        are monotone in each argument, so the ends of the g_ji's enclosures give m's.
        Each g_ji's enclosure is the intersection of its interval range over the output
        enclosure and, with `part`, its CROWN range (both hold, so their meet does)."""
        lower, upper = output[:, 0], output[:, 1]
        relaxed: dict[int, tuple[float, float]] = {}
        if part is not None:
            from .vnnlib import relaxed_ranges

            every = [g for conjunction in self.disjuncts for g in conjunction]
            found = relaxed_ranges(part[0], part[1], part[2], every)
            if found is not None:
                relaxed = {id(g): r for g, r in zip(every, found)}
        lows, highs = [], []
        for conjunction in self.disjuncts:
            ranges = []
            for g in conjunction:
                lo, hi = g.range(lower, upper)
                if id(g) in relaxed:
                    lo, hi = max(lo, relaxed[id(g)][0]), min(hi, relaxed[id(g)][1])
                ranges.append((lo, hi))
            lows.append(max(r[0] for r in ranges))
            highs.append(max(r[1] for r in ranges))
        return min(lows), min(highs)

    def margin(self, output: np.ndarray) -> np.ndarray:
        """m(y) at each row of `output`, float64 rounded upward from its exact value (so
        that m <= 0 exactly iff the float is <= 0: `violated_by` stays exact); NaN where
        an output it uses is NaN or where infinities make it undefined."""
        Y = np.asarray(output, dtype=np.float64)
        flat = Y.reshape(-1, Y.shape[-1])
        out = np.empty(len(flat))
        for r, y in enumerate(flat):
            per_disjunct: list[float] = []
            for conjunction in self.disjuncts:
                values = []
                for g in conjunction:
                    exact = g.exact_value(y)
                    values.append(float(g.float_value(y[None, :])[0]) if exact is None else round_up(exact))
                per_disjunct.append(math.nan if any(math.isnan(v) for v in values) else max(values))
            out[r] = math.nan if any(math.isnan(v) for v in per_disjunct) else min(per_disjunct)
        return out.reshape(Y.shape[:-1])

    def output_cotangent(self, output: np.ndarray) -> np.ndarray:
        """d(value)/d(output) at each row (float64, for the ascent's direction): a unit
        vector for output[i]; for vnnlib the c of the constraint that attains m."""
        Y = np.asarray(output, dtype=np.float64)
        g = np.zeros_like(Y)
        if self.kind != "vnnlib":
            assert self.index is not None
            g[..., self.index] = 1.0
            return g
        with np.errstate(all="ignore"):
            per_disjunct = []
            for conjunction in self.disjuncts:
                values = np.stack([c.float_value(Y) for c in conjunction], axis=-1)
                per_disjunct.append((np.nanmax(np.nan_to_num(values, nan=-np.inf), axis=-1),
                                     np.argmax(np.nan_to_num(values, nan=-np.inf), axis=-1)))
        best_j = np.argmin(np.stack([v for v, _ in per_disjunct], axis=-1), axis=-1)
        flat_g = g.reshape(-1, g.shape[-1])
        for r, best in enumerate(best_j.reshape(-1)):
            # the disjunct attaining the min leads; the others' constraints are added with a
            # small weight, so that the ascent still moves where the leading one is flat in x
            # (a direction only: verdicts never depend on it)
            for j, conjunction in enumerate(self.disjuncts):
                weight = 1.0 if j == best else _SIDE_WEIGHT
                for k, c in conjunction[int(per_disjunct[j][1].reshape(-1)[r])].coefficients:
                    flat_g[r, k] += weight * float(c)
        return flat_g.reshape(g.shape)

    def point_value(self, latent: np.ndarray, output: np.ndarray, error: np.ndarray,
                    grad_input: np.ndarray | None) -> np.ndarray:
        """The value at each run (leading axis) from the runs' quantities."""
        if self.kind == "vnnlib":
            return self.margin(output)
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
        if self.sense == ">":
            return not math.isnan(lower) and lower != -math.inf and Fraction(lower) > self.threshold
        return not math.isnan(lower) and lower != -math.inf and Fraction(lower) >= self.threshold

    def refutes(self, lower: float, upper: float) -> bool:
        """Whether every value in the enclosure [lower, upper] breaks the property."""
        if self.sense == "<=":
            return lower == math.inf or (math.isfinite(lower) and Fraction(lower) > self.threshold)
        if self.sense == ">":
            return upper == -math.inf or (math.isfinite(upper) and Fraction(upper) <= self.threshold)
        return upper == -math.inf or (math.isfinite(upper) and Fraction(upper) < self.threshold)

    def violated_by(self, value: float) -> bool:
        """Whether one run's value breaks the property. NaN breaks it: a run whose value
        is NaN does not satisfy value <= T (IEEE comparisons with NaN are false)."""
        if math.isnan(value):
            return True
        if math.isinf(value):
            return (value > 0) == (self.sense == "<=")  # +inf breaks <=, -inf breaks >= and >
        if self.sense == ">":
            return Fraction(value) <= self.threshold
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
        if self.sense == ">":  # value == T violates a strict property: make its badness > 0, as for the others
            b = np.nextafter(b, np.inf)
        return np.where(np.isnan(b), np.inf, b)


def parse_property(text: str) -> Property:
    """Parse `error<=T`, `output[i]<=T`, `output[i]>=T`, `latent[i]<=T`, `latent[i]>=T`
    or `input_grad_inf<=T` (spaces allowed), or read the output constraints of a
    `FILE.vnnlib` (`verifae.verify.vnnlib.read_output_property`); PropertyError with the
    reason otherwise."""
    if not isinstance(text, str):
        raise PropertyError(f"a property is a string like 'error<=0.05', got {type(text).__name__}")
    if text.strip().lower().endswith(".vnnlib"):
        from .vnnlib import read_output_property

        return read_output_property(Path(text.strip()))
    forms = "error<=T, output[i]<=T, output[i]>=T, latent[i]<=T, latent[i]>=T, input_grad_inf<=T, FILE.vnnlib"
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
