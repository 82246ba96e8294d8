"""The public entry points: `enclose` a box, `evaluate` a point."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, overload

import numpy as np

from .activations import Activation, get_activation
from .backends import get_backend
from .backends.base import Backend, IntervalBackend
from .batch import BATCH_WIDE, WHOLE_BATCH, check_weight_gradients, hull_update, products_may_overflow
from .box import Box
from .errors import BoxError, UnsupportedError
from .layered import (
    LayeredForward,
    LayeredSpec,
    gradient_names,
    layered_backward,
    layered_forward,
    layered_parameters,
    residual,
)
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

__all__ = ["Enclosure", "BatchEnclosure", "Evaluation", "enclose", "enclose_many", "iter_enclose_many", "evaluate",
           "choose_backend",
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
    out = np.clip(bounds, low, high)
    unbounded = (bounds[..., 0] == -np.inf) & (bounds[..., 1] == np.inf)
    if unbounded.any():
        out[unbounded] = bounds[unbounded]
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
    """Enclosures of B boxes at once: each array has a leading axis of length B, except
    the weight gradients when `weight_gradients` is "sum", "mean", "hull" or "factor-hull" (one array of
    the parameter's shape for the whole batch, `verifae.batch`).

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
    weight_gradients: str = "per-box"

    def __len__(self) -> int:
        return _batch_length(a for _, a in _per_box_items(self.items(), self.weight_gradients))

    def items(self):
        for name in QUANTITIES:
            if getattr(self, name) is not None:
                yield name, getattr(self, name)
        for name in GRADIENT_NAMES:
            if name in self.gradients:
                yield f"gradients.{name}", self.gradients[name]


def _per_box_items(items: Iterable[tuple[str, np.ndarray]], weight_gradients: str) -> Iterator[tuple[str, np.ndarray]]:
    """The items with a leading batch axis: all but batch-wide weight gradients."""
    return ((k, a) for k, a in items if weight_gradients not in BATCH_WIDE or not _is_weight_key(k))


def _batch_length(arrays: Iterable[np.ndarray]) -> int:
    for a in arrays:
        return len(a)
    raise TypeError("this batch enclosure holds only batch-wide weight gradients: it has no per-box length")


def _is_weight_key(key: str) -> bool:
    """Whether a flat gradient key names a weight gradient (v1's W_enc, W_dec; a layer's
    "<name>.weight")."""
    return key.startswith("gradients.") and (key.endswith(".weight") or key in ("gradients.W_enc", "gradients.W_dec"))


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
    if len(lower) == 0:
        raise BoxError("no boxes: lower and upper have shape (0, d)")
    if not (np.isfinite(lower).all() and np.isfinite(upper).all()):
        raise BoxError("box endpoints must be finite")
    if np.any(lower > upper):
        i, j = np.argwhere(lower > upper)[0]
        raise BoxError(f"box {i}: lower[{j}] = {lower[i, j]!r} exceeds upper[{j}] = {upper[i, j]!r}")
    return lower, upper


# ------------------------------------------------------------ the batch pass, v1 and layered

#: v1's quantity names as the keys of its layered form (`LayeredSpec.from_v1`)
_V1_KEYS: dict[str, str] = {
    "pre_activation": "layers.encoder.0.pre_activation",
    "hidden": "layers.encoder.0.post_activation",
    "output": "output",
    "reconstruction_error": "reconstruction_error",
    "gradients.W_enc": "gradients.encoder.0.weight",
    "gradients.b_enc": "gradients.encoder.0.bias",
    "gradients.W_dec": "gradients.decoder.0.weight",
    "gradients.b_dec": "gradients.decoder.0.bias",
    "gradients.input": "gradients.input",
}


def _as_layered(spec: AutoencoderSpec) -> LayeredSpec:
    """The v1 spec as layers, built once per spec: it runs the very operations of
    `verifae.model` in the same order (`LayeredSpec.from_v1`), so enclose_many has one
    batch pass for both kinds of spec."""
    return spec.derived("layered", lambda: LayeredSpec.from_v1(spec))


class _Pass(NamedTuple):
    start: int
    stop: int
    bounds: dict[str, np.ndarray]  # keyed as `LayeredBatchEnclosure.items()`
    overflow: np.ndarray  # per box: may a float run overflow anywhere (`layered_may_overflow`)
    notes: tuple[Note, ...]


def _incoming(B: Backend, g_box: Box | str, x_hat: Any, x: Any, d: int, rows: int, batch: int = 1,
              r: Any = None) -> Any:
    """g = dL/dx_hat per box: (2/d)(x_hat − x) for "mse", else the box G; for the mean loss
    over `batch` boxes (`verifae.batch`, "mean"), (2/(batch·d))(x_hat − x) or G/batch
    (`r`: the residual x_hat − x, already computed)."""
    if isinstance(g_box, Box):  # not MSE
        g = B.interval_floats(np.tile([round_down(q) for q in g_box.lower], (rows, 1)),
                              np.tile([round_up(q) for q in g_box.upper], (rows, 1)))
        return g if batch == 1 else B.scale(g, 1, batch)
    return mse_grad_output(B, x_hat, x, d * batch, r=r)


def _batch_step(spec: LayeredSpec, n: int, chunk: int | None, keys: list[str], weight_gradients: str) -> int:
    """Boxes per pass: the whole batch for a summed gradient (one product over every box,
    whatever `chunk` says); else `chunk`, by default about 4·10^6 intervals of per-box
    weight gradients per pass, or the whole batch when there are none."""
    if chunk is not None and not (isinstance(chunk, (int, np.integer)) and chunk >= 1):
        raise UnsupportedError(f"chunk must be a positive number of boxes, got {chunk!r}")
    weights = sum(layer.weight.size for layer in spec.layers if f"gradients.{layer.name}.weight" in keys)
    if weights and weight_gradients in WHOLE_BATCH:
        return max(n, 1)
    if chunk:
        return chunk
    return max(1, 4_000_000 // (weights + sum(spec.layer_sizes))) if weights else max(n, 1)


def _batch_passes(spec: LayeredSpec, B: Backend, lower: np.ndarray, upper: np.ndarray, g_box: Box | str,
                  semantics: str, keys: list[str], weight_gradients: str, step: int) -> Iterator[_Pass]:
    """Interval propagation over the boxes, `step` at a time, yielding the bounds of `keys`.

    The backward pass never forms a weight gradient it is not asked for: bias gradients
    and dX need none. Weight gradients are as `weight_gradients` says (`verifae.batch`):
    the chunk's outer products dz_b ⊗ a_b for "per-box" and "hull"; one product
    Σ_b dz_b ⊗ a_b (`Backend.outer_sum`) for "sum" and "mean", and the one product of the
    factors' hulls for "factor-hull", whose pass is the whole batch (`_batch_step`)."""
    n = len(lower)
    p = layered_parameters(B, spec)
    weights = [layer for layer in p.layers if f"gradients.{layer.name}.weight" in keys]
    gradients = any(key.startswith("gradients.") for key in keys)
    for start in range(0, n, step):
        stop = min(start + step, n)
        x = B.interval_floats(lower[start:stop], upper[start:stop])
        fwd = layered_forward(B, p, x)
        r = residual(B, fwd.output, x)
        error = reconstruction_error(B, fwd.output, x, r)
        g: Any = None
        grads: dict[str, Any] | None = None
        summed: dict[str, Any] = {}
        mean_pass: list[Any] = []
        overflow = np.zeros(stop - start, dtype=bool)
        if gradients:
            g = _incoming(B, g_box, fwd.output, x, spec.input_dim, stop - start, r=r)
            grads = layered_backward(B, p, x, fwd, g, weights=False)
            inputs = {layer.name: a for layer, a in zip(p.layers, [x, *(f.post_activation for f in fwd.layers[:-1])])}
            if weight_gradients in ("per-box", "hull"):
                for layer in weights:
                    grads[f"{layer.name}.weight"] = B.outer(grads[f"{layer.name}.bias"], inputs[layer.name])
            elif weights and weight_gradients == "factor-hull":  # this pass is the whole batch
                for layer in weights:
                    summed[f"{layer.name}.weight"] = B.outer(B.batch_hull(grads[f"{layer.name}.bias"]),
                                                             B.batch_hull(inputs[layer.name]))
            elif weights:  # "sum" or "mean": this pass is the whole batch
                source = grads
                if weight_gradients == "mean" and semantics != "real":
                    g_mean = _incoming(B, g_box, fwd.output, x, spec.input_dim, stop - start, batch=n, r=r)
                    source = layered_backward(B, p, x, fwd, g_mean, weights=False)
                    mean_pass = [g_mean, source]  # for their notes
                for layer in weights:
                    summed[f"{layer.name}.weight"] = B.outer_sum(source[f"{layer.name}.bias"], inputs[layer.name])
                    if weight_gradients == "mean" and semantics == "real":
                        # for real numbers the mean loss's gradient is exactly the sum's / B
                        summed[f"{layer.name}.weight"] = B.scale(summed[f"{layer.name}.weight"], 1, n)
            for layer in p.layers:  # the per-box products not formed may still overflow in a run
                if f"{layer.name}.weight" not in grads:
                    overflow |= products_may_overflow(B, grads[f"{layer.name}.bias"], inputs[layer.name], semantics)
        overflow |= layered_may_overflow(fwd, error, grads)
        notes = notes_in(p, x, fwd, error, g, grads, summed, mean_pass)
        flat = _layered_flat(spec, B, fwd, error, {**(grads or {}), **summed}, semantics, keys)
        yield _Pass(start, stop, {key: flat[key] for key in keys}, overflow, notes)


def _tighten_rows(bounds: dict[str, np.ndarray], overflow: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  tighten: Callable[[Box], dict[str, np.ndarray]], semantics: str, weight_gradients: str,
                  progress: Callable[[int, int], None] | None) -> None:
    """Intersect each row of `bounds` with the tightening methods' bounds of its box
    (`_combine`), in place, only where the pass proves that no float run of that box
    overflows. Batch-wide weight gradients keep the interval pass's bounds."""
    rows = np.flatnonzero(~overflow)
    for done, k in enumerate(rows, 1):
        for key, b in tighten(Box(lower[k], upper[k])).items():
            if key in bounds and not (weight_gradients in BATCH_WIDE and _is_weight_key(key)):
                bounds[key][k] = _combine(bounds[key][k], b, semantics)
        if progress is not None:
            progress(done, len(rows))


def _run_batch(spec: LayeredSpec, lower: np.ndarray, upper: np.ndarray, keys: list[str], *, B: Backend,
               g_box: Box | str, semantics: str, method: str, weight_gradients: str, chunk: int | None,
               tighten: Callable[[Box], dict[str, np.ndarray]],
               progress: Callable[[int, int], None] | None) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The bounds of `keys` for every box (`_batch_passes`; weight gradients reduced over
    the chunks for "hull"), tightened box by box for a `method` other than "interval"."""
    n = len(lower)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    wide: dict[str, np.ndarray] = {}
    overflow = np.zeros(n, dtype=bool)
    met: list[Note] = []  # the notes of the parameters and of every chunk's tensors
    step = _batch_step(spec, n, chunk, keys, weight_gradients)
    for found in _batch_passes(spec, B, lower, upper, g_box, semantics, keys, weight_gradients, step):
        overflow[found.start:found.stop] = found.overflow
        met.extend(found.notes)
        for key, b in found.bounds.items():
            if weight_gradients == "hull" and _is_weight_key(key):
                wide[key] = hull_update(wide.get(key), b)
            elif weight_gradients in BATCH_WIDE and _is_weight_key(key):
                wide[key] = b
            else:
                parts[key].append(b)
    # A single pass's arrays are kept as they are (no copy) unless two keys share one (an
    # alias such as "output"): each key owns its array, as `_tighten_rows` writes into them.
    shared = Counter(id(v[0]) for v in parts.values() if len(v) == 1)
    joined = {key: v[0] if len(v) == 1 and shared[id(v[0])] == 1 else np.concatenate(v)
              for key, v in parts.items() if v}
    joined.update(wide)
    notes = note_texts(met)
    if method != "interval":
        _tighten_rows(joined, overflow, lower, upper, tighten, semantics, weight_gradients, progress)
        if overflow.any():
            notes = (*notes, _overflow_note(semantics))
    return joined, notes


def _v1_request(spec: AutoencoderSpec, quantities: tuple[str, ...] | None, weight_gradients: str,
                method: str, max_parts: int | None) -> tuple[list[str], list[str]]:
    """Checks `enclose_many`'s arguments for a v1 spec: (the v1 quantities asked for, as
    `BatchEnclosure.items()` names; their layered keys)."""
    _check_method(method)
    part_budget(method, spec.input_dim, max_parts)  # refuses a budget below one part, whatever the method
    check_weight_gradients(weight_gradients)
    quantities = BATCH_QUANTITIES if quantities is None else quantities
    known = (*QUANTITIES, "gradients", *(f"gradients.{n}" for n in GRADIENT_NAMES))
    unknown = [q for q in quantities if q not in known]
    if unknown:
        raise UnsupportedError(f"unknown quantity {unknown[0]!r}")
    names = [q for q in QUANTITIES if q in quantities]
    names += [f"gradients.{n}" for n in GRADIENT_NAMES if "gradients" in quantities or f"gradients.{n}" in quantities]
    names = _drop_weights(names, quantities, weight_gradients)
    return names, [_V1_KEYS[name] for name in names]


def _drop_weights(names: list[str], quantities: tuple[str, ...], weight_gradients: str) -> list[str]:
    """With weight_gradients "none", "gradients" means the bias gradients and dX; a weight
    gradient named on its own is refused."""
    if weight_gradients != "none":
        return names
    for q in quantities:
        if _is_weight_key(q):
            raise UnsupportedError(f"quantity {q!r} is a weight gradient, but weight_gradients is 'none'")
    return [name for name in names if not _is_weight_key(name)]


def _v1_tightening(spec: AutoencoderSpec, method: str, semantics: str, g_box: Box | str, gradients: bool,
                   max_parts: int | None) -> Callable[[Box], dict[str, np.ndarray]]:
    """`_tightening` of one box, keyed as the layered pass."""
    def tighten(box: Box) -> dict[str, np.ndarray]:
        found = _tightening(spec, box, method, semantics, g_box, gradients, max_parts)
        flat: dict[str, np.ndarray] = {key: found[key] for key in ("output", "reconstruction_error") if key in found}
        flat.update({_V1_KEYS[f"gradients.{n}"]: b for n, b in found.get("gradients", {}).items()})
        return flat

    return tighten


def _v1_batch(names: list[str], joined: dict[str, np.ndarray], B: Backend, semantics: str, method: str,
              notes: tuple[str, ...], weight_gradients: str) -> BatchEnclosure:
    found = {name: joined[_V1_KEYS[name]] for name in names}
    return BatchEnclosure(
        pre_activation=found.get("pre_activation"),
        hidden=found.get("hidden"),
        output=found.get("output"),
        reconstruction_error=found.get("reconstruction_error"),
        gradients={n: found[f"gradients.{n}"] for n in GRADIENT_NAMES if f"gradients.{n}" in found},
        backend=B.name,
        semantics=semantics,
        method=method,
        notes=notes,
        weight_gradients=weight_gradients,
    )


@overload
def enclose_many(spec: AutoencoderSpec, boxes: Any, *, grad_output: Box | str = ..., backend: str | Backend = ...,
                 precision: int | None = ..., semantics: str = ..., method: str = ...,
                 quantities: tuple[str, ...] | None = ..., chunk: int | None = ..., max_parts: int | None = ...,
                 progress: Callable[[int, int], None] | None = ...,
                 weight_gradients: str = ...) -> BatchEnclosure: ...


@overload
def enclose_many(spec: LayeredSpec, boxes: Any, *, grad_output: Box | str = ..., backend: str | Backend = ...,
                 precision: int | None = ..., semantics: str = ..., method: str = ...,
                 quantities: tuple[str, ...] | None = ..., chunk: int | None = ..., max_parts: int | None = ...,
                 progress: Callable[[int, int], None] | None = ...,
                 weight_gradients: str = ...) -> LayeredBatchEnclosure: ...


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
    weight_gradients: str = "per-box",
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
    Bias gradients and dX are per box and need no outer product. `weight_gradients`
    says what the weight gradients are (`verifae.batch`): "per-box" (B × h × d, computed
    `chunk` boxes at a time, default about 4·10^6 intervals per chunk; for a stream see
    `iter_enclose_many`), "sum" or "mean" (the gradient of the batch's summed or mean
    loss, one product over the whole batch, `chunk` not applying), "hull" (per entry
    the hull of the boxes' enclosures), "factor-hull" (an interval holding every box's,
    from one outer product of the factors' hulls: faster than "hull", may be wider) or
    "none" (none; "gradients" then means the bias
    gradients and dX). Interval propagation runs on the whole batch; any other `method`
    then tightens each box in turn, as `enclose` does (`max_parts` as there; weight
    gradients other than "per-box" keep the interval pass's bounds), calling
    `progress(done, total)` after each box.
    """
    if isinstance(spec, LayeredSpec):
        return _enclose_many_layered(
            spec, boxes, grad_output=grad_output, backend=backend, precision=precision, semantics=semantics,
            method=method, quantities=LAYERED_BATCH_QUANTITIES if quantities is None else quantities, chunk=chunk,
            max_parts=max_parts, progress=progress, weight_gradients=weight_gradients)
    lower, upper = _box_arrays(boxes, spec.input_dim)
    names, keys = _v1_request(spec, quantities, weight_gradients, method, max_parts)
    g_box = _grad_output_box(spec, grad_output)
    if backend == "auto":
        backend = choose_backend(spec, len(lower), precision)
    B = _rigorous(backend, precision, semantics)
    gradients = any(name.startswith("gradients.") for name in names)
    joined, notes = _run_batch(_as_layered(spec), lower, upper, keys, B=B, g_box=g_box, semantics=semantics,
                               method=method, weight_gradients=weight_gradients, chunk=chunk,
                               tighten=_v1_tightening(spec, method, semantics, g_box, gradients, max_parts),
                               progress=progress)
    return _v1_batch(names, joined, B, semantics, method, notes, weight_gradients)


def iter_enclose_many(
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
) -> Iterator[tuple[int, int, BatchEnclosure | LayeredBatchEnclosure]]:
    """`enclose_many` with per-box weight gradients, streamed: yields (start, stop,
    enclosure of boxes start:stop) chunk by chunk, so that no more than one chunk of
    B × out × in weight gradients is ever held. The arguments are `enclose_many`'s
    (`chunk` boxes per chunk, by default about 4·10^6 weight-gradient intervals); each
    chunk equals `enclose_many(..., chunk=chunk)`'s rows start:stop."""
    lower, upper = _box_arrays(boxes, spec.input_dim)
    asked = LAYERED_BATCH_QUANTITIES if quantities is None else quantities
    if isinstance(spec, LayeredSpec):
        names, keys = _layered_request(spec, asked, "per-box", method, max_parts)
        layered = spec
    else:
        names, keys = _v1_request(spec, quantities, "per-box", method, max_parts)
        layered = _as_layered(spec)
    g_box = _grad_output_box(spec, grad_output)
    if backend == "auto":
        backend = (choose_layered_backend(spec, precision, len(lower)) if isinstance(spec, LayeredSpec)
                   else choose_backend(spec, len(lower), precision))
    B = _rigorous(backend, precision, semantics)
    gradients = any(key.startswith("gradients.") for key in keys)
    if isinstance(spec, LayeredSpec):
        tighten = _layered_tightening_of(spec, method, semantics, g_box, gradients, max_parts)
    else:
        tighten = _v1_tightening(spec, method, semantics, g_box, gradients, max_parts)
    step = _batch_step(layered, len(lower), chunk, keys, "per-box")
    for found in _batch_passes(layered, B, lower, upper, g_box, semantics, keys, "per-box", step):
        rows = slice(found.start, found.stop)
        bounds = dict(found.bounds)
        notes = note_texts(found.notes)
        if method != "interval":
            _tighten_rows(bounds, found.overflow, lower[rows], upper[rows], tighten, semantics, "per-box", None)
            if found.overflow.any():
                notes = (*notes, _overflow_note(semantics))
        if isinstance(spec, LayeredSpec):
            yield found.start, found.stop, _layered_batch(spec, asked, names, bounds, B, semantics, method,
                                                          notes, "per-box")
        else:
            yield found.start, found.stop, _v1_batch(names, bounds, B, semantics, method, notes, "per-box")


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
                  semantics: str, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The interval pass's bounds keyed as `LayeredEnclosure.items()` (leading batch axes
    kept): the post-activations within their activation's value range, E >= 0. Only
    `keys` (and what they alias) when given: a batch's bounds are large arrays."""
    latent = f"layers.{spec.encoder[-1].name}.post_activation"
    output = f"layers.{spec.layers[-1].name}.post_activation"
    wanted = None if keys is None else {*keys, *((latent,) if "latent" in keys else ()),
                                        *((output,) if "output" in keys else ())}
    flat: dict[str, np.ndarray] = {}
    for layer, f in zip(spec.layers, fwd.layers):
        if wanted is None or f"layers.{layer.name}.pre_activation" in wanted:
            flat[f"layers.{layer.name}.pre_activation"] = B.bounds(f.pre_activation)
        if wanted is None or f"layers.{layer.name}.post_activation" in wanted:
            post = B.bounds(f.post_activation)
            if layer.activation is not None:
                post = _within(post, *layer.activation.value_range(semantics))
            flat[f"layers.{layer.name}.post_activation"] = post
    if latent in flat:
        flat["latent"] = flat[latent]
    if output in flat:
        flat["output"] = flat[output]
    if wanted is None or "reconstruction_error" in wanted:
        flat["reconstruction_error"] = _within(B.bounds(error), 0.0, np.inf)
    flat.update({f"gradients.{key}": B.bounds(t) for key, t in (grads or {}).items()
                 if wanted is None or f"gradients.{key}" in wanted})
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
    r = residual(B, fwd.output, x)
    error = reconstruction_error(B, fwd.output, x, r)
    g = mse_grad_output(B, fwd.output, x, spec.input_dim, r=r) if g_box is MSE else B.box(g_box)
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
    length B (except batch-wide weight gradients, as `BatchEnclosure`), otherwise as
    `LayeredEnclosure`. Quantities not asked for are None (`layers` as a whole;
    gradients: absent from the dict)."""

    layers: tuple[LayerEnclosure, ...] | None
    latent: np.ndarray | None
    output: np.ndarray | None
    reconstruction_error: np.ndarray | None
    gradients: dict[str, np.ndarray]
    backend: str
    semantics: str
    method: str
    notes: tuple[str, ...] = field(default=())
    weight_gradients: str = "per-box"

    def __len__(self) -> int:
        return _batch_length(a for _, a in _per_box_items(self.items(), self.weight_gradients))

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


def _layered_request(spec: LayeredSpec, quantities: tuple[str, ...], weight_gradients: str, method: str,
                     max_parts: int | None) -> tuple[list[str], list[str]]:
    """Checks `enclose_many`'s arguments for a layered spec: (the gradient names asked
    for, the keys of every quantity asked for)."""
    _check_layered_method(spec, method, max_parts)
    check_weight_gradients(weight_gradients)
    names = gradient_names(spec)
    known = (*LAYERED_BATCH_QUANTITIES, "gradients", *(f"gradients.{n}" for n in names))
    unknown = [q for q in quantities if q not in known]
    if unknown:
        raise UnsupportedError(f"unknown quantity {unknown[0]!r}; valid: {', '.join(LAYERED_BATCH_QUANTITIES)}, "
                               "gradients, gradients.<name>")
    wanted = [f"gradients.{n}" for n in names if "gradients" in quantities or f"gradients.{n}" in quantities]
    wanted = _drop_weights(wanted, quantities, weight_gradients)
    layer_keys = [f"layers.{layer.name}.{part}" for layer in spec.layers for part in ("pre_activation",
                                                                                        "post_activation")]
    keys = [*(layer_keys if "layers" in quantities else []),
            *(q for q in ("latent", "output", "reconstruction_error") if q in quantities), *wanted]
    return [w.removeprefix("gradients.") for w in wanted], keys


def _layered_tightening_of(spec: LayeredSpec, method: str, semantics: str, g_box: Box | str, gradients: bool,
                           max_parts: int | None) -> Callable[[Box], dict[str, np.ndarray]]:
    return lambda box: _layered_tightening(spec, box, method, semantics, g_box, max_parts, gradients=gradients)


def _layered_batch(spec: LayeredSpec, quantities: tuple[str, ...], names: list[str], joined: dict[str, np.ndarray],
                   B: Backend, semantics: str, method: str, notes: tuple[str, ...],
                   weight_gradients: str) -> LayeredBatchEnclosure:
    layers = None
    if "layers" in quantities:
        layers = tuple(LayerEnclosure(layer.name, joined[f"layers.{layer.name}.pre_activation"],
                                      joined[f"layers.{layer.name}.post_activation"]) for layer in spec.layers)
    return LayeredBatchEnclosure(
        layers=layers,
        latent=joined.get("latent"),
        output=joined.get("output"),
        reconstruction_error=joined.get("reconstruction_error"),
        gradients={name: joined[f"gradients.{name}"] for name in names},
        backend=B.name,
        semantics=semantics,
        method=method,
        notes=notes,
        weight_gradients=weight_gradients,
    )


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
    weight_gradients: str,
) -> LayeredBatchEnclosure:
    """`enclose_many` for a layered model (see there)."""
    lower, upper = _box_arrays(boxes, spec.input_dim)
    names, keys = _layered_request(spec, quantities, weight_gradients, method, max_parts)
    g_box = _grad_output_box(spec, grad_output)
    if backend == "auto":
        backend = choose_layered_backend(spec, precision, len(lower))
    B = _rigorous(backend, precision, semantics)
    tighten = _layered_tightening_of(spec, method, semantics, g_box, bool(names), max_parts)
    joined, notes = _run_batch(spec, lower, upper, keys, B=B, g_box=g_box, semantics=semantics, method=method,
                               weight_gradients=weight_gradients, chunk=chunk, tighten=tighten, progress=progress)
    return _layered_batch(spec, quantities, names, joined, B, semantics, method, notes, weight_gradients)
