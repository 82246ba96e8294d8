"""The Float-run check: do real float32 and float64 runs land inside their enclosures?

`check` samples points of the box (every corner when d <= 10, the centre, points
on faces, random points, and points reached by a few steps of sign-gradient ascent
toward each output's extremes and the error's maximum), runs the spec at each
point in float64 and float32 in several ways (numpy's batched matmul, explicit
left-to-right loops, and PyTorch's layers with autograd, batched, when torch is
installed) and checks each result against the enclosure of its semantics, every
run's every value (weight gradients through their factors, `OuterRuns`). It also
checks a high-precision reference (exact rationals when no activation needs exp,
Arb at 256 bits otherwise) against the real enclosure. Any point outside is a bug.

A v1 spec (`AutoencoderSpec`) and a layered one (`LayeredSpec`) take one path. The
runs are written once, over layers (`LayeredParameters`): a v1 spec's layers are
those of `LayeredSpec.from_v1`, an encoder layer with the activation and a decoder
layer without one, which run the very operations of `verifae.model` in the same
order. Each quantity of an enclosure is compared with the run's quantity of the same
value (`_Model.names`: a v1 enclosure's "hidden" is the encoder's post-activation, its
"gradients.W_enc" the encoder's weight gradient, and so on).
"""

from __future__ import annotations

import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from . import torch_runs
from .activations import get_activation
from .api import Enclosure, LayeredEnclosure, enclose, enclose_layered
from .backends import get_backend
from .backends.base import Backend
from .box import Box
from .errors import BoxError, SpecError
from .layered import (
    LayeredForward,
    LayeredParameters,
    LayeredSpec,
    LayerForward,
    LayerParameters,
    layered_backward,
    layered_forward,
    layered_parameters,
    mse_grad_output,
    reconstruction_error,
)
from .methods import MSE
from .model import GRADIENT_NAMES, AutoencoderSpec, Parameters, parameters
from .numbers import FORMATS, FloatFormat, float_or_inf, nearest_float, round_down, round_up

__all__ = ["check", "CheckResult", "FormatCheck", "ReferenceCheck", "Offender"]

#: the float formats checked, in order
CHECKED_FORMATS: tuple[str, ...] = ("float64", "float32")
#: explicit Python loops cost about this many scalar operations per point; they run
#: on as many points as keep them within this budget (at least one point)
LOOP_BUDGET = 400_000
#: the high-precision reference runs on as many points as keep h·d·points within this
REFERENCE_BUDGET = 20_000
#: and on at most this many points (each is a 256-bit Arb evaluation)
REFERENCE_POINTS = 200
REFERENCE_BITS = 256
#: PyTorch runs in a second process when runs·work reaches this (below it, the
#: process costs more than it saves; `_Model.work`: (h+1)·d for a v1 spec)
TORCH_WORKER_WORK = 10_000_000
#: quantities whose observed range over the runs is recorded (for plots and reports);
#: "hidden" is a v1 enclosure's, "latent" a layered one's
OBSERVED: tuple[str, ...] = ("output", "hidden", "latent", "reconstruction_error")
ERROR_SAMPLES = 2000

Spec = AutoencoderSpec | LayeredSpec
AnyEnclosure = Enclosure | LayeredEnclosure
#: the layer names `LayeredSpec.from_v1` gives a v1 spec's encoder and decoder
V1_LAYERS: tuple[str, str] = ("encoder.0", "decoder.0")


@dataclass
class Offender:
    """One value of one run outside its enclosure."""

    format: str
    implementation: str
    point: list[float]
    quantity: str
    index: tuple[int, ...]
    value: float
    lower: float
    upper: float


@dataclass
class FormatCheck:
    """Float runs of one format against that format's enclosure."""

    runs: int = 0
    outside: int = 0
    offenders: list[Offender] = field(default_factory=list)
    implementations: dict[str, int] = field(default_factory=dict)  # name -> runs
    #: smallest distance, in ulps of the format, from a run's value to an endpoint
    closest_ulps: float = math.inf
    closest_quantity: str = ""
    #: per quantity in OBSERVED, the elementwise (min, max) over every run (NaN ignored)
    observed: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: reconstruction errors of the numpy runs (at most ERROR_SAMPLES), for histograms
    error_samples: list[float] = field(default_factory=list)

    def merge(self, other: FormatCheck, keep: int) -> None:
        """Add another check of the same format (other runs, other implementations)."""
        self.runs += other.runs
        self.outside += other.outside
        self.offenders.extend(other.offenders[: max(0, keep - len(self.offenders))])
        for name, n in other.implementations.items():
            self.implementations[name] = self.implementations.get(name, 0) + n
        if other.closest_ulps < self.closest_ulps:
            self.closest_ulps, self.closest_quantity = other.closest_ulps, other.closest_quantity
        for name, (low, high) in other.observed.items():
            self._observe(name, low, high)
        self.error_samples.extend(other.error_samples[: ERROR_SAMPLES - len(self.error_samples)])

    def _observe(self, name: str, low: np.ndarray, high: np.ndarray) -> None:
        if name in self.observed:
            old_low, old_high = self.observed[name]
            low, high = np.fmin(old_low, low), np.fmax(old_high, high)
        self.observed[name] = (low, high)


