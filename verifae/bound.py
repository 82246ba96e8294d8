"""`verifae bound` as a library call: enclosures of one case, the Float-run check, the result JSON."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from ._version import __version__
from .api import BATCH_QUANTITIES, SEMANTICS, BatchEnclosure, Enclosure, enclose, enclose_many
from .box import Box
from .cases import Case
from .check import CheckResult, check, prepare_check
from .model import GRADIENT_NAMES

__all__ = ["BoundResult", "BoxResult", "bound", "to_json", "endpoints", "activation_label"]


@dataclass
class BoxResult:
    """The enclosures of one input box, by semantics, and its Float-run check."""

    enclosures: dict[str, Enclosure]
    check: CheckResult | None


@dataclass
class BoundResult:
    """Every box's enclosures and checks; `enclosures` and `check` are the first box's."""

    case: Case
    backend: str
    precision: int | None
    method: str
    grad_output: Box | str
    boxes: list[BoxResult]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def enclosures(self) -> dict[str, Enclosure]:
        return self.boxes[0].enclosures

    @property
    def check(self) -> CheckResult | None:
        return self.boxes[0].check

    @property
    def failed(self) -> bool:
        """True when a Float run or the reference fell outside its enclosure, in any box."""
        return any(b.check is not None and not b.check.ok for b in self.boxes)


def bound(
    case: Case,
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
) -> BoundResult:
    """Enclose every quantity of `case` in each of `semantics`, then check `runs` float runs.

    `grad_output` overrides the case's. The check needs the real and both float
    enclosures; any of them not asked for is computed for the check only.
    """
    start = time.perf_counter()
    prepare_check(case.spec, runs // len(case.boxes))  # PyTorch's process imports while we enclose
    g = case.grad_output if grad_output is None else grad_output
    timings: dict[str, float] = {}
    needed = list(semantics) + ([s for s in SEMANTICS if s not in semantics] if runs else [])
    per_box: list[dict[str, Enclosure]] = [{} for _ in case.boxes]
    for s in needed:
        if progress:
            progress(f"enclosing ({s})")
        t = time.perf_counter()
        if len(case.boxes) == 1:
            per_box[0][s] = enclose(case.spec, case.box, grad_output=g, backend=backend, precision=precision,
                                    semantics=s, method=method, max_parts=max_parts)
        else:  # several boxes: one batch (list-of-Box endpoints are rounded outward to doubles)
            many = enclose_many(case.spec, list(case.boxes), grad_output=g, backend=backend, precision=precision,
                                semantics=s, method=method, max_parts=max_parts,
                                quantities=(*BATCH_QUANTITIES, "gradients"))
            for k in range(len(case.boxes)):
                per_box[k][s] = _one_box(many, k, precision)
        timings[f"enclose {s}"] = time.perf_counter() - t
    checks: list[CheckResult | None] = [None] * len(case.boxes)
    if runs:
        t = time.perf_counter()
        each = max(1, runs // len(case.boxes))
        for k, box in enumerate(case.boxes):
            checks[k] = check(case.spec, box, grad_output=g, runs=each, seed=seed + k, enclosures=per_box[k],
                              progress=(lambda what: progress(f"float runs ({what})")) if progress else None)
        timings["check"] = time.perf_counter() - t
    boxes = [BoxResult({s: e[s] for s in semantics}, c) for e, c in zip(per_box, checks)]
    any_enclosure = next(iter(per_box[0].values()))
    return BoundResult(case, any_enclosure.backend, any_enclosure.precision, method, g, boxes,
                       time.perf_counter() - start, timings)


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


def _enclosure_json(e: Enclosure) -> dict[str, Any]:
    return {
        "pre_activation": endpoints(e.pre_activation),
        "hidden": endpoints(e.hidden),
        "output": endpoints(e.output),
        "reconstruction_error": endpoints(e.reconstruction_error),
        "gradients": {name: endpoints(e.gradients[name]) for name in GRADIENT_NAMES},
        "notes": list(e.notes),
    }


def _number(x: float) -> Any:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _check_json(c: CheckResult) -> dict[str, Any]:
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
                name: {"min": endpoints(low), "max": endpoints(high)} for name, (low, high) in f.observed.items()
            },
            "error_samples": endpoints(f.error_samples),
        }
    if c.reference is not None:
        r = c.reference
        out["reference"] = {"kind": r.kind, "points": r.points, "outside": r.outside,
                            "inconclusive": r.inconclusive, "offenders": [o.__dict__ for o in r.offenders]}
    return out


def to_json(result: BoundResult) -> dict[str, Any]:
    """The result document of design §4 (plus description, timing and notes).

    For a case with several boxes, the design's keys describe the first box and
    "boxes" lists every box's "enclosures" and "float_check"."""
    spec = result.case.spec
    doc = {
        "case": result.case.name,
        "description": result.case.description,
        "input_dim": spec.input_dim,
        "hidden_dim": spec.hidden_dim,
        "activation": spec.activation_config,
        "compression_ratio": _number(spec.compression_ratio),
        "backend": result.backend,
        "precision": result.precision,
        "method": result.method,
        "grad_output": "mse" if isinstance(result.grad_output, str) else "box",
        "enclosures": {s: _enclosure_json(e) for s, e in result.enclosures.items()},
        "float_check": _check_json(result.check) if result.check is not None else None,
        "status": "check-failed" if result.failed else "ok",
        "seconds": round(result.seconds, 4),
        "verifae": __version__,
        "box_count": len(result.boxes),
    }
    if len(result.boxes) > 1:
        doc["boxes"] = [
            {"enclosures": {s: _enclosure_json(e) for s, e in b.enclosures.items()},
             "float_check": _check_json(b.check) if b.check is not None else None}
            for b in result.boxes
        ]
    return doc
