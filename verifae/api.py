"""The public entry points: `enclose` a box, `evaluate` a point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, overload

import numpy as np

from .activations import Activation, get_activation
from .backends import get_backend
from .backends.base import Backend, IntervalBackend
from .box import Box
from .errors import BoxError, UnsupportedError
from .layered import LayeredForward, LayeredSpec, gradient_names, layered_backward, layered_forward, layered_parameters
from .methods import (
    EXPENSIVE,
    METHOD_NAMES,
    METHODS,
    MSE,
    REFINED,
    TIGHTENINGS,
    Quantities,
    as_bounds,
    intersect_bounds,
    layered_may_overflow,
    layered_methods,
    layered_refined_pass,
    layered_tightening,
    may_overflow,
    part_budget,
    tightened_gradients,
)
from .model import GRADIENT_NAMES, AutoencoderSpec, mse_grad_output, parameters, reconstruction_error
from .numbers import FORMATS, round_down, round_up
from .rounding import FloatSemantics, Note, note_texts, notes_in

__all__ = ["Enclosure", "BatchEnclosure", "Evaluation", "enclose", "enclose_many", "evaluate", "choose_backend",
           "SEMANTICS", "LayerEnclosure", "LayeredEnclosure", "LayeredBatchEnclosure", "enclose_layered",
           "choose_layered_backend", "LAYERED_BATCH_QUANTITIES"]

SEMANTICS: tuple[str, ...] = ("real", "float64", "float32")
QUANTITIES: tuple[str, ...] = ("pre_activation", "hidden", "output", "reconstruction_error")


@dataclass(frozen=True)
class Enclosure:
    """Intervals containing every value of every quantity over the box.

    Each array is float64 with a trailing axis of length 2 holding (lower, upper),
    rounded outward; `reconstruction_error` has shape (2,), `gradients` maps
    "W_enc", "b_enc", "W_dec", "b_dec", "input" to arrays of the parameter's shape
    plus that trailing axis.
    """

    pre_activation: np.ndarray
    hidden: np.ndarray
    output: np.ndarray
    reconstruction_error: np.ndarray
    gradients: dict[str, np.ndarray]
    backend: str
    precision: int | None
    semantics: str
    method: str
    notes: tuple[str, ...] = field(default=())

    def items(self):
        """(name, array) for every quantity; gradient names are prefixed "gradients.""."""
        for name in QUANTITIES:
            yield name, getattr(self, name)
        for name in GRADIENT_NAMES:
            yield f"gradients.{name}", self.gradients[name]


@dataclass(frozen=True)
class Evaluation:
    """Point values of every quantity at one input (floats, or Fractions for "exact")."""

    pre_activation: np.ndarray
    hidden: np.ndarray
    output: np.ndarray
    reconstruction_error: Any
    gradients: dict[str, np.ndarray]
    backend: str

    def items(self):
        for name in QUANTITIES:
            yield name, getattr(self, name)
        for name in GRADIENT_NAMES:
            yield f"gradients.{name}", self.gradients[name]


def _run(spec: AutoencoderSpec, backend: Backend, x: Any, grad_output: Any, gradients: bool = True) -> Quantities:
    """The interval propagation every method starts from (tightenings refine it after)."""
    p = parameters(backend, spec)
    return METHODS["interval"](backend, p, x, grad_output, gradients=gradients)