@dataclass
class ReferenceCheck:
    """The high-precision reference against the real enclosure."""

    points: int = 0
    outside: int = 0
    inconclusive: int = 0
    offenders: list[Offender] = field(default_factory=list)
    kind: str = ""


@dataclass
class CheckResult:
    points: int
    formats: dict[str, FormatCheck]
    reference: ReferenceCheck | None

    @property
    def ok(self) -> bool:
        fmt_ok = all(f.outside == 0 for f in self.formats.values())
        return fmt_ok and (self.reference is None or self.reference.outside == 0)


# ---------------------------------------------------------------- the model


def _gradient_keys(layer_names: tuple[str, ...]) -> tuple[str, ...]:
    """A layered run's gradient quantities: "gradients.<name>.weight", "….bias", "gradients.input"."""
    return (*(f"gradients.{n}.{part}" for n in layer_names for part in ("weight", "bias")), "gradients.input")


def _v1_layers(p: Parameters) -> LayeredParameters:
    """A v1 spec's tensors as the layers of `LayeredSpec.from_v1` (converted once, by
    `parameters`, and cached on the v1 spec, not converted again per layer)."""
    encoder = LayerParameters(V1_LAYERS[0], p.W_enc, p.b_enc, get_activation(p.activation))
    decoder = LayerParameters(V1_LAYERS[1], p.W_dec, p.b_dec, None)
    return LayeredParameters((encoder, decoder), 1, p.input_dim)


class _Model(ABC):
    """What the check needs of a spec, v1 or layered.

    `names` maps each quantity of the spec's enclosures to the quantity of a layered run
    with the same value (absent: the same name); `work` is the unit of the budgets above,
    about half the parameters a run multiplies ((h+1)·d for a v1 spec, as the budgets
    were set for); `transcendental` says whether an activation needs exp (then the
    reference is Arb, else exact rationals).
    """

    names: dict[str, str]
    work: int
    transcendental: bool
    #: the class of the spec's enclosures
    enclosure_type: type

    @abstractmethod
    def parameters(self, format_name: str) -> LayeredParameters:
        """The parameters rounded to nearest in the format, as layers."""

    @abstractmethod
    def enclose(self, box: Box, **options: Any) -> AnyEnclosure:
        """The spec's enclosure over `box` (options as for `enclose`)."""


class _V1Model(_Model):
    enclosure_type = Enclosure

    def __init__(self, spec: AutoencoderSpec) -> None:
        self.spec = spec
        run_keys = _gradient_keys(V1_LAYERS)
        self.names = {
            "pre_activation": f"layers.{V1_LAYERS[0]}.pre_activation",
            "hidden": f"layers.{V1_LAYERS[0]}.post_activation",
            # GRADIENT_NAMES is the backward tuple's order, which from_v1 keeps
            **{f"gradients.{n}": key for n, key in zip(GRADIENT_NAMES, run_keys)},
        }
        self.work = (spec.hidden_dim + 1) * spec.input_dim
        self.transcendental = get_activation(spec.activation).transcendental

    def parameters(self, format_name: str) -> LayeredParameters:
        return _v1_layers(parameters(get_backend(format_name), self.spec))

    def enclose(self, box: Box, **options: Any) -> AnyEnclosure:
        return enclose(self.spec, box, **options)


