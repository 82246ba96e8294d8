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

Relu phase splitting. For models with relu / leaky_relu layers (and every property
but input_grad_inf, and no certificate), a part is a box and a set of fixed phases
(z_j >= 0 or z_j <= 0 for chosen neurons j of chosen layers), bounded by CROWN with
each fixed neuron exactly linear (`crown_bounds(..., phases=...)`, which also proves a
part empty: it is then closed, vacuously). Splitting a part on neuron j keeps both
phases, and z_j = 0 belongs to both, so the parts still cover the box. In a float
semantics the phase is that of the run's own float pre-activation, whose enclosure
CROWN's float pass proves (`verifae.methods.crown`): every run has one sign or the
other, so the parts cover every run. Which split: the estimated decrease of the upper
bound of the badness, in float64 (a heuristic: it only orders work, never decides a
verdict). The badness is linearised (for E through the residual's larger end) and its
coefficient λ moved back through the relaxation lines as CROWN does; fixing an
unstable relu neuron removes its upper line's intercept, λ⁺·cU (cU = −u·l/(u − l)):
the intercept term of BaBSR (Bunel et al., "Branch and bound for piecewise linear
neural network verification", JMLR 21, 2020, §5.1) and of FSB's bound estimate (De
Palma et al., "Improved branch and bound for neural network verification via
Lagrangian decomposition", 2021). That candidate and the part's input split (the
side chosen as above) are both bounded, and the one whose children have the smaller
mean badness is taken: strong branching over two candidates, as FSB bounds its
filtered candidates' children before choosing. The mean, not the worse child: on
random 16-input relu models it left smaller gaps. The children are kept, so the
choice costs the other candidate's two bounds.

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
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..api import SEMANTICS, enclose, enclose_layered
from ..box import Box
from ..errors import UnsupportedError
from ..layered import LayeredSpec
from ..methods.crown import PHASE_ACTIVATIONS, EmptyPart, Network, crown_bounds, crown_result, prepare_network
from ..methods.gradients import layered_refined_pass
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


#: a fixed relu phase: (layer index, neuron, +1 for z_j >= 0 or −1 for z_j <= 0)
Phase = tuple[int, int, int]


@dataclass
class Leaf:
    """A part of the box with an enclosure [lower, upper] of the property's value: the
    points of `box` (in a float semantics: the float runs on them) whose relu
    pre-activations have the fixed `phases`. An `empty` part has no point (its bounds
    mean nothing); `branch` is the phase split chosen for it, (layer, neuron), or None
    for an input split."""

    box: Box
    lower: float
    upper: float
    phases: tuple[Phase, ...] = ()
    empty: bool = False
    branch: tuple[int, int] | None = None


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

    def __init__(self, spec: AutoencoderSpec | LayeredSpec, *, method: str = "linear", seed: int = 0,
                 phase_split: bool = True) -> None:
        self.spec = spec
        self.runs = ModelRuns(spec)
        self.method = method
        self.layered_method = method
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.notes: list[str] = []
        self.fallback = ""  # why parts of a layered model are bounded by interval propagation
        self.layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)
        #: layers whose relu phases may be fixed
        self.phase_layers = [k for k, layer in enumerate(self.layered.layers)
                             if layer.activation is not None and layer.activation.name in PHASE_ACTIVATIONS]
        self.phase_split = phase_split and bool(self.phase_layers) and method != "interval"
        self.use_phases = False  # for the verdict under way (`verify`, `tightest`)
        #: the asked method is this CROWN (layered "linear" / "alpha": CROWN ∩ interval propagation)
        self.crown_is_method = isinstance(spec, LayeredSpec) and method in ("linear", "alpha")
        self._weights: list[np.ndarray] | None = None  # float64 weights, for the branching estimate only

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

    def phases_for(self, prop: Property, certified: bool) -> bool:
        """Whether parts may fix relu phases for this property: error, output and latent
        ones (CROWN's phase bounds give their values; the certificate checker and the
        gradient bounds know boxes only)."""
        return self.phase_split and not certified and prop.kind in ("error", "output", "latent")

    def bound(self, prop: Property, box: Box, semantics: str, phases: tuple[Phase, ...] = ()) -> Leaf:
        if not self.use_phases:
            lo, hi = prop.value_bounds(self.enclosure(box, semantics), part=(self.spec, box, semantics))
            return Leaf(box, lo, hi)
        signs = {k: np.zeros(self.layered.layers[k].out_features, dtype=np.int8) for k, _, _ in phases}
        for k, j, sign in phases:
            signs[k][j] = sign
        try:
            net = prepare_network(self.layered, box, semantics, signs)
            result = None if net is None else crown_result(net)
            if net is not None and self.method == "alpha":
                tighter = crown_bounds(self.layered, box, semantics, alpha=True, phases=signs)
                assert tighter is not None  # the same interval pass as `net`'s
                result = {key: np.stack([np.maximum(b[..., 0], tighter[key][..., 0]),
                                         np.minimum(b[..., 1], tighter[key][..., 1])], axis=-1)
                          for key, b in (result or {}).items()}
        except EmptyPart:
            return Leaf(box, math.inf, -math.inf, phases, empty=True)
        lo, hi = -math.inf, math.inf
        if result is not None:
            # the interval pass again with CROWN's bounds substituted layer by layer (as the
            # layered "linear" method does): each is valid on the part, so is the pass
            refined = layered_refined_pass(self.layered, box, semantics, result, gradients=False)
            lo, hi = prop.value_bounds(SimpleNamespace(**{key: refined[key] for key in
                                                          ("output", "latent", "reconstruction_error")}))
        if not phases and not self.crown_is_method:
            # the box alone: the asked method's enclosure too (both sound: intersect)
            lo2, hi2 = prop.value_bounds(self.enclosure(box, semantics))
            lo, hi = max(lo, lo2), min(hi, hi2)
        branch = None if net is None or result is None else self._branch(prop, net, result)
        return Leaf(box, lo, hi, phases, branch=branch)

    def _branch(self, prop: Property, net: Network, result: dict[str, np.ndarray]) -> tuple[int, int] | None:
        """The unstable relu neuron (layer, j) whose phase split is estimated to lower the
        badness's upper bound most (λ⁺·cU + |λ⁻|·cL, module docstring), or None when none
        contributes. Float64 and heuristic: it orders work, it decides nothing."""
        if self._weights is None:
            self._weights = [np.array(layer.weight, dtype=np.float64) for layer in self.layered.layers]
        B, d = net.B, self.layered.input_dim
        sign = 1.0 if prop.sense == "<=" else -1.0
        top = net.depth - 1 if prop.kind in ("error", "output") else len(self.layered.encoder) - 1
        lam = np.zeros(self._weights[top].shape[0])
        if prop.kind == "error":
            # E = mean(r_i²) linearised at the end of each r_i farther from 0
            r = result["residual"]
            lam = 2.0 / d * np.where(np.abs(r[:, 1]) >= np.abs(r[:, 0]), r[:, 1], r[:, 0])
        else:
            assert prop.index is not None
            lam[prop.index] = sign
        best, choice = -1.0, None
        with np.errstate(invalid="ignore", over="ignore"):
            for k in range(top, -1, -1):
                lines = net.lines[k]
                if lines is not None:
                    pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
                    if k in self.phase_layers:
                        lo, hi = B.ends(net.pre[k])
                        gain = np.where((lo < 0) & (hi > 0), pos * lines.cU - neg * lines.cL, 0.0)
                        gain = np.nan_to_num(gain, nan=0.0, posinf=0.0)
                        j = int(np.argmax(gain))
                        if gain[j] > best:
                            best, choice = float(gain[j]), (k, j)
                    lam = np.nan_to_num(pos * lines.aU + neg * lines.aL)
                lam = lam @ self._weights[k]
        return choice if best > 0 else None

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

    def split(self, prop: Property, leaf: Leaf, semantics: str) -> list[Leaf] | None:
        """The two children of a part, bounded: the two halves of its box at the exact
        midpoint of the chosen side (same phases), or both phases of its candidate relu
        neuron (`leaf.branch`), whichever leaves the smaller mean badness of its children
        (both are bounded and compared: strong branching over one candidate of each
        kind, as FSB bounds its filtered candidates); None for a point with no phase to
        split."""
        halves = self.split_box(prop, leaf.box)
        by_input = None if halves is None else [self.bound(prop, half, semantics, leaf.phases) for half in halves]
        if leaf.branch is None:
            return by_input
        k, j = leaf.branch
        by_phase = [self.bound(prop, leaf.box, semantics, (*leaf.phases, (k, j, sign))) for sign in (1, -1)]
        if by_input is None:
            return by_phase

        def score(children: list[Leaf]) -> float:
            # the children's mean badness (an empty child is no part: the other one's)
            values = [prop.badness(c.lower, c.upper) for c in children if not c.empty]
            return sum(values) / len(values) if values else -math.inf

        return by_phase if score(by_phase) <= score(by_input) else by_input

    def split_box(self, prop: Property, box: Box) -> tuple[Box, Box] | None:
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
        self.use_phases = self.phases_for(prop, certify is not None)
        # each verdict draws its own random starts: it does not depend on the verdicts
        # before it (whose draws depend on their budgets and timing) nor on where it runs
        self.rng = np.random.default_rng(self.seed)

        def elapsed() -> float:
            return time.monotonic() - start

        def done(status: str, closed: list[Leaf], open_: list[Leaf], cex: dict | None = None) -> Verdict:
            every = closed + open_
            # an empty part has no value: the bound over the box is that of the others
            lower = min((leaf.lower for leaf in every if not leaf.empty), default=-math.inf)
            upper = max((leaf.upper for leaf in every if not leaf.empty), default=math.inf)
            notes = [*self.notes, self.fallback] if self.fallback else self.notes
            return Verdict(status, lower, upper, len(every), elapsed(), cex,
                           sorted(open_, key=lambda leaf: -prop.badness(leaf.lower, leaf.upper)),
                           every, list(dict.fromkeys(notes)))

        def closes(leaf: Leaf) -> bool:
            if leaf.empty:
                return True  # vacuously: no point of the box has its phases
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
            children = self.split(prop, leaf, semantics)
            if children is None:  # every open part is a point that cannot be decided
                return done("unknown", closed, [item[2] for item in heap])
            heapq.heappop(heap)
            splits += 1
            for child in children:
                push(child)
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
    searcher.use_phases = searcher.phases_for(prop, False)
    searcher.rng = np.random.default_rng(searcher.seed)  # as in `Searcher.verify`

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
    parts = 1
    while heap and parts < max_parts and time.monotonic() - start < timeout and -heap[0][0] > enough:
        children = searcher.split(prop, heap[0][2], semantics)
        if children is None:
            break
        heapq.heappop(heap)
        parts += len(children) - 1  # one part becomes two
        for leaf in children:
            if not leaf.empty:  # an empty part has no value to bound
                heapq.heappush(heap, (-key(leaf), next(order), leaf))
    leaves = [item[2] for item in heap]
    # (no leaf left: every part is proven empty, so any threshold holds vacuously)
    proved = (max((leaf.upper for leaf in leaves), default=-math.inf) if upper
              else min((leaf.lower for leaf in leaves), default=math.inf))
    return {"proved": proved, "seen": seen, "parts": parts, "seconds": time.monotonic() - start}


def verify_box(spec: AutoencoderSpec | LayeredSpec, box: Box, properties: list[Property],
               semantics: tuple[str, ...] = SEMANTICS, *, timeout: float = DEFAULT_TIMEOUT,
               max_parts: int = DEFAULT_MAX_PARTS, method: str = "linear", seed: int = 0,
               certify: Callable[[Property, Box], bool] | None = None, phase_split: bool = True
               ) -> list[dict[str, Verdict]]:
    """Verdicts of each property in each semantics over `box`: one dict per property."""
    searcher = Searcher(spec, method=method, seed=seed, phase_split=phase_split)
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
