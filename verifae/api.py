"""The public entry points: `enclose` a box, `evaluate` a point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends import get_backend
from .backends.base import Backend
from .box import Box
from .errors import BoxError, UnsupportedError
from .methods import METHODS, MSE, Quantities
from .model import GRADIENT_NAMES, AutoencoderSpec, parameters
from .numbers import FORMATS
from .rounding import FloatSemantics

__all__ = ["Enclosure", "Evaluation", "enclose", "evaluate", "SEMANTICS"]

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


def _run(spec: AutoencoderSpec, backend: Backend, method: str, x: Any, grad_output: Any) -> Quantities:
    if method not in METHODS:
        valid = ", ".join(METHODS)
        raise UnsupportedError(f"unknown method {method!r}; valid methods are: {valid}")
    p = parameters(backend, spec)
    return METHODS[method](backend, p, x, grad_output)


def _hidden_range(activation: str, semantics: str) -> tuple[float, float]:
    """The set every value of act lies in: relu >= 0 exactly (max(z, 0) is exact in
    floats too); sigmoid in [0, 1] and tanh in [-1, 1] for real numbers (a library
    within K ulps is not promised to respect them, so not for float semantics)."""
    if activation == "relu":
        return 0.0, np.inf
    if semantics == "real" and activation == "sigmoid":
        return 0.0, 1.0
    if semantics == "real" and activation == "tanh":
        return -1.0, 1.0
    return -np.inf, np.inf


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


def _grad_output_box(spec: AutoencoderSpec, grad_output: Any) -> Box | str:
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


def enclose(
    spec: AutoencoderSpec,
    box: Box,
    *,
    grad_output: Box | str = MSE,
    backend: str | Backend = "arb",
    precision: int | None = None,
    semantics: str = "real",
    method: str = "interval",
) -> Enclosure:
    """Enclose every quantity of `spec` for x in `box` (and g in `grad_output`).

    `grad_output` is "mse" (g = (2/d)(x_hat − x) at the same x) or a `Box` of
    incoming gradients. `backend` is a rigorous backend ("arb", "mpmath", "exact").
    `semantics` is "real" (exact real arithmetic on the exact parameters) or
    "float64" / "float32": every result of an IEEE-754 run of the spec in that
    format (see `verifae.rounding`). Where a float run may overflow, the affected
    intervals are (-inf, inf) and `notes` says why.
    """
    if not isinstance(box, Box):
        raise BoxError(f"box must be a Box, got {type(box).__name__}")
    if box.dim != spec.input_dim:
        raise BoxError(f"the box has {box.dim} entries but the model's input_dim is {spec.input_dim}")
    if semantics not in SEMANTICS:
        raise UnsupportedError(f"unknown semantics {semantics!r}; valid: {', '.join(SEMANTICS)}")
    g_box = _grad_output_box(spec, grad_output)
    B = get_backend(backend, precision)
    if not B.rigorous:
        raise UnsupportedError(
            f"backend {B.name!r} computes points, not enclosures; use evaluate(), "
            "or one of the rigorous backends 'arb', 'mpmath', 'exact'"
        )
    if semantics != "real":
        B = FloatSemantics(B, FORMATS[semantics])
    x = B.interval(box.lower, box.upper)
    g = MSE if g_box is MSE else B.interval(g_box.lower, g_box.upper)
    q = _run(spec, B, method, x, g)
    return Enclosure(
        pre_activation=B.bounds(q.forward.pre_activation),
        hidden=_within(B.bounds(q.forward.hidden), *_hidden_range(spec.activation, semantics)),
        output=B.bounds(q.forward.output),
        reconstruction_error=_within(B.bounds(q.reconstruction_error), 0.0, np.inf),
        gradients={name: B.bounds(t) for name, t in zip(GRADIENT_NAMES, q.gradients)},
        backend=B.name,
        precision=B.precision,
        semantics=semantics,
        method=method,
        notes=tuple(dict.fromkeys(getattr(B, "reasons", ()))),
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
        g_point = _grad_output_box(spec, grad_output if isinstance(grad_output, Box) else Box.point(grad_output))
        if not g_point.is_point:
            raise BoxError("evaluate() takes a point grad_output, not a box")
        g = B.interval(g_point.lower, g_point.upper)
    q = _run(spec, B, "interval", B.interval(point.lower, point.upper), g)
    return Evaluation(
        pre_activation=B.values(q.forward.pre_activation),
        hidden=B.values(q.forward.hidden),
        output=B.values(q.forward.output),
        reconstruction_error=B.values(q.reconstruction_error)[()],
        gradients={name: B.values(t) for name, t in zip(GRADIENT_NAMES, q.gradients)},
        backend=B.name,
    )