def _check_method(method: str) -> None:
    if method not in METHOD_NAMES:
        raise UnsupportedError(f"unknown method {method!r}; valid methods are: {', '.join(METHOD_NAMES)}")


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Both contain every value, so their intersection does (and it is never empty)."""
    return np.stack([np.maximum(a[..., 0], b[..., 0]), np.minimum(a[..., 1], b[..., 1])], axis=-1)


def _combine(propagated: np.ndarray, tightened: np.ndarray, semantics: str) -> np.ndarray:
    """The interval pass's enclosure intersected with a tightening method's bounds.

    In a float semantics an unbounded entry (−inf, inf) of the interval pass says that a
    run may overflow into inf or NaN there: it stays unbounded whatever a method found,
    so no method can turn "may overflow" into a finite bound (contract item 3). For real
    numbers (−inf, inf) is only a loose enclosure and the intersection applies."""
    out = _intersect(propagated, as_bounds(tightened))
    if semantics == "real":
        return out
    unbounded = np.isneginf(propagated[..., 0]) & np.isposinf(propagated[..., 1])
    out[unbounded] = (-np.inf, np.inf)
    return out


def _overflow_note(semantics: str) -> str:
    return (f"{semantics}: a run may overflow, so this semantics is bounded by interval propagation only "
            "(the tightening methods need a proof that no intermediate overflows)")


def _tightening(spec: AutoencoderSpec, box: Box, method: str, semantics: str, grad_output: Box | str,
                gradients: bool = True, max_parts: int | None = None) -> dict[str, Any]:
    """Bounds from the tightening methods: "linear", "alpha", "mean-value", "bisect", or for "auto"
    the linear and mean-value forms, plus bisection into at most `part_budget` parts
    where that is more than one, each in `semantics`. Keys: "output" and
    "reconstruction_error" (arrays) and "gradients" (a dict by gradient name), each
    present only where a method bounds it.

    The output and E do not depend on grad_output, so their bounds hold whatever the
    incoming gradient. For the MSE loss the methods' bounds of the residual, dH and dX
    also tighten every gradient (`tightened_gradients`)."""
    parts = part_budget(method, spec.input_dim, max_parts)
    if method == "auto":
        names = [k for k in TIGHTENINGS if k not in EXPENSIVE and (k != "bisect" or parts > 1)]
    else:
        names = [method]
    found: dict[str, np.ndarray] = {}
    refined: list[dict[str, np.ndarray]] = []  # per method, then all together
    for name in names:
        extra = {"budget": parts} if name == "bisect" else {}
        bounds = TIGHTENINGS[name](spec, box, semantics, **extra)
        if bounds is None:  # a float run may overflow: the interval enclosure says why
            continue
        for key, b in bounds.items():
            found[key] = _intersect(found[key], b) if key in found else b
        refined.append({key: bounds[key] for key in REFINED if key in bounds})
    out: dict[str, Any] = {key: found[key] for key in ("output", "reconstruction_error") if key in found}
    refined = [r for r in refined if r]
    if len(refined) > 1:
        # Outward-rounded midpoint-radius products are not inclusion-monotone to the last
        # ulp, so the pass on the intersected bounds is intersected with each method's own
        # pass as well: "auto" is then never wider than any member, exactly.
        refined.append({key: found[key] for key in REFINED if key in found})
    if gradients and grad_output is MSE and refined:
        tight: dict[str, np.ndarray] = {}
        for bounds in refined:
            tighter = tightened_gradients(spec, box, semantics, bounds)
            tight = {n: _intersect(tight[n], b) if n in tight else b for n, b in tighter.items()}
        out["gradients"] = tight
    return out


def _tighten(spec: AutoencoderSpec, box: Box, method: str, e: Enclosure, grad_output: Box | str,
             max_parts: int | None) -> Enclosure:
    """The enclosure intersected with the tightening methods' bounds (`_tightening`)."""
    S = e.semantics
    found = _tightening(spec, box, method, S, grad_output, max_parts=max_parts)
    tight: dict[str, Any] = {
        key: _combine(getattr(e, key), found[key], S) for key in ("output", "reconstruction_error") if key in found
    }
    gradients = {
        n: _combine(b, found["gradients"][n], S) if "gradients" in found else b for n, b in e.gradients.items()
    }
    return replace(e, **tight, gradients=gradients, method=method)


#: models with at least this many weights in W_enc (d·h) go to the fast backend under "auto"
AUTO_FAST_WEIGHTS = 1024


def choose_backend(spec: AutoencoderSpec, batch: int = 1, precision: int | None = None) -> str:
    """The rule of backend="auto": "arb" when more than 53 bits are asked for; else "fast"
    for a batch of boxes or a model with d·h >= AUTO_FAST_WEIGHTS; else "arb"."""
    if precision is not None and precision > 53:
        return "arb"
    if batch > 1 or spec.input_dim * spec.hidden_dim >= AUTO_FAST_WEIGHTS:
        return "fast"
    return "arb"


def _rigorous(name: str | Backend, precision: int | None, semantics: str) -> Backend:
    if semantics not in SEMANTICS:
        raise UnsupportedError(f"unknown semantics {semantics!r}; valid: {', '.join(SEMANTICS)}")
    B = get_backend(name, precision)
    if not B.rigorous:
        raise UnsupportedError(
            f"backend {B.name!r} computes points, not enclosures; use evaluate(), "
            "or one of the rigorous backends 'arb', 'mpmath', 'exact', 'fast'"
        )
    if semantics == "real":
        return B
    if not isinstance(B, IntervalBackend):
        raise UnsupportedError(
            f"backend {B.name!r} cannot carry the {semantics} semantics; "
            "use one of the rigorous backends 'arb', 'mpmath', 'exact', 'fast'"
        )
    return FloatSemantics(B, FORMATS[semantics])


def _hidden_range(activation: str | Activation, semantics: str) -> tuple[float, float]:
    """The set every value of act lies in (the entry's `value_range`): relu >= 0 exactly
    (max(z, 0) is exact in floats too); sigmoid in [0, 1] and tanh in [-1, 1] for real
    numbers (a library within K ulps is not promised to respect them, so not for float
    semantics)."""
    return get_activation(activation).value_range(semantics)


