"""`verifae bound` as a library call: enclosures of one case, the Float-run check, the result JSON.

A case of format v1 (`Case`, the one-hidden-layer model of design §1) gives the result
of design §4, key for key; a layered case of format v2 (`LayeredCase`, design §6) gives
the v2 result: the same top-level keys where they apply, "latent_dim", "layer_sizes"
and "architecture" for v1's "hidden_dim" and "activation", and per semantics
"layers", "latent", "output", "reconstruction_error" and "gradients" by parameter name.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from ._version import __version__
from .activations import Activation, get_activation
from .api import (
    BATCH_QUANTITIES,
    SEMANTICS,
    BatchEnclosure,
    Enclosure,
    LayeredEnclosure,
    enclose,
    enclose_layered,
    enclose_many,
)
from .box import Box
from .cases import Case, LayeredCase
from .check import CheckResult, check, prepare_check
from .errors import UnsupportedError
from .layered import LayeredSpec
from .model import GRADIENT_NAMES

__all__ = ["BoundResult", "BoxResult", "AnyEnclosure", "bound", "to_json", "to_json_text", "endpoints",
           "activation_label", "activation_config", "architecture"]


#: an enclosure of either model: `Enclosure` (v1) or `LayeredEnclosure` (v2)
AnyEnclosure = Enclosure | LayeredEnclosure


@dataclass
class BoxResult:
    """The enclosures of one input box, by semantics, and its Float-run check."""

    enclosures: dict[str, AnyEnclosure]
    check: CheckResult | None


@dataclass
class BoundResult:
    """Every box's enclosures and checks; `enclosures` and `check` are the first box's."""

    case: Case | LayeredCase
    backend: str
    precision: int | None
    method: str
    grad_output: Box | str
    boxes: list[BoxResult]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    #: the JSON text of enclosure arrays written ahead (`bound(json_ahead=True)`), by the
    #: array's id, with the array itself (kept alive, so no other array takes its id)
    json_texts: dict[int, tuple[np.ndarray, str]] = field(default_factory=dict, repr=False)

    @property
    def layered(self) -> bool:
        return isinstance(self.case, LayeredCase)

    @property
    def enclosures(self) -> dict[str, AnyEnclosure]:
        return self.boxes[0].enclosures

    @property
    def check(self) -> CheckResult | None:
        return self.boxes[0].check

    @property
    def failed(self) -> bool:
        """True when a Float run or the reference fell outside its enclosure, in any box."""
        return any(b.check is not None and not b.check.ok for b in self.boxes)


def bound(
    case: Case | LayeredCase,
    *,
    backend: str = "auto",
    precision: int | None = None,
    semantics: tuple[str, ...] = SEMANTICS,
    runs: int = 1000,
    seed: int = 0,
    grad_output: Box | str | None = None,
    method: str = "auto",
    max_parts: int | None = None,
    progress: Callable[[str], Any] | None = None,
    json_ahead: bool = False,
) -> BoundResult:
    """Enclose every quantity of `case` in each of `semantics`, then check `runs` float runs.

    `grad_output` overrides the case's. The check needs the real and both float
    enclosures; any of them not asked for is computed for the check only. A layered
    case is enclosed by `enclose_layered` with `method` as given, and checked like a v1
    case (`verifae.check.check` takes both).

    With `json_ahead`, the JSON text of every enclosure array (most of what
    `to_json_text` writes: 600,000 doubles at 784-64-784, each by its shortest repr) is
    written while the check waits for PyTorch's process, and `to_json_text(result)`
    uses it; change no array of the result in between.
    """
    start = time.perf_counter()
    each = max(1, runs // len(case.boxes))  # Float-run points per box
    if runs:
        prepare_check(case.spec, each)  # PyTorch's process imports while we enclose
    g = case.grad_output if grad_output is None else grad_output
    timings: dict[str, float] = {}
    needed = list(semantics) + ([s for s in SEMANTICS if s not in semantics] if runs else [])
    per_box: list[dict[str, Any]] = [{} for _ in case.boxes]
    for s in needed:
        if progress:
            progress(f"enclosing ({s})")
        t = time.perf_counter()
        if isinstance(case, LayeredCase):
            for k, e in enumerate(_enclose_layered_boxes(case.spec, case.boxes, g, backend, precision, s, method,
                                                         max_parts)):
                per_box[k][s] = e
        elif len(case.boxes) == 1:
            per_box[0][s] = enclose(case.spec, case.box, grad_output=g, backend=backend, precision=precision,
                                    semantics=s, method=method, max_parts=max_parts)
        else:  # several boxes: one batch (list-of-Box endpoints are rounded outward to doubles)
            many = enclose_many(case.spec, list(case.boxes), grad_output=g, backend=backend, precision=precision,
                                semantics=s, method=method, max_parts=max_parts,
                                quantities=(*BATCH_QUANTITIES, "gradients"))
            for k in range(len(case.boxes)):
                per_box[k][s] = _one_box(many, k, precision)
        timings[f"enclose {s}"] = time.perf_counter() - t
    json_texts: dict[int, tuple[np.ndarray, str]] = {}

    def write_json_ahead() -> None:
        # the very arrays `to_json_text` puts in (its `_enclosures_json`, for every box)
        for e in per_box:
            _enclosures_json({s: e[s] for s in semantics}, lambda a: _text_ahead(a, json_texts))

    checks: list[CheckResult | None] = [None] * len(case.boxes)
    if runs:
        t = time.perf_counter()
        for k, box in enumerate(case.boxes):
            checks[k] = check(case.spec, box, grad_output=g, runs=each, seed=seed + k, enclosures=per_box[k],
                              progress=(lambda what: progress(f"float runs ({what})")) if progress else None,
                              timings=timings, while_waiting=write_json_ahead if json_ahead and k == 0 else None)
        timings["check"] = time.perf_counter() - t
    boxes = [BoxResult({s: e[s] for s in semantics}, c) for e, c in zip(per_box, checks)]
    any_enclosure = next(iter(per_box[0].values()))
    return BoundResult(case, any_enclosure.backend, any_enclosure.precision, method, g, boxes,
                       time.perf_counter() - start, timings, json_texts)


def _text_ahead(a: Any, texts: dict[int, tuple[np.ndarray, str]]) -> None:
    if isinstance(a, np.ndarray):
        texts[id(a)] = (a, _array_text(a))


def _enclose_layered_boxes(spec: LayeredSpec, boxes: tuple[Box, ...], g: Box | str, backend: str,
                           precision: int | None, semantics: str, method: str,
                           max_parts: int | None) -> list[LayeredEnclosure]:
    """Every box of a layered case, in one semantics: the one place where a layered case
    is enclosed. For now one `enclose_layered` call per box; a batched layered
    enclosure (`enclose_many` over a LayeredSpec) replaces this loop when it lands."""
    extra: dict[str, Any] = {}
    if max_parts is not None:
        if "max_parts" not in inspect.signature(enclose_layered).parameters:
            raise UnsupportedError("--max-parts (bisection) is not available for layered models yet")
        extra["max_parts"] = max_parts
    return [enclose_layered(spec, box, grad_output=g, backend=backend, precision=precision, semantics=semantics,
                            method=method, **extra) for box in boxes]


def _one_box(many: BatchEnclosure, k: int, precision: int | None) -> Enclosure:
    # bound() asks enclose_many for every quantity, so none is None
    assert many.pre_activation is not None and many.hidden is not None
    assert many.output is not None and many.reconstruction_error is not None
    return Enclosure(
        pre_activation=many.pre_activation[k],
        hidden=many.hidden[k],
        output=many.output[k],
        reconstruction_error=many.reconstruction_error[k],
        gradients={name: a[k] for name, a in many.gradients.items()},
        backend=many.backend,
        precision=precision if many.backend != "fast" else 53,
        semantics=many.semantics,
        method=many.method,
        notes=many.notes,
    )


def activation_label(config: str | dict[str, Any] | None) -> str:
    """An activation for a person: "tanh", "leaky_relu(negative_slope=0.2)" (parameters as
    exact decimals where they terminate, else as fractions), "none" for no activation."""
    if config is None:
        return "none"
    if isinstance(config, str):
        return config
    params = ", ".join(f"{k}={_exact_text(v)}" for k, v in config.items() if k != "name")
    return f"{config['name']}({params})" if params else config["name"]


def _exact_text(value: Any) -> str:
    q = Fraction(value)
    d = q.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d != 1:
        return str(q)
    places = 0
    while (q * 10**places).denominator != 1:
        places += 1
    scaled = int(q * 10**places)
    return str(Decimal(scaled).scaleb(-places))


def endpoints(a: Any) -> Any:
    """Nested lists of JSON-ready numbers: finite doubles (repr round-trips), "-inf"/"inf",
    and null for NaN (which only observed run values can be; enclosures never are)."""
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all():
        return a.tolist()
    out = a.astype(object)
    out[np.isposinf(a)] = "inf"
    out[np.isneginf(a)] = "-inf"
    out[np.isnan(a)] = None
    return out.tolist()


def _enclosure_json(e: Enclosure, ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    return {
        "pre_activation": ends(e.pre_activation),
        "hidden": ends(e.hidden),
        "output": ends(e.output),
        "reconstruction_error": ends(e.reconstruction_error),
        "gradients": {name: ends(e.gradients[name]) for name in GRADIENT_NAMES},
        "notes": list(e.notes),
    }


def _number(x: float) -> Any:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _check_json(c: CheckResult, ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fmt, f in c.formats.items():
        out[fmt] = {
            "runs": f.runs,
            "outside": f.outside,
            "points": c.points,
            "implementations": f.implementations,
            "closest_approach_ulps": _number(f.closest_ulps),
            "closest_quantity": f.closest_quantity,
            "offenders": [o.__dict__ for o in f.offenders],
            "observed": {
                name: {"min": ends(low), "max": ends(high)} for name, (low, high) in f.observed.items()
            },
            "error_samples": ends(f.error_samples),
        }
    if c.reference is not None:
        r = c.reference
        out["reference"] = {"kind": r.kind, "points": r.points, "outside": r.outside,
                            "inconclusive": r.inconclusive, "offenders": [o.__dict__ for o in r.offenders]}
    return out


def _layered_enclosure_json(e: LayeredEnclosure, ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    return {
        "layers": [{"name": layer.name, "pre_activation": ends(layer.pre_activation),
                    "post_activation": ends(layer.post_activation)} for layer in e.layers],
        "latent": ends(e.latent),
        "output": ends(e.output),
        "reconstruction_error": ends(e.reconstruction_error),
        "gradients": {name: ends(b) for name, b in e.gradients.items()},
        "notes": list(e.notes),
    }


def architecture(spec: LayeredSpec) -> list[dict[str, Any]]:
    """Each layer of a layered model: name, part (encoder or decoder), in and out
    features and the activation's configuration (`activation_config`)."""
    return [{"name": layer.name, "part": "encoder" if k < len(spec.encoder) else "decoder",
             "in_features": layer.in_features, "out_features": layer.out_features,
             "activation": activation_config(layer.activation)}
            for k, layer in enumerate(spec.layers)]