class _LayeredModel(_Model):
    enclosure_type = LayeredEnclosure

    def __init__(self, spec: LayeredSpec) -> None:
        self.spec = spec
        self.names = {}
        self.work = max(1, (spec.n_weights + 1) // 2)
        self.transcendental = any(layer.activation is not None and layer.activation.transcendental
                                  for layer in spec.layers)

    def parameters(self, format_name: str) -> LayeredParameters:
        return layered_parameters(get_backend(format_name), self.spec)

    def enclose(self, box: Box, **options: Any) -> AnyEnclosure:
        return enclose_layered(self.spec, box, **options)


def _model(spec: Spec) -> _Model:
    if isinstance(spec, LayeredSpec):
        return _LayeredModel(spec)
    if isinstance(spec, AutoencoderSpec):
        return _V1Model(spec)
    raise SpecError(f"spec must be an AutoencoderSpec or a LayeredSpec, got {type(spec).__name__}")


def _as_layers(spec: Spec, p: Parameters | LayeredParameters | None) -> LayeredParameters:
    """Float64 layers of the spec: `p` as layers, or converted when None."""
    if p is None:
        return _model(spec).parameters("float64")
    return _v1_layers(p) if isinstance(p, Parameters) else p


# ---------------------------------------------------------------- sampling


def _float_box(box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float64 bounds inside the box, and a mask of coordinates that hold no float64."""
    lo = np.array([round_up(q) for q in box.lower])
    hi = np.array([round_down(q) for q in box.upper])
    fixed = lo > hi  # a degenerate coordinate at a value that is not a double
    return lo, hi, fixed


def _input_gradient(B: Backend, p: LayeredParameters, derivatives: list[Any], g: Any) -> Any:
    """dX for incoming gradient g, given act'(z) of every layer (None: no activation):
    `layered_backward` without the weight gradients, which the ascent does not need."""
    gy = g
    for layer, dact in reversed(list(zip(p.layers, derivatives))):
        gy = B.rmatvec(layer.weight, gy if dact is None else B.mul(gy, dact))
    return gy


def _ascent_points(spec: Spec, p64: Parameters | LayeredParameters | None, lo, hi, count: int, rng) -> np.ndarray:
    """Projected sign-gradient ascent in float64 toward output extremes and the error maximum.

    `p64` are the spec's float64 parameters (v1 `Parameters` or layers), converted if None."""
    d = spec.input_dim
    if count <= 0 or np.all(lo == hi):
        return np.empty((0, d))
    B = get_backend("float64")
    p = _as_layers(spec, p64)
    targets = [(i, s) for i in range(d) for s in (1.0, -1.0)]
    if len(targets) > count - 1:
        keep = rng.choice(len(targets), size=max(count - 1, 0), replace=False)
        targets = [targets[k] for k in keep]
    index = np.array([t[0] for t in targets], dtype=int)
    sign = np.array([t[1] for t in targets])
    unit = np.zeros((len(targets), d))  # the gradient of output `index` is dX for g = e_index
    unit[np.arange(len(targets)), index] = 1.0
    X = np.tile((lo + hi) / 2, (len(targets) + 1, 1))  # last row: the error's maximum
    step = (hi - lo) / 2
    with np.errstate(all="ignore"):
        for _ in range(6):
            fwd = layered_forward(B, p, X)
            dact = [None if layer.activation is None else B.activation_derivative(layer.activation, f.pre_activation)
                    for layer, f in zip(p.layers, fwd.layers)]
            grads = np.empty_like(X)
            if len(targets):
                grads[:-1] = sign[:, None] * _input_gradient(B, p, [a if a is None else a[:-1] for a in dact], unit)
            # dE/dx through the network, minus E's direct term (2/d)(x_hat − x)
            r = (2.0 / d) * (fwd.output[-1] - X[-1])
            grads[-1] = _input_gradient(B, p, [a if a is None else a[-1] for a in dact], r) - r
            X = np.clip(X + step * np.sign(np.nan_to_num(grads)), lo, hi)
            step = step / 2
    return X


def sample_points(
    spec: Spec, box: Box, count: int, seed: int = 0, p64: Parameters | LayeredParameters | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """About `count` float64 points of the box, and the mask of non-double coordinates.

    `p64` are the spec's float64 parameters, v1 `Parameters` or layers (for the gradient
    ascent); computed if None.
    """
    rng = np.random.default_rng(seed)
    p64 = _as_layers(spec, p64)
    lo, hi, fixed = _float_box(box)
    lo = np.where(fixed, [float_or_inf(q) for q in box.lower], lo)
    hi = np.where(fixed, lo, hi)
    d = box.dim
    parts = [((lo + hi) / 2)[None, :]]
    free = np.flatnonzero(lo < hi)
    if d <= 10 and len(free):
        corners = np.array(list(np.ndindex(*(2,) * len(free))), dtype=bool)[: max(count // 2, 1)]
        pts = np.tile(lo, (len(corners), 1))
        pts[:, free] = np.where(corners, hi[free], lo[free])
        parts.append(pts)
    used = sum(len(p) for p in parts)
    parts.append(_ascent_points(spec, p64, lo, hi, min(count // 4, max(count - used, 0)), rng))
    used = sum(len(p) for p in parts)
    faces = min(count // 8, max(count - used, 0))
    if faces and len(free):
        pts = rng.uniform(lo, hi, (faces, d))
        axis = rng.choice(free, faces)
        pts[np.arange(faces), axis] = np.where(rng.random(faces) < 0.5, lo[axis], hi[axis])
        parts.append(pts)
    used = sum(len(p) for p in parts)
    parts.append(rng.uniform(lo, hi, (max(count - used, 0), d)))
    points = np.clip(np.concatenate(parts)[:count], lo, hi)
    return points, fixed


def _inputs(points: np.ndarray, fixed: np.ndarray, exact: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """The points rounded to `fmt`; non-double coordinates rounded once from their exact value."""
    with np.errstate(over="ignore"):
        X = points.astype(fmt.dtype)
    for j in np.flatnonzero(fixed):
        try:
            X[:, j] = nearest_float(exact[j], fmt)
        except OverflowError:
            X[:, j] = math.inf if exact[j] > 0 else -math.inf
    return X


# ---------------------------------------------------------------- float runs


@dataclass(frozen=True)
class OuterRuns:
    """The weight gradients of a chunk of runs, fl(dz_b ⊗ a_b) for each run b, held as
    their factors: dz (runs × out) and a (runs × in), in the format.

    Each entry of a run's weight gradient is one product of two floats rounded once (so
    `numpy`'s `outer`, a loop, and PyTorch's Linear backward for one point, Gᵀ·A with
    an inner dimension of 1, give the same float), so `values` gives the very runs.
    Keeping the factors lets `_Comparison` check every run's entries without forming
    the runs × out × in products (see `_Comparison._add_outer`).
    """

    dz: np.ndarray
    a: np.ndarray

    def __len__(self) -> int:
        return len(self.dz)

    def values(self) -> np.ndarray:
        """Every run's weight gradient, runs × out × in."""
        with np.errstate(all="ignore"):
            return self.dz[:, :, None] * self.a[:, None, :]


Chunk = dict[str, "np.ndarray | OuterRuns"]  # quantity -> values stacked along a leading run axis
#: per-run values (weight gradients aside, which come as `OuterRuns`) in one chunk: its
#: arrays stay in cache between the runs and their comparison
CHUNK_VALUES = 500_000


def _chunk_size(p: LayeredParameters) -> int:
    """Runs per chunk of the numpy and PyTorch runs: CHUNK_VALUES values of every layer's
    pre- and post-activation, bias gradient and input gradient, and the output, per chunk."""
    per_run = sum(3 * layer.weight.shape[0] + layer.weight.shape[1] for layer in p.layers) + 2 * p.input_dim
    return max(1, CHUNK_VALUES // per_run)


def _run_quantities(p: LayeredParameters, fwd: Any, error: Any, grads: Mapping[str, Any]) -> dict[str, Any]:
    """A layered run's quantities by name, as `LayeredEnclosure.items` names them."""
    found: dict[str, Any] = {}
    for f in fwd.layers:
        found[f"layers.{f.name}.pre_activation"] = f.pre_activation
        found[f"layers.{f.name}.post_activation"] = f.post_activation
    found["latent"] = fwd.latent
    found["output"] = fwd.output
    found["reconstruction_error"] = error
    found.update({f"gradients.{key}": t for key, t in grads.items()})
    return found


def _numpy_runs(p: LayeredParameters, X: np.ndarray, G: np.ndarray | None, chunk: int) -> Iterator[Chunk]:
    """The model code on numpy arrays, batched: BLAS matrix products in the format. The
    weight gradients come as their factors (`OuterRuns`: `layered_backward`'s
    `backend.outer(dz, a)` is the same product per entry)."""
    B = get_backend(p.layers[0].weight.dtype.name)
    with np.errstate(all="ignore"):
        for start in range(0, len(X), chunk):
            x = X[start : start + chunk]
            fwd = layered_forward(B, p, x)
            error = reconstruction_error(B, fwd.output, x)
            g = mse_grad_output(B, fwd.output, x, p.input_dim) if G is None else G[start : start + len(x)]
            grads = layered_backward(B, p, x, fwd, g, weights=False)
            inputs = [x, *(f.post_activation for f in fwd.layers[:-1])]
            outer = {f"{layer.name}.weight": OuterRuns(grads[f"{layer.name}.bias"], a_in)
                     for layer, a_in in zip(p.layers, inputs)}
            yield _run_quantities(p, fwd, error, {**grads, **outer})


def _stack(runs: list[dict[str, np.ndarray]]) -> Chunk:
    return {name: np.stack([r[name] for r in runs]) for name in runs[0]}


def _loop_run(p: LayeredParameters, x, g, dtype) -> dict[str, np.ndarray]:
    """The spec with explicit left-to-right loops on numpy scalars of `dtype` (act and
    act' as the registry entry computes them, here one scalar at a time), E as a sum
    then a division and g as 2·r/d."""
    zero = dtype(0)

    def dot(row, vec, start):
        s = start
        for a, b in zip(row, vec):
            s = s + a * b
        return s

    found, inputs, a = [], [], x
    for layer in p.layers:
        W, b, act = layer.weight, layer.bias, layer.activation
        inputs.append(a)
        z = np.array([dot(W[j], a, zero) + b[j] for j in range(W.shape[0])], dtype=dtype)
        a = z if act is None else np.array([act.point(v, dtype) for v in z], dtype=dtype)
        found.append(LayerForward(layer.name, z, a))
    x_hat = a
    d = len(x)
    r = np.array([x_hat[i] - x[i] for i in range(d)], dtype=dtype)
    total = zero
    for v in r:
        total = total + v * v
    error = total / dtype(d)
    if g is None:
        # written 2·(x_hat − x)/d, as user code does (the numpy runs take fl(2/d)·r):
        # 2·r can overflow where (2/d)·r does not
        g = np.array([dtype(2) * v / dtype(d) for v in r], dtype=dtype)
    grads: dict[str, np.ndarray] = {}
    gy = g
    for layer, f, a_in in reversed(list(zip(p.layers, found, inputs))):
        W, act = layer.weight, layer.activation
        out_dim, in_dim = W.shape
        if act is None:
            dz = np.asarray(gy, dtype=dtype)
        else:  # act' at z, never at act(z)
            dz = np.array([gy[j] * act.point_derivative(f.pre_activation[j], dtype) for j in range(out_dim)],
                          dtype=dtype)
        grads[f"{layer.name}.weight"] = np.array([[dz[j] * a_in[i] for i in range(in_dim)] for j in range(out_dim)],
                                                 dtype=dtype).reshape(out_dim, in_dim)
        grads[f"{layer.name}.bias"] = dz
        gy = np.array([dot(W[:, i], dz, zero) for i in range(in_dim)], dtype=dtype)
    grads["input"] = gy
    fwd = LayeredForward(tuple(found), found[p.n_encoder - 1].post_activation, x_hat)
    return _run_quantities(p, fwd, np.asarray(error, dtype=dtype), grads)


def _loop_runs(p: LayeredParameters, X: np.ndarray, G: np.ndarray | None, count: int) -> Iterator[Chunk]:
    dtype = p.layers[0].weight.dtype.type
    with np.errstate(all="ignore"):
        runs = [_loop_run(p, X[k], None if G is None else G[k], dtype) for k in range(min(count, len(X)))]
    if runs:
        yield _stack(runs)


# ---------------------------------------------------------------- comparison


class _Comparison:
    """The runs of one implementation in one format against that format's enclosure.

    Every run of an entry lies in [lo, hi] exactly when the entry's smallest and
    largest run do, so each chunk is reduced to its elementwise min and max (one
    pass each) and single runs are looked at only when that test fails. The running
    min and max also give the observed ranges and the closest approach of a run to
    an endpoint, once, at the end. Weight gradients come as their factors
    (`OuterRuns`) and are tested through the factors' ranges (`_add_outer`), with the
    same verdict per run.
    """

    def __init__(self, enclosure: AnyEnclosure, names: Mapping[str, str], fmt: FloatFormat, implementation: str,
                 points: np.ndarray, keep: int, result: FormatCheck) -> None:
        self.fmt, self.implementation, self.points, self.keep, self.result = fmt, implementation, points, keep, result
        self.names = names  # enclosure quantity -> the run's quantity of that value (absent: the same)
        self.bounds = {}
        for name, b in enclosure.items():
            lo, hi = b[..., 0], b[..., 1]
            if fmt.dtype == np.float32:
                # For a float32 v, lo <= v <=> ceil32(lo) <= v (and likewise for hi):
                # compare in float32, without widening every run to float64.
                self.bounds[name] = (lo, hi, *_outward_float32(lo, hi))
            else:
                self.bounds[name] = (lo, hi, lo, hi)
        self.low: dict[str, np.ndarray] = {}  # running elementwise min and max, NaN ignored
        self.high: dict[str, np.ndarray] = {}
        self.inside = {name: True for name in self.bounds}  # entries whose every run so far is inside
        # of quantities that came as OuterRuns: running bounds on the min and max of the runs
        # (self.low/high then hold only the chunks compared value by value), and the factors
        self.hull_low: dict[str, np.ndarray] = {}
        self.hull_high: dict[str, np.ndarray] = {}
        self.factors: dict[str, list[OuterRuns]] = {}
        self.runs = 0

    def add(self, chunk: Chunk) -> None:
        """Check a chunk of runs, stacked along a leading axis."""
        n = 0
        for name, bounds in self.bounds.items():
            found = chunk[self.names.get(name, name)]
            if isinstance(found, OuterRuns):
                n = len(found)
                self._add_outer(name, found, bounds)
                continue
            raw = np.asarray(found)
            n = raw.shape[0]
            self._add_values(name, raw, bounds)
            if name == "reconstruction_error" and self.implementation == "numpy":
                # one sample per point (numpy runs them all), for histograms
                samples = self.result.error_samples
                samples.extend(raw[: ERROR_SAMPLES - len(samples)].astype(np.float64).tolist())
        self.runs += n

    def _add_values(self, name: str, raw: np.ndarray, bounds: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Check runs given value by value; returns their elementwise min and max, NaN ignored."""
        lo, hi, lo_f, hi_f = bounds
        # min and max propagate NaN, and NaN compares false: a NaN run fails this test
        vmin, vmax = raw.min(axis=0), raw.max(axis=0)
        entry_inside = (vmin >= lo_f) & (vmax <= hi_f)
        self.inside[name] = self.inside[name] & entry_inside
        if not entry_inside.all():
            self._offenders(name, raw, lo, hi, lo_f, hi_f)
        if np.isnan(vmin).any() or np.isnan(vmax).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
                vmin, vmax = np.nanmin(raw, axis=0), np.nanmax(raw, axis=0)
        if name in self.low:
            vmin, vmax = np.fmin(self.low[name], vmin), np.fmax(self.high[name], vmax)
        self.low[name], self.high[name] = vmin, vmax
        return vmin, vmax

    def _add_outer(self, name: str, runs: OuterRuns, bounds: tuple[np.ndarray, ...]) -> None:
        """Check every run's fl(dz_b ⊗ a_b) against [lo, hi] through the ranges of the factors.

        With dz_bi in [dlo_i, dhi_i] and a_bj in [alo_j, ahi_j] over the chunk's runs, the
        exact product dz_bi·a_bj lies between the least and the greatest of the four
        corner products (a bilinear function takes its extremes over a rectangle at the
        corners), and rounding to nearest is monotone, so fl(dz_bi·a_bj) lies between
        the least and the greatest of the four rounded corners P_lo ≤ P_hi, which are
        floats the runs could produce. Where lo ≤ P_lo and P_hi ≤ hi, every run of the
        entry is inside; elsewhere (rare: an enclosure about as tight as the runs' own
        ranges) the entry's runs are compared one by one. Factors with an inf or NaN
        (where inf·0 = NaN breaks the corner argument) are compared value by value.
        """
        lo, hi, lo_f, hi_f = bounds
        dz, a = runs.dz, runs.a
        if not (np.isfinite(dz).all() and np.isfinite(a).all()):
            vmin, vmax = self._add_values(name, runs.values(), bounds)
            p_lo, p_hi = vmin, vmax
        else:
            dlo, dhi, alo, ahi = dz.min(axis=0), dz.max(axis=0), a.min(axis=0), a.max(axis=0)
            corners = [np.multiply.outer(u, v) for u in (dlo, dhi) for v in (alo, ahi)]
            p_lo = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
            p_hi = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
            entry_inside = (p_lo >= lo_f) & (p_hi <= hi_f)
            unsure = np.nonzero(~entry_inside)
            if len(unsure[0]):
                rows, cols = unsure
                values = dz[:, rows] * a[:, cols]  # these entries' runs, exactly as the runs form them
                exact = (values.min(axis=0) >= lo_f[unsure]) & (values.max(axis=0) <= hi_f[unsure])
                entry_inside[unsure] = exact
                if not exact.all():
                    self._offenders(name, runs.values(), lo, hi, lo_f, hi_f)
            self.inside[name] = self.inside[name] & entry_inside
            self.factors.setdefault(name, []).append(runs)
        if name in self.hull_low:
            p_lo, p_hi = np.fmin(self.hull_low[name], p_lo), np.fmax(self.hull_high[name], p_hi)
        self.hull_low[name], self.hull_high[name] = p_lo, p_hi

    def _offenders(self, name, raw, lo, hi, lo_f, hi_f) -> None:
        result = self.result
        # NaN is outside unless the interval is unbounded
        bad = ~(((raw >= lo_f) & (raw <= hi_f)) | (np.isinf(lo) & np.isinf(hi)))
        result.outside += int(bad.sum())
        for index in zip(*np.nonzero(bad)):
            if len(result.offenders) >= self.keep:
                break
            k, where = int(index[0]), tuple(int(i) for i in index[1:])
            result.offenders.append(
                Offender(self.fmt.name, self.implementation, self.points[self.runs + k].tolist(), name, where,
                         float(raw[index]), float(lo[where]), float(hi[where]))
            )

    def _gaps(self, lo: np.ndarray, hi: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Per entry, the distance in ulps of the format from [low, high] to the nearer endpoint
        (at the endpoint approached; spacings are powers of two, so the products are exact)."""
        with np.errstate(all="ignore"):
            per_ulp_lo = 1 / np.spacing(np.abs(lo).astype(self.fmt.dtype)).astype(np.float64)
            per_ulp_hi = 1 / np.spacing(np.abs(hi).astype(self.fmt.dtype)).astype(np.float64)
            return np.minimum((low.astype(np.float64) - lo) * per_ulp_lo, (hi - high.astype(np.float64)) * per_ulp_hi)

    def _outer_smallest(self, name: str, threshold: float) -> float:
        """The closest approach of the runs of a quantity that came as `OuterRuns`, exact
        where it is at most `threshold` (else some value above it).

        The running bounds P_lo ≤ min and P_hi ≥ max give a gap at most the runs' gap,
        so only entries whose bound gap is at most the threshold can matter; their min
        and max over every run are formed from the factors."""
        lo, hi, _, _ = self.bounds[name]
        bound_gap = self._gaps(lo, hi, self.hull_low[name], self.hull_high[name])
        candidates = np.nonzero(self.inside[name] & ~(bound_gap > threshold))
        if not len(candidates[0]):
            return math.inf
        low = np.full(len(candidates[0]), np.inf, dtype=self.fmt.dtype)
        high = np.full(len(candidates[0]), -np.inf, dtype=self.fmt.dtype)
        if name in self.low:  # chunks that were compared value by value
            low, high = self.low[name][candidates], self.high[name][candidates]
        rows, cols = candidates
        step = max(1, 2**22 // max(1, sum(len(r) for r in self.factors.get(name, []))))
        for runs in self.factors.get(name, []):
            for s in range(0, len(rows), step):
                part = slice(s, s + step)
                values = runs.dz[:, rows[part]] * runs.a[:, cols[part]]
                low[part] = np.fmin(low[part], values.min(axis=0))
                high[part] = np.fmax(high[part], values.max(axis=0))
        gap = self._gaps(lo[candidates], hi[candidates], low, high)
        return float(np.min(gap, initial=np.inf, where=~np.isnan(gap)))

    def finish(self) -> None:
        """Record the runs, the observed ranges and the closest approach in the result."""
        result = self.result
        smallest: dict[str, float] = {}
        for name, (lo, hi, _, _) in self.bounds.items():
            if name not in self.low or name in self.hull_low:
                continue
            low, high = self.low[name].astype(np.float64), self.high[name].astype(np.float64)
            if name in OBSERVED:
                result._observe(name, low, high)
            gap = self._gaps(lo, hi, low, high)
            smallest[name] = float(np.min(gap, initial=np.inf, where=self.inside[name] & ~np.isnan(gap)))
        # The quantities given as factors matter only where they come at least as close as
        # the others (ties: the first in the enclosure's order, as below).
        threshold = min([result.closest_ulps, *smallest.values()])
        for name in self.hull_low:
            smallest[name] = self._outer_smallest(name, threshold)
        for name in self.bounds:
            if name in smallest and smallest[name] < result.closest_ulps:
                result.closest_ulps, result.closest_quantity = smallest[name], name
        result.runs += self.runs
        if self.runs:
            result.implementations[self.implementation] = self.runs


def _outward_float32(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest float32 >= lo and the largest float32 <= hi (float32's ±inf beyond)."""
    with np.errstate(over="ignore"):
        lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)  # round to nearest
    lo32 = np.where(lo32.astype(np.float64) < lo, np.nextafter(lo32, np.float32(np.inf)), lo32)
    hi32 = np.where(hi32.astype(np.float64) > hi, np.nextafter(hi32, np.float32(-np.inf)), hi32)
    return lo32, hi32


IMPLEMENTATIONS = ("numpy", "loops", "torch")


def _implementation_check(
    implementation: str,
    p: LayeredParameters,
    names: Mapping[str, str],
    X: np.ndarray,
    G: np.ndarray | None,
    enclosure: AnyEnclosure,
    points: np.ndarray,
    keep: int,
    loop_points: int,
    chunk: int,
) -> FormatCheck:
    """Run one implementation in the format of `p` and check its runs against `enclosure`
    (`names` as `_Model.names`).

    Every implementation runs at every point but the loops, which run at the first
    `loop_points`; numpy and PyTorch `chunk` runs at a time. Module-level, so that it
    can run in the PyTorch process.
    """
    fmt = FORMATS[p.layers[0].weight.dtype.name]
    if implementation == "numpy":
        chunks = _numpy_runs(p, X, G, chunk)
    elif implementation == "loops":
        chunks = _loop_runs(p, X, G, loop_points)
    else:
        chunks = torch_runs.torch_runs(p, X, G, chunk)
    result = FormatCheck()
    comparison = _Comparison(enclosure, names, fmt, implementation, points, keep, result)
    with np.errstate(all="ignore"):
        for found in chunks:
            comparison.add(found)
        comparison.finish()
    return result


def _torch_elsewhere(spec: Spec, points: int) -> bool:
    """Whether PyTorch's runs are worth a second process (see verifae.torch_runs)."""
    return points * _model(spec).work >= TORCH_WORKER_WORK and torch_runs.available()


def prepare_check(spec: Spec, runs: int) -> bool:
    """Start what a later `check` of `runs` points will need (PyTorch's process), ahead of
    it; True when that check will run PyTorch in the second process."""
    return bool(runs) and _torch_elsewhere(spec, runs) and torch_runs.start()


def _reference(model: _Model, points, fixed, exact, G, enclosure: AnyEnclosure, keep: int,
               grad_output) -> ReferenceCheck:
    exact_kind = not model.transcendental
    result = ReferenceCheck(kind="exact rationals" if exact_kind else f"arb at {REFERENCE_BITS} bits")
    count = max(1, min(len(points), REFERENCE_POINTS, REFERENCE_BUDGET // max(1, model.work)))
    for k in range(count):
        x = [exact[j] if fixed[j] else Fraction(float(points[k, j])) for j in range(points.shape[1])]
        g = grad_output if G is None else Box.point([Fraction(float(v)) for v in G[k]])
        ref = model.enclose(Box.point(x), grad_output=g, backend="exact" if exact_kind else "arb",
                            precision=None if exact_kind else REFERENCE_BITS, method="interval")
        result.points += 1
        for (name, r), (_, e) in zip(ref.items(), enclosure.items()):
            inside = (e[..., 0] <= r[..., 0]) & (r[..., 1] <= e[..., 1])
            disjoint = (r[..., 1] < e[..., 0]) | (e[..., 1] < r[..., 0])
            # An exact reference is the tightest double interval around the true value,
            # so non-containment is a miss. A 256-bit ball that overlaps an endpoint can
            # only mean a true value within 2^-256 of it: reported as inconclusive.
            bad = ~inside if exact_kind else disjoint
            result.inconclusive += 0 if exact_kind else int((~inside & ~disjoint).sum())
            result.outside += int(bad.sum())
            for index in zip(*np.nonzero(bad)) if bad.ndim else ([()] if bad else []):
                if len(result.offenders) < keep:
                    result.offenders.append(
                        Offender("real", "reference", [float_or_inf(v) for v in x], name, tuple(int(i) for i in index),
                                 float(r[index][0]), float(e[index][0]), float(e[index][1]))
                    )
    return result


def check(
    spec: AutoencoderSpec | LayeredSpec,
    box: Box,
    *,
    grad_output: Box | str = MSE,
    runs: int = 1000,
    seed: int = 0,
    backend: str = "auto",
    precision: int | None = None,
    method: str | None = None,
    enclosures: Mapping[str, Enclosure] | Mapping[str, LayeredEnclosure] | None = None,
    reference: bool = True,
    keep: int = 10,
    progress: Callable[[str], Any] | None = None,
    torch_worker: bool | None = None,
    timings: dict[str, float] | None = None,
    while_waiting: Callable[[], Any] | None = None,
) -> CheckResult:
    """Run the spec in float64 and float32 at about `runs` points and check every result.

    `spec` is an `AutoencoderSpec` (with `Enclosure`s) or a `LayeredSpec` (with
    `LayeredEnclosure`s). `enclosures` maps "real", "float64" and "float32" to
    precomputed enclosures of this spec and box (computed here when missing, by
    `enclose` or `enclose_layered` with `backend`, `precision` and `method`; None
    means that function's default method). Returns, per format, the number of runs,
    how many values fell outside and the first `keep` offenders (named by their
    enclosure's quantity names), and the closest approach of a run to an endpoint, in
    ulps. PyTorch runs in a second process when `torch_worker` is True, or, when it is
    None, for big work where one can start (see verifae.torch_runs). `timings`, when
    given, gets the seconds of each part added (for benchmarks/bound_speed.py).
    `while_waiting`, when given, is called once, after the check's own work and before
    it waits for PyTorch's process: work of the caller's that this process would
    otherwise do after the check, done while the other core finishes PyTorch's runs.
    """
    clock = _Clock(timings)
    if runs < 1:
        raise BoxError(f"runs must be at least 1, got {runs}")
    model = _model(spec)
    found: dict[str, AnyEnclosure] = dict(enclosures or {})
    for semantics, e in found.items():
        if not isinstance(e, model.enclosure_type):
            raise SpecError(f"enclosures[{semantics!r}] is of type {type(e).__name__}, but a {type(spec).__name__} "
                            f"is checked against {model.enclosure_type.__name__}s")
    for semantics in ("real", *CHECKED_FORMATS):
        if semantics not in found:
            options: dict[str, Any] = {} if method is None else {"method": method}
            found[semantics] = model.enclose(box, grad_output=grad_output, backend=backend, precision=precision,
                                             semantics=semantics, **options)
    params = {name: model.parameters(name) for name in CHECKED_FORMATS}
    points, fixed = sample_points(spec, box, runs, seed, params["float64"])
    G = None
    g_inputs: dict[str, np.ndarray | None] = {name: None for name in CHECKED_FORMATS}
    if isinstance(grad_output, Box):
        G, g_fixed = sample_points(spec, grad_output, len(points), seed + 1, params["float64"])
        g_inputs = {name: _inputs(G, g_fixed, grad_output.lower, FORMATS[name]) for name in CHECKED_FORMATS}
    result = CheckResult(points=len(points), formats={}, reference=None)
    loop_points = max(1, LOOP_BUDGET // max(1, 6 * model.work))
    chunk = _chunk_size(params["float64"])
    inputs = {}
    for name in CHECKED_FORMATS:
        X = _inputs(points, fixed, box.lower, FORMATS[name])
        inputs[name] = (X, g_inputs[name])

    def arguments(name: str) -> tuple[Any, ...]:  # of _implementation_check, after the implementation
        return (params[name], model.names, *inputs[name], found[name], points, keep, loop_points, chunk)

    elsewhere: dict[str, Future | None] = {name: None for name in CHECKED_FORMATS}
    if torch_worker if torch_worker is not None else _torch_elsewhere(spec, len(points)):
        for name in CHECKED_FORMATS:
            elsewhere[name] = torch_runs.submit(_implementation_check, "torch", *arguments(name))
    # numpy and the loops here, then the reference, and only then wait for PyTorch
    clock("check: sampling and starting")
    for name in CHECKED_FORMATS:
        result.formats[name] = fc = FormatCheck()
        for impl in IMPLEMENTATIONS if elsewhere[name] is None else IMPLEMENTATIONS[:-1]:
            if progress:
                progress(f"{name} {impl}")
            fc.merge(_implementation_check(impl, *arguments(name)), keep)
            clock(f"check: {impl}")
    if reference:
        if progress:
            progress("reference")
        result.reference = _reference(model, points, fixed, box.lower, G, found["real"], keep, grad_output)
        clock("check: reference")
    if while_waiting is not None:
        while_waiting()
        clock("check: the caller's work, while PyTorch's process runs")
    for name, future in elsewhere.items():
        if future is None:
            continue
        if progress:
            progress(f"{name} torch (second process)")
        try:
            part = future.result()
        except BrokenProcessPool:  # the process died (killed, out of memory): run here after all
            part = _implementation_check("torch", *arguments(name))
        result.formats[name].merge(part, keep)
        clock("check: waiting for PyTorch's process")
    return result


class _Clock:
    """Adds the seconds since the last call to `timings[what]` (nothing without timings)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings, self.last = timings, time.perf_counter()

    def __call__(self, what: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[what] = self.timings.get(what, 0.0) + now - self.last
            self.last = now
