"""An independent checker of verification certificates (`verifae check-cert`).

A certificate (written by `verifae verify --certificate`) holds the model, and per
proof a box, a property, the semantics and the leaves of the branch and bound: boxes
with the bound the search claimed on each. This module re-checks it from scratch and
shares nothing with the code that wrote it but parsing (case files' exact numbers and
layers, `verifae.cases.parse_case`; properties, `parse_property`). Every number is an
exact rational (`fractions.Fraction`); nothing is rounded.

For each proof:

1. The leaves tile the box exactly. The box is cut recursively: at each step some
   coordinate k and value c strictly inside the current box are found such that every
   remaining leaf lies wholly on one side (upper_k <= c or lower_k >= c); a box is done
   when exactly one leaf is left and it equals the box. Success means the leaves are
   exactly the cells of a guillotine partition of the box, so they cover it (a missing,
   duplicated, overlapping or stray leaf has no such cut and is rejected).
2. Each leaf's claimed bound implies the property (exact comparison with T).
3. Each leaf's bound is recomputed here and implies the property. The bound is
   symbolic interval propagation (ReluVal's forward pass; Wang et al., USENIX Security
   2018): every neuron v carries affine functions L(x) <= v(x) <= U(x) over the leaf.
   A dense layer W·a + b maps them exactly: U' = W⁺U + W⁻L + b, L' = W⁺L + W⁻U + b
   (W⁺ = max(W, 0), W⁻ = min(W, 0)). At a relu or leaky_relu (slope s in [0, 1], a
   convex max(v, s·v)) with v in [lo, hi] (the extremes of L and U over the leaf,
   exact: an affine function is extreme at a corner chosen sign by sign): for
   lo >= 0 the identity, for hi <= 0 the map v -> s·v, else the chord
   f(v) <= f(lo) + λ(v − lo), λ = (hi − s·lo)/(hi − lo) >= 0, bounds from above (so
   U' = s·lo + λ(U − lo)) and f(v) >= v and f(v) >= s·v from below (L' = L where
   hi >= −lo, else s·L). The residual x_hat − x is U − x, L − x: exact, so E's bound
   loses only what the relaxations lose. A square's range is exact on an interval.

Only the real semantics and piecewise-linear models (identity, relu, leaky_relu with
slope in [0, 1], no activation) are checked; anything else is rejected with its
reason (transcendental activations would need Arb balls: not implemented).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import get_activation
from ..cases import DEFAULT_MAX_BYTES, parse_case, read_json
from ..errors import VerifaeError
from ..numbers import to_exact
from .properties import Property, parse_property

__all__ = ["CheckReport", "CheckerModel", "check_certificate", "check_certificate_file", "leaf_bound", "same_model",
           "CERTIFICATE_FORMAT", "CertificateError"]

CERTIFICATE_FORMAT = "verifae-certificate/1"
#: The activations the checker knows, as f(v) = max(v, s·v) with their slope s on the
#: negative side (None: the layer's "negative_slope" parameter). Restated here on
#: purpose, not taken from verifae's activation registry: the checker shares no code
#: with what wrote the certificate but parsing (issue 16). s = 1 is affine.
_NEGATIVE_SLOPE: dict[str, Fraction | None] = {"identity": Fraction(1), "relu": Fraction(0), "leaky_relu": None}
#: what a layer without activation (a bare linear layer) is
_NONE = "identity"


class CertificateError(VerifaeError, ValueError):
    """A certificate that cannot be read (the checker rejects it: exit 1)."""


@dataclass(frozen=True)
class CheckerLayer:
    weight: np.ndarray  # object array of Fractions (out × in)
    bias: np.ndarray
    slope: Fraction  # the activation is max(v, slope·v), 0 <= slope <= 1 (1: none)


@dataclass(frozen=True)
class CheckerModel:
    layers: tuple[CheckerLayer, ...]
    n_encoder: int
    input_dim: int


def _slope(label: str, config: dict[str, Any]) -> Fraction:
    name = config["name"]
    if name not in _NEGATIVE_SLOPE:
        raise CertificateError(f"layer {label}: activation {name!r} needs Arb balls, which this checker "
                               "does not implement; certificates cover identity, relu and leaky_relu models")
    slope = _NEGATIVE_SLOPE[name]
    if slope is None:
        slope = to_exact(config["negative_slope"])
    if not 0 <= slope <= 1:
        raise CertificateError(f"layer {label}: {name} slope {slope} outside [0, 1] is not convex; "
                               "not supported by the checker")
    return slope


def checker_model(spec: Any) -> CheckerModel:
    """The checker's exact model from a parsed model: a `LayeredSpec`, or a v1
    `AutoencoderSpec` (its two layers: W_enc, b_enc with its activation, then W_dec,
    b_dec with none); CertificateError for an activation the checker cannot handle
    exactly."""
    def exact(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=object)

    if hasattr(spec, "W_enc"):  # v1, as a case file writes it
        config = get_activation(spec.activation).config()
        layers = (CheckerLayer(exact(spec.W_enc), exact(spec.b_enc), _slope("encoder", config)),
                  CheckerLayer(exact(spec.W_dec), exact(spec.b_dec), Fraction(1)))
        return CheckerModel(layers, 1, spec.input_dim)
    return CheckerModel(tuple(
        CheckerLayer(exact(layer.weight), exact(layer.bias),
                     _slope(layer.name, {"name": _NONE} if layer.activation is None else layer.activation.config()))
        for layer in spec.layers), len(spec.encoder), spec.input_dim)


def same_model(a: CheckerModel, b: CheckerModel) -> bool:
    """Whether two exact models are the same function's parameters, entry by entry."""
    return (a.n_encoder == b.n_encoder and a.input_dim == b.input_dim and len(a.layers) == len(b.layers)
            and all(x.slope == y.slope and x.weight.shape == y.weight.shape and x.bias.shape == y.bias.shape
                    and bool((x.weight == y.weight).all()) and bool((x.bias == y.bias).all())
                    for x, y in zip(a.layers, b.layers)))