def activation_config(act: Activation | None) -> str | dict[str, Any] | None:
    """An activation as a case file writes it: its name at the default configuration,
    else {"name": ..., parameter: exact value}; None for no activation."""
    if act is None:
        return None
    return act.name if act == get_activation(act.name) else act.config()


def _enclosures_json(enclosures: dict[str, AnyEnclosure], ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    return {s: _layered_enclosure_json(e, ends) if isinstance(e, LayeredEnclosure) else _enclosure_json(e, ends)
            for s, e in enclosures.items()}


def _with_results(doc: dict[str, Any], result: BoundResult, ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    """`doc` (the model's keys) followed by the keys every result has: the run's
    settings, the enclosures, the check, and for several boxes every box's."""
    doc.update({
        "backend": result.backend,
        "precision": result.precision,
        "method": result.method,
        "grad_output": "mse" if isinstance(result.grad_output, str) else "box",
        "enclosures": _enclosures_json(result.enclosures, ends),
        "float_check": _check_json(result.check, ends) if result.check is not None else None,
        "status": "check-failed" if result.failed else "ok",
        "seconds": round(result.seconds, 4),
        "verifae": __version__,
        "box_count": len(result.boxes),
    })
    if len(result.boxes) > 1:
        doc["boxes"] = [
            {"enclosures": _enclosures_json(b.enclosures, ends),
             "float_check": _check_json(b.check, ends) if b.check is not None else None}
            for b in result.boxes
        ]
    return doc


def to_json(result: BoundResult, ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    """The result document of design §4 (plus description, timing and notes) for a v1
    case; for a layered case the v2 result of design §6 (`_layered_json`).

    For a case with several boxes, the design's keys describe the first box and
    "boxes" lists every box's "enclosures" and "float_check"."""
    if isinstance(result.case, LayeredCase):
        return _layered_json(result, result.case, ends)
    spec = result.case.spec
    doc = {
        "case": result.case.name,
        "description": result.case.description,
        "input_dim": spec.input_dim,
        "hidden_dim": spec.hidden_dim,
        "activation": spec.activation_config,
        "compression_ratio": _number(spec.compression_ratio),
    }
    return _with_results(doc, result, ends)


#: the version of the result format of a layered case (a v1 case's result has no such key)
RESULT_FORMAT_V2 = 2


def _layered_json(result: BoundResult, case: LayeredCase, ends: Callable[[Any], Any] = endpoints) -> dict[str, Any]:
    """The v2 result (design §6): v1's top-level keys where they apply, "latent_dim",
    "layer_sizes" and "architecture" in place of "hidden_dim" and "activation", and per
    semantics the layers, latent, output, E and the gradients by parameter name."""
    spec = case.spec
    doc: dict[str, Any] = {
        "format_version": RESULT_FORMAT_V2,
        "case": case.name,
        "description": case.description,
        "input_dim": spec.input_dim,
        "latent_dim": spec.latent_dim,
        "layer_sizes": list(spec.layer_sizes),
        "architecture": architecture(spec),
        "compression_ratio": _number(spec.input_dim / spec.latent_dim),
    }
    return _with_results(doc, result, ends)


def _array_text(a: Any) -> str:
    """The JSON text json.dumps gives for `endpoints(a)`, written directly: each double by
    its repr (the shortest string that reads back as the same double, as json.dumps
    writes floats), "inf" / "-inf" as strings and NaN as null, nested by the array's
    axes with json.dumps's separators."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0 or a.size == 0:
        return json.dumps(endpoints(a))
    flat = a.ravel().tolist()
    if np.isfinite(a).all():
        items: Any = map(float.__repr__, flat)
    else:
        items = (float.__repr__(v) if math.isfinite(v) else ('"inf"' if v > 0 else '"-inf"' if v < 0 else "null")
                 for v in flat)
    *outer, last = a.shape
    parts = list(map(", ".join, zip(*[iter(items)] * last)))  # the innermost lists, without brackets
    for n in reversed(outer):
        parts = ["[" + "], [".join(parts[k:k + n]) + "]" for k in range(0, len(parts), n)]
    return "[" + parts[0] + "]"


def to_json_text(result: BoundResult, indent: int | None = None) -> str:
    """`json.dumps(to_json(result), indent=indent)`, the same text, written fast for
    indent=None: every array of endpoints goes in as a placeholder string (a random
    token no other string of the document holds), json.dumps writes the rest, and each
    placeholder is replaced by the array's text (`_array_text`). A 784-64-784 result has
    600,000 endpoints; going through nested Python lists and the JSON encoder took about
    three times as long."""
    if indent is not None:
        return json.dumps(to_json(result), indent=indent)
    token = secrets.token_hex(8)
    texts: list[str] = []

    def placeholder(a: Any) -> str:
        ahead = result.json_texts.get(id(a))
        texts.append(ahead[1] if ahead is not None and ahead[0] is a else _array_text(a))
        return f"{token}:{len(texts) - 1}"

    text = json.dumps(to_json(result, placeholder))
    return re.sub(f'"{token}:([0-9]+)"', lambda m: texts[int(m.group(1))], text)
