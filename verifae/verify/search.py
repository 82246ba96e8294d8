"""Prove or refute a property over a box: best-first branch and bound with an
interleaved counterexample search, per semantics (design §8).

Branch and bound. Each part of the box is bounded by verifae's enclosure methods in
the verdict's semantics (`enclose` with `method`, default "linear", for v1 models;
`enclose_layered` for layered ones, with method "interval" where the asked method is
not available). The parts always cover the box (each split is at an exact rational
midpoint, so the two halves cover their parent), so the union of the parts'
enclosures encloses the value over the whole box: when every part's enclosure implies
the property, it holds at every x of the box (and in a float semantics for every float
run: a run rounds its input to nearest, and the rounded inputs of the parts are those
of the box). The part whose enclosure is worst (largest badness, `Property.badness`)
is split next, along the side with the largest |d badness/dx_k|·width_k (the
float64 gradient at the part's centre; the widest side where that is zero).

Counterexamples. Projected sign-gradient ascent of the badness in float64 numpy runs,
from the centre and random points of the box first, then now and then inside the part
being split; candidates with positive badness are confirmed (`ModelRuns.confirm`):
only a confirmed point makes a verdict `violated`.

Budgets. `timeout` seconds and `max_parts` parts per verdict; when one runs out the
verdict is `unknown`, with the best bound over the box and the parts still open.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..api import SEMANTICS, enclose, enclose_layered
from ..box import Box
from ..errors import UnsupportedError
from ..layered import LayeredSpec
from ..model import AutoencoderSpec
from ..numbers import float_or_inf, round_down, round_up
from .properties import Property
from .runs import ModelRuns

__all__ = ["Verdict", "Searcher", "verify_box", "tightest", "DEFAULT_TIMEOUT", "DEFAULT_MAX_PARTS", "STATUSES"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_PARTS = 2000
STATUSES = ("proved", "violated", "unknown")
#: ascent: starting points on the whole box, steps per climb
_STARTS, _STEPS = 6, 25
#: inside branch and bound: a short climb in the part being split every this many splits
_CLIMB_EVERY, _PART_STEPS = 8, 10
#: `tightest` stops splitting once the proved end is within this relative gap of the runs' extreme
TIGHTEST_GAP = 1e-6
#: open parts listed in an unknown verdict (the count is always given)
_OPEN_LISTED = 20


@dataclass
class Leaf:
    """A part of the box with an enclosure [lower, upper] of the property's value."""

    box: Box
    lower: float
    upper: float


@dataclass
class Verdict:
    """One property in one semantics over one box."""

    status: str
    lower: float  # the best enclosure of the value over the whole box
    upper: float
    parts: int
    seconds: float
    counterexample: dict[str, Any] | None = None
    open_parts: list[Leaf] = field(default_factory=list)
    leaves: list[Leaf] = field(default_factory=list)  # every part, closed and open (certificates)
    notes: list[str] = field(default_factory=list)