def _within(bounds: np.ndarray, low: float, high: float) -> np.ndarray:
    """Intersect enclosures with a set known to contain every value (sound, and it trims
    the ball artefacts of Arb, whose radii are rounded up: a square's enclosure can start
    at -1e-9). E = mean of squares is >= 0 in every semantics: squares of floats and
    sums and quotients of non-negative floats are non-negative. An unbounded interval
    (-inf, inf) stays as it is: it stands for a run that may overflow into inf or NaN."""
    out = bounds.copy()
    bounded = ~(np.isneginf(out[..., 0]) & np.isposinf(out[..., 1]))
    out[..., 0] = np.where(bounded, np.clip(out[..., 0], low, high), out[..., 0])
    out[..., 1] = np.where(bounded, np.clip(out[..., 1], low, high), out[..., 1])
    return out


def _grad_output_box(spec: AutoencoderSpec | LayeredSpec, grad_output: Any) -> Box | str:
    if isinstance(grad_output, str):
        if grad_output != MSE:
            raise BoxError(f"grad_output must be 'mse' or a Box, got {grad_output!r}")
        return MSE
    if not isinstance(grad_output, Box):
        raise BoxError(f"grad_output must be 'mse' or a Box, got {type(grad_output).__name__}")
    if grad_output.dim != spec.input_dim:
        raise BoxError(
            f"grad_output has {grad_output.dim} entries but the model's output has {spec.input_dim}"
        )
    return grad_output


@overload
def enclose(spec: AutoencoderSpec, box: Box, *, grad_output: Box | str = ..., backend: str | Backend = ...,
            precision: int | None = ..., semantics: str = ..., method: str = ...,
            max_parts: int | None = ...) -> Enclosure: ...


@overload
def enclose(spec: LayeredSpec, box: Box, *, grad_output: Box | str = ..., backend: str | Backend = ...,
            precision: int | None = ..., semantics: str = ..., method: str = ...,
            max_parts: int | None = ...) -> LayeredEnclosure: ...


def enclose(
    spec: AutoencoderSpec | LayeredSpec,
    box: Box,
    *,
    grad_output: Box | str = MSE,
    backend: str | Backend = "auto",
    precision: int | None = None,
    semantics: str = "real",
    method: str = "auto",
    max_parts: int | None = None,
) -> Enclosure | LayeredEnclosure:
    """Enclose every quantity of `spec` for x in `box` (and g in `grad_output`).

    A `LayeredSpec` is enclosed by `enclose_layered` (same arguments), giving a
    `LayeredEnclosure`; an `AutoencoderSpec` as follows.

    `grad_output` is "mse" (g = (2/d)(x_hat − x) at the same x) or a `Box` of
    incoming gradients. `backend` is a rigorous backend ("arb", "mpmath", "exact",
    "fast") or "auto" (`choose_backend`).
    `semantics` is "real" (exact real arithmetic on the exact parameters) or
    "float64" / "float32": every result of an IEEE-754 run of the spec in that
    format (see `verifae.rounding`). Where a float run may overflow, the affected
    intervals are (-inf, inf) and `notes` says why. `method` tightens the enclosure:
    "interval" (plain interval propagation), "linear", "alpha" (optimised slopes:
    needs PyTorch for models with relu or leaky_relu layers), "mean-value", "bisect", or
    "auto" (the intersection of all but "alpha"; see `verifae.methods`). `max_parts` is the bisection
    budget: default 128 parts for "bisect", and for "auto" 16 parts where d <= 16 and
    none above; 1 turns bisection off in "auto".
    """
    if isinstance(spec, LayeredSpec):
        return enclose_layered(spec, box, grad_output=grad_output, backend=backend, precision=precision,
                               semantics=semantics, method=method, max_parts=max_parts)
    if not isinstance(box, Box):
        raise BoxError(f"box must be a Box, got {type(box).__name__}")
    if box.dim != spec.input_dim:
        raise BoxError(f"the box has {box.dim} entries but the model's input_dim is {spec.input_dim}")
    g_box = _grad_output_box(spec, grad_output)
    _check_method(method)
    part_budget(method, spec.input_dim, max_parts)  # refuses a budget below one part, whatever the method
    if backend == "auto":
        backend = choose_backend(spec, 1, precision)
    B = _rigorous(backend, precision, semantics)
    x = B.box(box)
    g = MSE if g_box is MSE else B.box(g_box)
    q = _run(spec, B, x, g)
    assert q.gradients is not None  # gradients=True
    overflow = bool(may_overflow(q))  # decided once, here, for every method
    enclosure = Enclosure(
        pre_activation=B.bounds(q.forward.pre_activation),
        hidden=_within(B.bounds(q.forward.hidden), *_hidden_range(spec.activation, semantics)),
        output=B.bounds(q.forward.output),
        reconstruction_error=_within(B.bounds(q.reconstruction_error), 0.0, np.inf),
        gradients={name: B.bounds(t) for name, t in zip(GRADIENT_NAMES, q.gradients)},
        backend=B.name,
        precision=B.precision,
        semantics=semantics,
        method="interval",
        notes=note_texts(notes_in(x, g, q)),  # every note met on the way to the results
    )
    if method == "interval":
        return enclosure
    if overflow:
        return replace(enclosure, method=method, notes=(*enclosure.notes, _overflow_note(semantics)))
    return _tighten(spec, box, method, enclosure, g_box, max_parts)