# ---------------------------------------------------------------- exact symbolic intervals


def _extremes(A: np.ndarray, c: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact min and max of each affine row A_j·x + c_j over the box [lower, upper]."""
    positive = A > 0
    low = c + np.where(positive, A * lower, A * upper).sum(axis=1)
    high = c + np.where(positive, A * upper, A * lower).sum(axis=1)
    return low, high


def _propagate(model: CheckerModel, lower: np.ndarray, upper: np.ndarray, stop: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Affine lower and upper forms (A_L, c_L, A_U, c_U) of the post-activations of layer
    `stop` − 1 over the box, and a constant lower bound of each: the activation's
    minimum over [lo, hi], f(lo), which the form L = v dips below where lo < 0 (None
    after a layer without activation)."""
    d = model.input_dim
    zero, one = Fraction(0), Fraction(1)
    identity = np.full((d, d), zero, dtype=object)
    for k in range(d):
        identity[k, k] = one
    AL, cL = identity, np.full(d, zero, dtype=object)
    AU, cU = identity.copy(), cL.copy()
    floor = np.full(d, None, dtype=object)
    for layer in model.layers[:stop]:
        zeros = np.full(layer.weight.shape, zero, dtype=object)
        Wp = np.where(layer.weight > 0, layer.weight, zeros)
        Wn = np.where(layer.weight < 0, layer.weight, zeros)
        AL, cL, AU, cU = (Wp.dot(AL) + Wn.dot(AU), Wp.dot(cL) + Wn.dot(cU) + layer.bias,
                          Wp.dot(AU) + Wn.dot(AL), Wp.dot(cU) + Wn.dot(cL) + layer.bias)
        if layer.slope == 1:  # max(v, v) = v: the forms pass unchanged
            floor = np.full(len(cL), None, dtype=object)
            continue
        s = layer.slope
        lo, _ = _extremes(AL, cL, lower, upper)
        _, hi = _extremes(AU, cU, lower, upper)
        # f = max(v, s·v) is increasing: its minimum over [lo, hi] is f(lo)
        floor = np.array([s * v if v < 0 else v for v in lo], dtype=object)
        AL, cL, AU, cU = AL.copy(), cL.copy(), AU.copy(), cU.copy()
        for j in range(len(lo)):
            if lo[j] >= 0:
                continue
            if hi[j] <= 0:  # f(v) = s·v, increasing (s >= 0): the forms scale
                AL[j], cL[j], AU[j], cU[j] = s * AL[j], s * cL[j], s * AU[j], s * cU[j]
                continue
            lam = (hi[j] - s * lo[j]) / (hi[j] - lo[j])
            AU[j], cU[j] = lam * AU[j], s * lo[j] + lam * (cU[j] - lo[j])
            if hi[j] < -lo[j]:
                AL[j], cL[j] = s * AL[j], s * cL[j]
    return AL, cL, AU, cU, floor


def _square_range(lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    if lo >= 0:
        return lo * lo, hi * hi
    if hi <= 0:
        return hi * hi, lo * lo
    return Fraction(0), max(lo * lo, hi * hi)


def leaf_bound(model: CheckerModel, prop: Property, lower: Sequence[Fraction] | np.ndarray,
               upper: Sequence[Fraction] | np.ndarray) -> tuple[Fraction, Fraction]:
    """An exact enclosure [lo, hi] of the property's value (real semantics) over the box."""
    lower_a = np.asarray(list(lower), dtype=object)
    upper_a = np.asarray(list(upper), dtype=object)
    if prop.kind in ("latent", "output"):
        assert prop.index is not None
        i = prop.index
        stop = model.n_encoder if prop.kind == "latent" else len(model.layers)
        AL, cL, AU, cU, floor = _propagate(model, lower_a, upper_a, stop)
        lo, _ = _extremes(AL[i: i + 1], cL[i: i + 1], lower_a, upper_a)
        _, hi = _extremes(AU[i: i + 1], cU[i: i + 1], lower_a, upper_a)
        return (lo[0] if floor[i] is None else max(lo[0], floor[i])), hi[0]
    if prop.kind != "error":
        raise CertificateError(f"{prop.text!r}: the checker bounds error, output and latent properties only")
    AL, cL, AU, cU, _ = _propagate(model, lower_a, upper_a, len(model.layers))
    d = model.input_dim
    for k in range(d):  # residual forms: x_hat − x
        AL[k, k] -= 1
        AU[k, k] -= 1
    r_lo, _ = _extremes(AL, cL, lower_a, upper_a)
    _, r_hi = _extremes(AU, cU, lower_a, upper_a)
    squares = [_square_range(a, b) for a, b in zip(r_lo, r_hi)]
    return sum((s[0] for s in squares), Fraction(0)) / d, sum((s[1] for s in squares), Fraction(0)) / d


def _implies(prop: Property, lo: Fraction | None, hi: Fraction | None) -> bool:
    """Whether [lo, hi] (None: unbounded on that side) implies the property."""
    if prop.sense == "<=":
        return hi is not None and hi <= prop.threshold
    return lo is not None and lo >= prop.threshold


def _claimed(v: Any, where: str) -> tuple[Fraction | None, Fraction | None]:
    """A claimed bound [lo, hi] of exact numbers, null for an unbounded end."""
    if not isinstance(v, list) or len(v) != 2:
        raise CertificateError(f"{where}: expected [lower, upper]")
    try:
        lo, hi = (None if x is None else to_exact(x) for x in v)
    except VerifaeError as exc:
        raise CertificateError(f"{where}: {exc}") from None
    return lo, hi


# ---------------------------------------------------------------- covering


def _lower_at(k: int, leaf: tuple[list[Fraction], list[Fraction]]) -> Fraction:
    return leaf[0][k]


def _tiles(box: tuple[list[Fraction], list[Fraction]], leaves: list[tuple[list[Fraction], list[Fraction]]]) -> bool:
    """Whether the leaves are exactly the cells of a guillotine partition of the box."""
    stack = [(box, leaves)]
    while stack:
        (lower, upper), group = stack.pop()
        if len(group) == 1:
            if group[0][0] != lower or group[0][1] != upper:
                return False
            continue
        if not group:
            return False
        for k in range(len(lower)):
            order = sorted(group, key=functools.partial(_lower_at, k))
            reach = order[0][1][k]
            cut = None
            for j in range(1, len(order)):
                if reach <= order[j][0][k] and lower[k] < reach < upper[k]:
                    cut = j
                    break
                reach = max(reach, order[j][1][k])
            if cut is not None:
                c = reach
                left_upper, right_lower = list(upper), list(lower)
                left_upper[k], right_lower[k] = c, c
                stack.append(((lower, left_upper), order[:cut]))
                stack.append(((right_lower, upper), order[cut:]))
                break
        else:
            return False
    return True


# ---------------------------------------------------------------- certificates


@dataclass
class CheckReport:
    accepted: bool
    proofs: int = 0
    leaves: int = 0
    reasons: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # one line per accepted proof
    model: str = ""  # the model the proofs speak of: its widths and activations' slopes


def _vector(v: Any, where: str) -> list[Fraction]:
    if not isinstance(v, list) or not v:
        raise CertificateError(f"{where}: expected a non-empty list of exact numbers")
    try:
        return [to_exact(x) for x in v]
    except VerifaeError as exc:
        raise CertificateError(f"{where}: {exc}") from None


def check_certificate(data: Any, case: Any = None) -> CheckReport:
    """Re-check a parsed certificate (JSON with exact numbers, `cases.read_json`). With
    `case` (a parsed case, `cases.load_case`), also check that the certificate speaks of
    it: the same model, exactly, and every proof's box one of the case's boxes. Without
    it a certificate proves its statement about the model and boxes it contains."""
    report = CheckReport(accepted=False)
    try:
        if not isinstance(data, dict) or data.get("format") != CERTIFICATE_FORMAT:
            raise CertificateError(f"not a certificate of format {CERTIFICATE_FORMAT!r}")
        proofs = data.get("proofs")
        if not isinstance(proofs, list) or not proofs:
            raise CertificateError("proofs: expected a non-empty list")
        first = proofs[0].get("box") if isinstance(proofs[0], dict) else None
        try:  # the model, parsed as a case file's layered model is
            spec = parse_case({"model": data.get("model"), "input": first}, layered=True).spec
        except VerifaeError as exc:
            raise CertificateError(f"model: {exc}") from None
        model = checker_model(spec)
        d = model.input_dim
        widths = " -> ".join(str(n) for n in (d, *(len(layer.bias) for layer in model.layers)))
        report.model = f"{widths}, negative-side slopes {', '.join(str(layer.slope) for layer in model.layers)}"
        case_boxes: list[tuple[list[Fraction], list[Fraction]]] = []
        if case is not None:
            if not same_model(model, checker_model(case.spec)):
                report.reasons.append("model: not the case's model (a weight, bias, activation or shape differs)")
            case_boxes = [(list(b.lower), list(b.upper)) for b in case.boxes]
        for n, proof in enumerate(proofs):
            where = f"proofs[{n}]"
            if not isinstance(proof, dict):
                raise CertificateError(f"{where}: expected an object")
            if proof.get("semantics") != "real":
                raise CertificateError(f"{where}: semantics {proof.get('semantics')!r} cannot be checked; "
                                       "the checker covers the real semantics only")
            prop = parse_property(proof.get("property", ""))
            prop.check_dims(d, len(model.layers[model.n_encoder - 1].bias))
            box = proof.get("box")
            if not isinstance(box, dict):
                raise CertificateError(f"{where}.box: expected an object with lower and upper")
            lower = _vector(box.get("lower"), f"{where}.box.lower")
            upper = _vector(box.get("upper"), f"{where}.box.upper")
            if len(lower) != d or len(upper) != d or any(a > b for a, b in zip(lower, upper)):
                raise CertificateError(f"{where}.box: not a box of dimension {d}")
            if case is not None and (lower, upper) not in case_boxes:
                report.reasons.append(f"{where}.box: not one of the case's boxes")
            raw_leaves = proof.get("leaves")
            if not isinstance(raw_leaves, list) or not raw_leaves:
                raise CertificateError(f"{where}.leaves: expected a non-empty list")
            leaves = []
            for m, leaf in enumerate(raw_leaves):
                at = f"{where}.leaves[{m}]"
                if not isinstance(leaf, dict):
                    raise CertificateError(f"{at}: expected an object")
                lo, hi = _vector(leaf.get("lower"), f"{at}.lower"), _vector(leaf.get("upper"), f"{at}.upper")
                if len(lo) != d or len(hi) != d or any(a > b for a, b in zip(lo, hi)):
                    raise CertificateError(f"{at}: not a box of dimension {d}")
                claimed = _claimed(leaf.get("bound"), f"{at}.bound")
                if not _implies(prop, *claimed):
                    report.reasons.append(f"{at}: the claimed bound does not imply {prop.text}")
                own = leaf_bound(model, prop, lo, hi)
                if not _implies(prop, *own):
                    report.reasons.append(f"{at}: the recomputed bound [{float(own[0])!r}, {float(own[1])!r}] "
                                          f"does not imply {prop.text}")
                leaves.append((lo, hi))
            if not _tiles((lower, upper), leaves):
                report.reasons.append(f"{where}: the leaves do not tile the box exactly "
                                      "(a leaf is missing, overlaps another or lies outside)")
            report.proofs += 1
            report.leaves += len(leaves)
            report.checked.append(f"proofs[{n}]: {prop.text} ({len(leaves)} leaves)")
    except VerifaeError as exc:
        report.reasons.append(str(exc))
    report.accepted = not report.reasons
    return report


def check_certificate_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, case: Any = None) -> CheckReport:
    """Read a certificate file keeping exact numbers, and check it (against `case`, as
    `check_certificate`)."""
    try:
        data = read_json(path, max_bytes)
    except VerifaeError as exc:
        return CheckReport(accepted=False, reasons=[str(exc)])
    return check_certificate(data, case)