def _float_bounds(box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float64 bounds inside the box and the coordinates that hold no double (a
    degenerate side at a value that is not a double: the point keeps its exact value)."""
    lo = np.array([round_up(q) for q in box.lower])
    hi = np.array([round_down(q) for q in box.upper])
    fixed = lo > hi
    lo = np.where(fixed, [float_or_inf(q) for q in box.lower], lo)
    hi = np.where(fixed, lo, hi)
    return lo, hi, fixed


def _exact_point(x: np.ndarray, box: Box, fixed: np.ndarray) -> np.ndarray:
    """The exact rational point of a float64 point of the box (fixed sides exact)."""
    out = np.empty(len(x), dtype=object)
    for k, v in enumerate(x):
        out[k] = box.lower[k] if fixed[k] else Fraction(float(v))
    return out


class Searcher:
    """Branch and bound and counterexample search for one model."""

    def __init__(self, spec: AutoencoderSpec | LayeredSpec, *, method: str = "linear", seed: int = 0) -> None:
        self.spec = spec
        self.runs = ModelRuns(spec)
        self.method = method
        self.layered_method = method
        self.rng = np.random.default_rng(seed)
        self.notes: list[str] = []
        self.fallback = ""  # why parts of a layered model are bounded by interval propagation

    # ------------------------------------------------------------ bounding

    def enclosure(self, box: Box, semantics: str) -> Any:
        if isinstance(self.spec, AutoencoderSpec):
            return enclose(self.spec, box, semantics=semantics, method=self.method)
        if self.layered_method != "interval":
            try:
                return enclose_layered(self.spec, box, semantics=semantics, method=self.layered_method)
            except UnsupportedError:
                self.fallback = (f"method {self.layered_method!r} is not available for this layered model; "
                                 "parts are bounded by interval propagation")
                self.layered_method = "interval"
        return enclose_layered(self.spec, box, semantics=semantics, method="interval")

    def bound(self, prop: Property, box: Box, semantics: str) -> Leaf:
        lo, hi = prop.value_bounds(self.enclosure(box, semantics), part=(self.spec, box, semantics))
        return Leaf(box, lo, hi)

    # ------------------------------------------------------------ counterexamples

    def ascend(self, prop: Property, box: Box, starts: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Projected sign-gradient ascent of the badness from each start, in float64 runs:
        the best point of each climb and its float64 badness."""
        lo, hi, _ = _float_bounds(box)
        X = np.clip(starts, lo, hi)
        best = X.copy()
        best_v = prop.point_badness(self.runs.values(prop, X, "float64"))
        step = (hi - lo) / 2
        for _ in range(steps):
            g = self.runs.gradient(prop, X)
            X = np.clip(X + step * np.sign(g), lo, hi)
            v = prop.point_badness(self.runs.values(prop, X, "float64"))
            better = v > best_v
            best[better], best_v[better] = X[better], v[better]
            step = step * 0.7
        return best, best_v

    def climb(self, prop: Property, box: Box, starts: np.ndarray, steps: int, semantics: str) -> dict | None:
        """`ascend`, then confirmation of the best candidates in `semantics`: a confirmed
        counterexample or None."""
        _, _, fixed = _float_bounds(box)
        fmt = "float64" if semantics == "real" else semantics
        best, best_v = self.ascend(prop, box, starts, steps)
        # judge the candidates in the verdict's format before the (costlier) confirmation
        if fmt != "float64":
            exact = np.stack([_exact_point(x, box, fixed) for x in best])
            best_v = prop.point_badness(self.runs.values(prop, self.runs.inputs(exact, fmt), fmt))
        order = np.argsort(-best_v)
        tried: list[np.ndarray] = []
        for k in order[:3]:
            if not best_v[k] > 0 and semantics != "real":
                break
            if semantics == "real" and not best_v[k] > -1e-12 * max(1.0, abs(float(prop.threshold))):
                break  # far from violating in float64: Arb will not find the real value beyond T
            if any(np.array_equal(best[k], t) for t in tried):
                continue
            tried.append(best[k])
            found = self.runs.confirm(prop, semantics, _exact_point(best[k], box, fixed))
            if found is not None:
                return found
        return None

    def _starts(self, box: Box, count: int) -> np.ndarray:
        lo, hi, _ = _float_bounds(box)
        centre = ((lo + hi) / 2)[None, :]
        if count <= 1:
            return centre
        return np.concatenate([centre, self.rng.uniform(lo, hi, (count - 1, len(lo)))])

    # ------------------------------------------------------------ splitting

    def split(self, prop: Property, box: Box) -> tuple[Box, Box] | None:
        """The two halves of `box` at the exact midpoint of the chosen side; None for a point."""
        widths = np.array([float(u - lo) for lo, u in zip(box.lower, box.upper)])
        if not (widths > 0).any():
            return None
        lo, hi, _ = _float_bounds(box)
        g = np.abs(self.runs.gradient(prop, ((lo + hi) / 2)[None, :])[0])
        score = widths * g
        k = int(np.argmax(score)) if np.isfinite(score).all() and score.max() > 0 else int(np.argmax(widths))
        if widths[k] <= 0:
            k = int(np.argmax(widths))
        middle = (box.lower[k] + box.upper[k]) / 2
        left_upper, right_lower = box.upper.copy(), box.lower.copy()
        left_upper[k], right_lower[k] = middle, middle
        return Box(box.lower, left_upper), Box(right_lower, box.upper)

    # ------------------------------------------------------------ one verdict

    def verify(self, prop: Property, box: Box, semantics: str, *, timeout: float = DEFAULT_TIMEOUT,
               max_parts: int = DEFAULT_MAX_PARTS, certify: Callable[[Box], bool] | None = None) -> Verdict:
        """The verdict of `prop` over `box` in `semantics`.

        `certify(part)`, when given, says whether a second, independent bound of the value
        on a part (the certificate checker's) implies the property: a part is then closed
        only when it does too, so that every leaf of the proof can be re-checked."""
        if semantics not in SEMANTICS:
            raise UnsupportedError(f"unknown semantics {semantics!r}; valid: {', '.join(SEMANTICS)}")
        start = time.monotonic()
        self.notes = []

        def elapsed() -> float:
            return time.monotonic() - start

        def done(status: str, closed: list[Leaf], open_: list[Leaf], cex: dict | None = None) -> Verdict:
            every = closed + open_
            lower = min((leaf.lower for leaf in every), default=-math.inf)
            upper = max((leaf.upper for leaf in every), default=math.inf)
            notes = [*self.notes, self.fallback] if self.fallback else self.notes
            return Verdict(status, lower, upper, len(every), elapsed(), cex,
                           sorted(open_, key=lambda leaf: -prop.badness(leaf.lower, leaf.upper)),
                           every, list(dict.fromkeys(notes)))

        def closes(leaf: Leaf) -> bool:
            if not prop.proves(leaf.lower, leaf.upper):
                return False
            if certify is None:
                return True
            return certify(leaf.box)

        order = itertools.count()
        closed: list[Leaf] = []
        heap: list[tuple[float, int, Leaf]] = []

        def push(leaf: Leaf) -> None:
            if closes(leaf):
                closed.append(leaf)
            else:
                heapq.heappush(heap, (-prop.badness(leaf.lower, leaf.upper), next(order), leaf))

        root = self.bound(prop, box, semantics)
        push(root)
        if not heap:
            return done("proved", closed, [])
        found = self.climb(prop, box, self._starts(box, _STARTS), _STEPS, semantics)
        if found is not None:
            return done("violated", closed, [item[2] for item in heap], found)
        splits = 0
        while heap:
            leaf = heap[0][2]
            if prop.refutes(leaf.lower, leaf.upper):
                # every value on this part breaks the property: its centre is a counterexample
                lo, hi, fixed = _float_bounds(leaf.box)
                found = self.runs.confirm(prop, semantics, _exact_point((lo + hi) / 2, leaf.box, fixed))
                if found is not None:
                    return done("violated", closed, [item[2] for item in heap], found)
            if len(closed) + len(heap) + 1 > max_parts or elapsed() > timeout:
                return done("unknown", closed, [item[2] for item in heap])
            if splits % _CLIMB_EVERY == _CLIMB_EVERY - 1:
                found = self.climb(prop, leaf.box, self._starts(leaf.box, 3), _PART_STEPS, semantics)
                if found is not None:
                    return done("violated", closed, [item[2] for item in heap], found)
            halves = self.split(prop, leaf.box)
            if halves is None:  # every open part is a point that cannot be decided
                return done("unknown", closed, [item[2] for item in heap])
            heapq.heappop(heap)
            splits += 1
            for half in halves:
                push(self.bound(prop, half, semantics))
        return done("proved", closed, [])


def tightest(searcher: Searcher, prop: Property, box: Box, semantics: str, *, timeout: float = DEFAULT_TIMEOUT,
             max_parts: int = DEFAULT_MAX_PARTS) -> dict[str, Any]:
    """The tightest threshold branch and bound proves within the budget, whatever T:
    for value<=T the largest upper end over the parts (so `value <= proved` holds on the
    whole box), for value>=T the smallest lower end; and `seen`, the most extreme value
    of the float64 runs of the ascent (the true extreme lies between the two, up to the
    float64 rounding of `seen`). The worst part is split first, as in `Searcher.verify`."""
    start = time.monotonic()
    upper = prop.sense == "<="

    def key(leaf: Leaf) -> float:
        v = leaf.upper if upper else -leaf.lower
        return math.inf if math.isnan(v) else v

    best, _ = searcher.ascend(prop, box, searcher._starts(box, _STARTS), _STEPS)
    values = searcher.runs.values(prop, best, "float64")
    seen = float(np.nanmax(values) if upper else np.nanmin(values))
    # close enough: the proved end within TIGHTEST_GAP (relative) of the value seen
    enough = (seen if upper else -seen) + TIGHTEST_GAP * max(abs(seen), 1e-12)
    if math.isnan(enough):  # every run overflowed: split until the budget ends
        enough = -math.inf
    order = itertools.count()
    root = searcher.bound(prop, box, semantics)
    heap: list[tuple[float, int, Leaf]] = [(-key(root), next(order), root)]
    while len(heap) < max_parts and time.monotonic() - start < timeout and -heap[0][0] > enough:
        halves = searcher.split(prop, heap[0][2].box)
        if halves is None:
            break
        heapq.heappop(heap)
        for half in halves:
            leaf = searcher.bound(prop, half, semantics)
            heapq.heappush(heap, (-key(leaf), next(order), leaf))
    leaves = [item[2] for item in heap]
    proved = max(leaf.upper for leaf in leaves) if upper else min(leaf.lower for leaf in leaves)
    return {"proved": proved, "seen": seen, "parts": len(leaves), "seconds": time.monotonic() - start}


def verify_box(spec: AutoencoderSpec | LayeredSpec, box: Box, properties: list[Property],
               semantics: tuple[str, ...] = SEMANTICS, *, timeout: float = DEFAULT_TIMEOUT,
               max_parts: int = DEFAULT_MAX_PARTS, method: str = "linear", seed: int = 0,
               certify: Callable[[Property, Box], bool] | None = None
               ) -> list[dict[str, Verdict]]:
    """Verdicts of each property in each semantics over `box`: one dict per property."""
    searcher = Searcher(spec, method=method, seed=seed)
    out = []
    for prop in properties:
        prop.check_dims(searcher.runs.input_dim, searcher.runs.latent_dim)
        verdicts = {}
        for S in semantics:
            cert = None
            if certify is not None and S == "real":
                cert = functools.partial(certify, prop)
            verdicts[S] = searcher.verify(prop, box, S, timeout=timeout, max_parts=max_parts, certify=cert)
        out.append(verdicts)
    return out