BATCH_QUANTITIES: tuple[str, ...] = ("pre_activation", "hidden", "output", "reconstruction_error")


@dataclass(frozen=True)
class BatchEnclosure:
    """Enclosures of B boxes at once: each array has a leading axis of length B.

    Quantities not asked for are None (gradients: absent from the dict).
    """

    pre_activation: np.ndarray | None
    hidden: np.ndarray | None
    output: np.ndarray | None
    reconstruction_error: np.ndarray | None
    gradients: dict[str, np.ndarray]
    backend: str
    semantics: str
    method: str
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        arrays = (self.pre_activation, self.hidden, self.output, self.reconstruction_error)
        present = [a for a in arrays if a is not None]
        return len(present[0]) if present else len(next(iter(self.gradients.values())))

    def items(self):
        for name in QUANTITIES:
            if getattr(self, name) is not None:
                yield name, getattr(self, name)
        for name in GRADIENT_NAMES:
            if name in self.gradients:
                yield f"gradients.{name}", self.gradients[name]


def _box_arrays(boxes: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) float64 arrays of shape (B, d) from a pair of arrays or a list of Boxes."""
    if isinstance(boxes, (list, tuple)) and boxes and all(isinstance(b, Box) for b in boxes):
        for i, b in enumerate(boxes):
            if b.dim != d:
                raise BoxError(f"box {i} has {b.dim} entries but the model's input_dim is {d}")
        lower = np.array([[round_down(q) for q in b.lower] for b in boxes])
        upper = np.array([[round_up(q) for q in b.upper] for b in boxes])
        return lower, upper
    try:
        lower, upper = (np.asarray(a, dtype=np.float64) for a in boxes)
    except (TypeError, ValueError):
        raise BoxError("boxes must be (lower, upper) arrays of shape (B, d), or a list of Box") from None
    if lower.ndim != 2 or lower.shape != upper.shape or lower.shape[1] != d:
        raise BoxError(f"lower and upper must both have shape (B, {d}); got {lower.shape} and {upper.shape}")
    if not (np.isfinite(lower).all() and np.isfinite(upper).all()):
        raise BoxError("box endpoints must be finite")
    bad = np.argwhere(lower > upper)
    if len(bad):
        i, j = bad[0]
        raise BoxError(f"box {i}: lower[{j}] = {lower[i, j]!r} exceeds upper[{j}] = {upper[i, j]!r}")
    return lower, upper


@overload
def enclose_many(spec: AutoencoderSpec, boxes: Any, *, grad_output: Box | str = ..., backend: str | Backend = ...,
                 precision: int | None = ..., semantics: str = ..., method: str = ...,
                 quantities: tuple[str, ...] | None = ..., chunk: int | None = ..., max_parts: int | None = ...,
                 progress: Callable[[int, int], None] | None = ...) -> BatchEnclosure: ...


@overload
def enclose_many(spec: LayeredSpec, boxes: Any, *, grad_output: Box | str = ..., backend: str | Backend = ...,
                 precision: int | None = ..., semantics: str = ..., method: str = ...,
                 quantities: tuple[str, ...] | None = ..., chunk: int | None = ..., max_parts: int | None = ...,
                 progress: Callable[[int, int], None] | None = ...) -> LayeredBatchEnclosure: ...


def enclose_many(
    spec: AutoencoderSpec | LayeredSpec,
    boxes: Any,
    *,
    grad_output: Box | str = MSE,
    backend: str | Backend = "auto",
    precision: int | None = None,
    semantics: str = "real",
    method: str = "interval",
    quantities: tuple[str, ...] | None = None,
    chunk: int | None = None,
    max_parts: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchEnclosure | LayeredBatchEnclosure:
    """Enclose every quantity of `spec` for each of B boxes at once.

    For a `LayeredSpec` the result is a `LayeredBatchEnclosure` and `quantities` names
    from "layers" (every layer's pre- and post-activation), "latent", "output",
    "reconstruction_error" (default: these four, `LAYERED_BATCH_QUANTITIES`), "gradients"
    or "gradients.<key>" ("<name>.weight", "<name>.bias", "input"); the rest as below.

    `boxes` is a pair (lower, upper) of float arrays of shape (B, d), or a list of
    `Box` (rounded outward to doubles). `quantities` names what to compute, from
    "pre_activation", "hidden", "output", "reconstruction_error" (default: these four,
    `BATCH_QUANTITIES`) and "gradients" (all five) or "gradients.W_enc" and so on.
    Weight gradients are B × h × d: they are computed `chunk` boxes at a time
    (default: about 4·10^6 intervals per chunk), and only when asked for. Interval
    propagation runs on the whole batch; any other `method` then tightens each box in
    turn, as `enclose` does (`max_parts` as there), calling `progress(done, total)` after
    each box.
    """
    if isinstance(spec, LayeredSpec):
        return _enclose_many_layered(
            spec, boxes, grad_output=grad_output, backend=backend, precision=precision, semantics=semantics,
            method=method, quantities=LAYERED_BATCH_QUANTITIES if quantities is None else quantities, chunk=chunk,
            max_parts=max_parts, progress=progress)
    if quantities is None:
        quantities = BATCH_QUANTITIES
    lower, upper = _box_arrays(boxes, spec.input_dim)
    _check_method(method)
    part_budget(method, spec.input_dim, max_parts)  # refuses a budget below one part, whatever the method
    wanted_grads = [n for n in GRADIENT_NAMES if "gradients" in quantities or f"gradients.{n}" in quantities]
    known = (*QUANTITIES, "gradients", *(f"gradients.{n}" for n in GRADIENT_NAMES))
    unknown = [q for q in quantities if q not in known]
    if unknown:
        raise UnsupportedError(f"unknown quantity {unknown[0]!r}")
    g_box = _grad_output_box(spec, grad_output)
    if backend == "auto":
        backend = choose_backend(spec, len(lower), precision)
    B = _rigorous(backend, precision, semantics)
    n = len(lower)
    size = spec.hidden_dim * spec.input_dim + spec.hidden_dim + spec.input_dim
    step = chunk or (n if not wanted_grads else max(1, 4_000_000 // max(size, 1)))
    parts: dict[str, list[np.ndarray]] = {}
    overflow = np.zeros(n, dtype=bool)  # per box: may a float run overflow anywhere (`may_overflow`)
    met: list[Note] = []  # the notes of every chunk's tensors
    for start in range(0, n, step):
        stop = min(start + step, n)
        x = B.interval_floats(lower[start:stop], upper[start:stop])
        g: Any = MSE
        if isinstance(g_box, Box):  # not MSE
            g = B.interval_floats(np.tile([round_down(q) for q in g_box.lower], (stop - start, 1)),
                                  np.tile([round_up(q) for q in g_box.upper], (stop - start, 1)))
        q = _run(spec, B, x, g, gradients=bool(wanted_grads))
        overflow[start:stop] = may_overflow(q)
        met.extend(notes_in(x, g, q))
        found = {
            "pre_activation": q.forward.pre_activation,
            "hidden": q.forward.hidden,
            "output": q.forward.output,
            "reconstruction_error": q.reconstruction_error,
        }
        for name, t in found.items():
            if name in quantities:
                b = B.bounds(t)
                if name == "hidden":
                    b = _within(b, *_hidden_range(spec.activation, semantics))
                elif name == "reconstruction_error":
                    b = _within(b, 0.0, np.inf)
                parts.setdefault(name, []).append(b)
        if wanted_grads:
            assert q.gradients is not None  # gradients=True
            for name, t in zip(GRADIENT_NAMES, q.gradients):
                if name in wanted_grads:
                    parts.setdefault(f"gradients.{name}", []).append(B.bounds(t))
    joined = {k: np.concatenate(v) for k, v in parts.items()}
    notes = note_texts(met)
    if method != "interval":
        # The batch is propagated at once; the tightening methods bound box by box, each
        # only where the pass proves that no float run of that box overflows.
        for done, k in enumerate(np.flatnonzero(~overflow), 1):
            found = _tightening(spec, Box(lower[k], upper[k]), method, semantics, g_box, bool(wanted_grads),
                                max_parts)
            flat: dict[str, np.ndarray] = {
                **{key: found[key] for key in ("output", "reconstruction_error") if key in found},
                **{f"gradients.{name}": b for name, b in found.get("gradients", {}).items()},
            }
            for key, b in flat.items():
                if key in joined:
                    joined[key][k] = _combine(joined[key][k], b, semantics)
            if progress is not None:
                progress(done, int((~overflow).sum()))
        if overflow.any():
            notes = (*notes, _overflow_note(semantics))
    return BatchEnclosure(
        pre_activation=joined.get("pre_activation"),
        hidden=joined.get("hidden"),
        output=joined.get("output"),
        reconstruction_error=joined.get("reconstruction_error"),
        gradients={n: joined[f"gradients.{n}"] for n in wanted_grads},
        backend=B.name,
        semantics=semantics,
        method=method,
        notes=notes,
    )


def evaluate(
    spec: AutoencoderSpec,
    x: Any,
    *,
    grad_output: Any = MSE,
    backend: str | Backend = "float64",
) -> Evaluation:
    """Every quantity at the single input `x`, in a point backend.

    `backend` is "float64" or "float32" (numpy runs of the spec on the rounded
    parameters) or "exact" (exact rationals; relu and identity only). `grad_output`
    is "mse" or a vector g.
    """
    B = get_backend(backend)
    if B.rigorous and B.name != "exact":
        raise UnsupportedError(
            f"backend {B.name!r} computes enclosures; use enclose(spec, Box.point(x), backend={B.name!r})"
        )
    point = Box.point(x)
    if point.dim != spec.input_dim:
        raise BoxError(f"x has {point.dim} entries but the model's input_dim is {spec.input_dim}")
    g: Any = MSE
    if not (isinstance(grad_output, str) and grad_output == MSE):
        g_point = grad_output if isinstance(grad_output, Box) else Box.point(grad_output)
        _grad_output_box(spec, g_point)  # the checks of enclose
        if not g_point.is_point:
            raise BoxError("evaluate() takes a point grad_output, not a box")
        g = B.interval(g_point.lower, g_point.upper)
    q = _run(spec, B, B.interval(point.lower, point.upper), g)
    assert q.gradients is not None  # gradients=True
    return Evaluation(
        pre_activation=B.values(q.forward.pre_activation),
        hidden=B.values(q.forward.hidden),
        output=B.values(q.forward.output),
        reconstruction_error=B.values(q.reconstruction_error)[()],
        gradients={name: B.values(t) for name, t in zip(GRADIENT_NAMES, q.gradients)},
        backend=B.name,
    )


# ---------------------------------------------------------------- layered models (issue 13)


@dataclass(frozen=True)
class LayerEnclosure:
    """One layer's enclosures: its pre-activation W a + b and its post-activation act(·)."""

    name: str
    pre_activation: np.ndarray
    post_activation: np.ndarray


@dataclass(frozen=True)
class LayeredEnclosure:
    """Intervals containing every value of every quantity of a `LayeredSpec` over a box.

    Arrays as in `Enclosure` (float64, trailing axis (lower, upper), rounded outward);
    `layers` in network order (encoder then decoder), `latent` the encoder's last
    post-activation, `gradients` keyed "<name>.weight", "<name>.bias" and "input"."""

    layers: tuple[LayerEnclosure, ...]
    latent: np.ndarray
    output: np.ndarray
    reconstruction_error: np.ndarray
    gradients: dict[str, np.ndarray]
    backend: str
    precision: int | None
    semantics: str
    method: str
    notes: tuple[str, ...] = field(default=())

    def items(self):
        """(name, array) for every quantity: "layers.<name>.pre_activation",
        "layers.<name>.post_activation", "latent", "output", "reconstruction_error",
        "gradients.<key>"."""
        for layer in self.layers:
            yield f"layers.{layer.name}.pre_activation", layer.pre_activation
            yield f"layers.{layer.name}.post_activation", layer.post_activation
        yield "latent", self.latent
        yield "output", self.output
        yield "reconstruction_error", self.reconstruction_error
        for key, value in self.gradients.items():
            yield f"gradients.{key}", value


def choose_layered_backend(spec: LayeredSpec, precision: int | None = None, batch: int = 1) -> str:
    """backend="auto" for a layered model: as `choose_backend`, counting every weight."""
    if precision is not None and precision > 53:
        return "arb"
    weights = sum(layer.weight.size for layer in spec.layers)
    return "fast" if batch > 1 or weights >= AUTO_FAST_WEIGHTS else "arb"


def _layered_flat(spec: LayeredSpec, B: Backend, fwd: LayeredForward, error: Any, grads: dict[str, Any] | None,
                  semantics: str) -> dict[str, np.ndarray]:
    """The interval pass's bounds keyed as `LayeredEnclosure.items()` (leading batch axes
    kept): the post-activations within their activation's value range, E >= 0."""
    flat: dict[str, np.ndarray] = {}
    for layer, f in zip(spec.layers, fwd.layers):
        flat[f"layers.{layer.name}.pre_activation"] = B.bounds(f.pre_activation)
        post = B.bounds(f.post_activation)
        if layer.activation is not None:
            post = _within(post, *layer.activation.value_range(semantics))
        flat[f"layers.{layer.name}.post_activation"] = post
    flat["latent"] = flat[f"layers.{spec.encoder[-1].name}.post_activation"]
    flat["output"] = flat[f"layers.{spec.layers[-1].name}.post_activation"]
    flat["reconstruction_error"] = _within(B.bounds(error), 0.0, np.inf)
    flat.update({f"gradients.{key}": B.bounds(t) for key, t in (grads or {}).items()})
    return flat


def _layered_tightening(spec: LayeredSpec, box: Box, method: str, semantics: str, grad_output: Box | str,
                        max_parts: int | None, gradients: bool = True) -> dict[str, np.ndarray]:
    """Bounds from the tightening methods of a layered model (`layered_tightening`: the
    method, or for "auto" every method of `LAYERED_FORMS` and bisection where d is small),
    keyed as `LayeredEnclosure.items()`, each present where they bound it.

    The methods' bounds are substituted into the interval pass run again
    (`layered_refined_pass`), which carries them to every later layer, E and, through the
    residual (g = (2/d) r for the MSE loss), every gradient. As in `_tightening`, with
    several members the pass runs on each member's bounds and on their intersection
    (outward-rounded products are not inclusion-monotone to the last ulp), and the
    results are intersected: "auto" is then never wider than any member."""
    found = layered_tightening(spec, box, method, semantics, max_parts)
    sets = found if len(found) == 1 else [*found, intersect_bounds(found)]
    passes = [layered_refined_pass(spec, box, semantics, b, grad_output, gradients=gradients) for b in sets]
    return intersect_bounds(passes) if passes else {}


def _layered_enclosure(spec: LayeredSpec, flat: dict[str, np.ndarray], B: Backend, semantics: str, method: str,
                       notes: tuple[str, ...]) -> LayeredEnclosure:
    layers = tuple(LayerEnclosure(layer.name, flat[f"layers.{layer.name}.pre_activation"],
                                  flat[f"layers.{layer.name}.post_activation"]) for layer in spec.layers)
    return LayeredEnclosure(
        layers=layers,
        latent=layers[len(spec.encoder) - 1].post_activation,
        output=layers[-1].post_activation,
        reconstruction_error=flat["reconstruction_error"],
        gradients={key: flat[f"gradients.{key}"] for key in gradient_names(spec)},
        backend=B.name,
        precision=B.precision,
        semantics=semantics,
        method=method,
        notes=notes,
    )


def _check_layered_method(spec: LayeredSpec, method: str, max_parts: int | None) -> None:
    _check_method(method)
    part_budget(method, spec.input_dim, max_parts)  # refuses a budget below one part, whatever the method
    if method != "interval":
        layered_methods(method, spec.input_dim, max_parts)  # refuses a method not available for layers


def enclose_layered(
    spec: LayeredSpec,
    box: Box,
    *,
    grad_output: Box | str = MSE,
    backend: str | Backend = "auto",
    precision: int | None = None,
    semantics: str = "real",
    method: str = "auto",
    max_parts: int | None = None,
) -> LayeredEnclosure:
    """Enclose every quantity of the layered model `spec` for x in `box` (and g in
    `grad_output`): the arguments as for `enclose`. `method` is "interval" (interval
    propagation), "linear" (the backward linear relaxation through every layer, CROWN:
    `verifae.methods.crown`), "alpha" (the same with optimised relu / leaky_relu slopes;
    needs PyTorch), "mean-value" (the centred form through all layers), "bisect" (the
    box split into at most `max_parts` parts, default 128, each bounded by linear and
    mean-value) or "auto" (default: the intersection of linear, mean-value and, where
    d <= 16, bisection into 16 parts). Every method
    starts from interval propagation and intersects; for the MSE loss the tighter
    residual tightens every gradient. In a float semantics the entries where a run may
    overflow are (-inf, inf), no method tightens that box, and `notes` says why, as for
    v1."""
    if not isinstance(spec, LayeredSpec):
        raise UnsupportedError(f"spec must be a LayeredSpec, got {type(spec).__name__} "
                               "(use LayeredSpec.from_v1 for an AutoencoderSpec, or enclose())")
    if not isinstance(box, Box):
        raise BoxError(f"box must be a Box, got {type(box).__name__}")
    if box.dim != spec.input_dim:
        raise BoxError(f"the box has {box.dim} entries but the model's input_dim is {spec.input_dim}")
    g_box = _grad_output_box(spec, grad_output)
    _check_layered_method(spec, method, max_parts)
    if backend == "auto":
        backend = choose_layered_backend(spec, precision)
    B = _rigorous(backend, precision, semantics)
    x = B.box(box)
    p = layered_parameters(B, spec)
    fwd = layered_forward(B, p, x)
    error = reconstruction_error(B, fwd.output, x)
    g = mse_grad_output(B, fwd.output, x, spec.input_dim) if g_box is MSE else B.box(g_box)
    grads = layered_backward(B, p, x, fwd, g)
    overflow = bool(layered_may_overflow(fwd, error, grads))  # decided once, here, for every method
    flat = _layered_flat(spec, B, fwd, error, grads, semantics)
    notes = note_texts(notes_in(x, p, fwd, error, g, grads))
    if method != "interval":
        if overflow:
            notes = (*notes, _overflow_note(semantics))
        else:
            found = _layered_tightening(spec, box, method, semantics, g_box, max_parts)
            flat.update({key: _combine(flat[key], b, semantics) for key, b in found.items() if key in flat})
    return _layered_enclosure(spec, flat, B, semantics, method, notes)


LAYERED_BATCH_QUANTITIES: tuple[str, ...] = ("layers", "latent", "output", "reconstruction_error")


@dataclass(frozen=True)
class LayeredBatchEnclosure:
    """Enclosures of B boxes of a `LayeredSpec` at once: each array has a leading axis of
    length B, otherwise as `LayeredEnclosure`. Quantities not asked for are None
    (`layers` as a whole; gradients: absent from the dict)."""

    layers: tuple[LayerEnclosure, ...] | None
    latent: np.ndarray | None
    output: np.ndarray | None
    reconstruction_error: np.ndarray | None
    gradients: dict[str, np.ndarray]
    backend: str
    semantics: str
    method: str
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(next(iter(a for _, a in self.items())))

    def items(self):
        """(name, array) for every quantity computed, named as `LayeredEnclosure.items()`."""
        for layer in self.layers or ():
            yield f"layers.{layer.name}.pre_activation", layer.pre_activation
            yield f"layers.{layer.name}.post_activation", layer.post_activation
        for name in ("latent", "output", "reconstruction_error"):
            if getattr(self, name) is not None:
                yield name, getattr(self, name)
        for key, value in self.gradients.items():
            yield f"gradients.{key}", value


def _enclose_many_layered(
    spec: LayeredSpec,
    boxes: Any,
    *,
    grad_output: Box | str,
    backend: str | Backend,
    precision: int | None,
    semantics: str,
    method: str,
    quantities: tuple[str, ...],
    chunk: int | None,
    max_parts: int | None,
    progress: Callable[[int, int], None] | None,
) -> LayeredBatchEnclosure:
    """`enclose_many` for a layered model (see there)."""
    lower, upper = _box_arrays(boxes, spec.input_dim)
    _check_layered_method(spec, method, max_parts)
    names = gradient_names(spec)
    wanted_grads = [n for n in names if "gradients" in quantities or f"gradients.{n}" in quantities]
    known = (*LAYERED_BATCH_QUANTITIES, "gradients", *(f"gradients.{n}" for n in names))
    unknown = [q for q in quantities if q not in known]
    if unknown:
        raise UnsupportedError(f"unknown quantity {unknown[0]!r}; valid: {', '.join(LAYERED_BATCH_QUANTITIES)}, "
                               "gradients, gradients.<name>")
    g_box = _grad_output_box(spec, grad_output)
    if backend == "auto":
        backend = choose_layered_backend(spec, precision, len(lower))
    B = _rigorous(backend, precision, semantics)
    n = len(lower)
    step = chunk or (n if not wanted_grads else max(1, 4_000_000 // max(spec.n_weights + spec.input_dim, 1)))
    layer_keys = [f"layers.{layer.name}.{part}" for layer in spec.layers for part in ("pre_activation",
                                                                                        "post_activation")]
    wanted = [*(layer_keys if "layers" in quantities else []),
              *(q for q in ("latent", "output", "reconstruction_error") if q in quantities),
              *(f"gradients.{name}" for name in wanted_grads)]
    parts: dict[str, list[np.ndarray]] = {key: [] for key in wanted}
    overflow = np.zeros(n, dtype=bool)  # per box: may a float run overflow anywhere (`layered_may_overflow`)
    p = layered_parameters(B, spec)
    met: list[Note] = list(notes_in(p))  # the notes of the parameters and of every chunk's tensors
    for start in range(0, n, step):
        stop = min(start + step, n)
        x = B.interval_floats(lower[start:stop], upper[start:stop])
        fwd = layered_forward(B, p, x)
        error = reconstruction_error(B, fwd.output, x)
        grads = None
        if wanted_grads:
            if isinstance(g_box, Box):  # not MSE
                g = B.interval_floats(np.tile([round_down(q) for q in g_box.lower], (stop - start, 1)),
                                      np.tile([round_up(q) for q in g_box.upper], (stop - start, 1)))
            else:
                g = mse_grad_output(B, fwd.output, x, spec.input_dim)
            grads = layered_backward(B, p, x, fwd, g)
        overflow[start:stop] = layered_may_overflow(fwd, error, grads)
        met.extend(notes_in(x, fwd, error, g if wanted_grads else None, grads))
        flat = _layered_flat(spec, B, fwd, error, grads, semantics)
        for key in wanted:
            parts[key].append(flat[key])
    joined = {key: np.concatenate(v) for key, v in parts.items()}
    notes = note_texts(met)
    if method != "interval":
        # The batch is propagated at once; the tightening methods bound box by box, each
        # only where the pass proves that no float run of that box overflows.
        total = int((~overflow).sum())
        for done, k in enumerate(np.flatnonzero(~overflow), 1):
            found = _layered_tightening(spec, Box(lower[k], upper[k]), method, semantics, g_box, max_parts,
                                        gradients=bool(wanted_grads))
            for key, b in found.items():
                if key in joined:
                    joined[key][k] = _combine(joined[key][k], b, semantics)
            if progress is not None:
                progress(done, total)
        if overflow.any():
            notes = (*notes, _overflow_note(semantics))
    layers = None
    if "layers" in quantities:
        layers = tuple(LayerEnclosure(layer.name, joined[f"layers.{layer.name}.pre_activation"],
                                      joined[f"layers.{layer.name}.post_activation"]) for layer in spec.layers)
    return LayeredBatchEnclosure(
        layers=layers,
        latent=joined.get("latent"),
        output=joined.get("output"),
        reconstruction_error=joined.get("reconstruction_error"),
        gradients={name: joined[f"gradients.{name}"] for name in wanted_grads},
        backend=B.name,
        semantics=semantics,
        method=method,
        notes=notes,
    )
