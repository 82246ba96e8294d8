"""TorchLean's `crown_query_v1` documents: a relu model, a box and linear output
properties, for TorchLean's Lean checker (design §8; issue 16).

The format (TorchLean, `NN/Verification/Cert/CROWNQuery*.lean`): a JSON object

    {"format": "crown_query_v1", "input_dim": n,
     "input": {"lo": [...], "hi": [...]},
     "layers": [{"kind": LINEAR_KIND, "weights": [[...]], "bias": [...]},
                {"kind": RELU_KIND, "alpha": [...]}, ...],
     "query": {"weights": [[...]], "bias": [...], "strict": bool}}

with every number an exact integer or fraction string ("3/10"; JSON numbers are
refused). The document claims that for every real x in the box, every row of
`weights · output + bias` is < 0 (strict) or <= 0: the *safe* statement, the negation of
the unsafe region. TorchLean's checker propagates affine lower and upper bounds through
the layers (the α-CROWN lower relaxation y >= α·z of an unstable relu with the given α in
[0, 1], the triangle upper relaxation), bounds the query rows' upper forms over the box
and accepts when each is below zero; a kernel-checked theorem lifts acceptance to the
real model. It is one pass over the whole box: no branching, so a property verifae
proves by branch and bound may still be rejected there (`replay_check` tells in advance).

Rows written for verifae's properties:

    output[i]<=T   y_i − T <= 0
    output[i]>=T   T − y_i <= 0
    vnnlib         each disjunct of its unsafe region must be a single constraint
                   c·y + d <= 0; safe is c·y + d > 0, the row −c·y − d < 0 (strict)

The document has one `strict` flag for all rows: with a vnnlib property every row is
strict (a stronger claim for the non-strict ones, implied only when their bound is
below T). A disjunct of several constraints has a safe region that is a disjunction,
which no conjunction of rows states: refused.

The α written are CROWN's adaptive choice from the pre-activation bounds of the same
pass: 1 where u > −l, else 0 (Zhang et al., 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ..activations.identity import Identity
from ..activations.relu import Relu
from ..box import Box
from ..errors import UnsupportedError
from ..layered import LayeredSpec
from ..model import AutoencoderSpec
from .properties import Property

__all__ = ["CROWN_QUERY_FORMAT", "crown_query", "query_rows", "replay_check"]

CROWN_QUERY_FORMAT = "crown_query_v1"
#: the format's layer kinds (strings of the document, not activation names)
LINEAR_KIND, RELU_KIND = "linear", "relu"

Row = tuple[list[Fraction], Fraction]
#: an affine form of the input: (A, c), rows of A per output
Form = tuple[list[list[Fraction]], list[Fraction]]


def _is_relu(layer: Any) -> bool | None:
    """True for a relu layer, False for an affine one (no activation or the identity),
    None for any other activation (no TorchLean layer kind)."""
    if layer.activation is None or isinstance(layer.activation, Identity):
        return False
    return True if isinstance(layer.activation, Relu) else None


def query_rows(properties: Sequence[Property], output_dim: int) -> tuple[list[Row], bool]:
    """The query's rows (weights, bias) and its strict flag for `properties`
    (UnsupportedError for a property that has no such rows)."""
    rows: list[Row] = []
    strict = False
    for prop in properties:
        if prop.kind == "output":
            assert prop.index is not None
            unit = [Fraction(int(k == prop.index)) for k in range(output_dim)]
            if prop.sense == "<=":
                rows.append((unit, -prop.threshold))
            else:
                rows.append(([-w for w in unit], prop.threshold))
        elif prop.kind == "vnnlib":
            strict = True
            for conjunction in prop.disjuncts:
                if len(conjunction) != 1:
                    where = f" (line {conjunction[0].line})" if conjunction and conjunction[0].line else ""
                    raise UnsupportedError(
                        f"cannot write a crown_query_v1 document for {prop.text}: a disjunct{where} has "
                        f"{len(conjunction)} constraints, and its safe region (one of them false) is no "
                        "conjunction of linear inequalities")
                g = conjunction[0]
                weights = [Fraction(0)] * output_dim
                for k, c in g.coefficients:
                    weights[k] = -c
                rows.append((weights, -g.constant))
        else:
            raise UnsupportedError(f"cannot write a crown_query_v1 document for {prop.text!r}: TorchLean's "
                                   "query states linear output properties only (output[i]<=T, output[i]>=T, "
                                   "a VNN-LIB file)")
    return rows, strict


# ---------------------------------------------------------------- the affine pass, exactly


def _form_range(A: list[Fraction], c: Fraction, lo: Sequence[Fraction], hi: Sequence[Fraction],
                upper: bool) -> Fraction:
    """The max (upper) or min of A·x + c over the box, exactly."""
    total = c
    for a, x_lo, x_hi in zip(A, lo, hi):
        total += a * ((x_hi if a > 0 else x_lo) if upper else (x_lo if a > 0 else x_hi))
    return total


def _linear(W: list[list[Fraction]], b: list[Fraction], low: Form, high: Form) -> tuple[Form, Form]:
    """Affine bounds of W·y + b from bounds low <= y <= high: positive weights take the
    same side, negative weights the other."""
    n = len(low[0][0]) if low[0] else 0

    def side(first: Form, second: Form) -> Form:
        A, c = [], []
        for row, bias in zip(W, b):
            a = [Fraction(0)] * n
            total = bias
            for w, Af, cf, As, cs in zip(row, first[0], first[1], second[0], second[1]):
                if w > 0:
                    a = [x + w * y for x, y in zip(a, Af)]
                    total += w * cf
                elif w < 0:
                    a = [x + w * y for x, y in zip(a, As)]
                    total += w * cs
            A.append(a)
            c.append(total)
        return A, c

    return side(low, high), side(high, low)


def _pass(layers: list[dict[str, Any]], lo: list[Fraction], hi: list[Fraction],
          alphas: list[list[Fraction]] | None) -> tuple[Form, Form, list[list[Fraction]]]:
    """The forward affine pass: bounds of the network's output as affine forms of x, and
    the α used (given, or CROWN's adaptive choice when `alphas` is None)."""
    n = len(lo)
    identity = [[Fraction(int(i == k)) for k in range(n)] for i in range(n)]
    low: Form = (identity, [Fraction(0)] * n)
    high: Form = ([row[:] for row in identity], [Fraction(0)] * n)
    used: list[list[Fraction]] = []
    for layer in layers:
        if layer["kind"] == LINEAR_KIND:
            low, high = _linear(layer["weights"], layer["bias"], low, high)
            continue
        alpha_in = None if alphas is None else alphas[len(used)]
        alpha = []
        new_low: Form = ([], [])
        new_high: Form = ([], [])
        for k, (Al, cl, Ah, ch) in enumerate(zip(low[0], low[1], high[0], high[1])):
            z_lo, z_hi = _form_range(Al, cl, lo, hi, upper=False), _form_range(Ah, ch, lo, hi, upper=True)
            a = (Fraction(1) if z_hi > -z_lo else Fraction(0)) if alpha_in is None else alpha_in[k]
            alpha.append(a)
            # lower: relu(z) >= s·z with s = 1 (z_lo > 0), α (crossing) or 0 (z_hi <= 0): the slope is >= 0, so
            # it applies to z's lower form; upper: the chord of relu over [z_lo, z_hi] (or 0 / identity)
            s_low = Fraction(0) if z_hi <= 0 else (Fraction(1) if z_lo > 0 else a)
            if z_hi <= 0:
                s_up, t_up = Fraction(0), Fraction(0)
            elif z_lo >= 0:
                s_up, t_up = Fraction(1), Fraction(0)
            else:
                s_up, t_up = z_hi / (z_hi - z_lo), -z_lo * z_hi / (z_hi - z_lo)
            new_low[0].append([s_low * x for x in Al])
            new_low[1].append(s_low * cl)
            new_high[0].append([s_up * x for x in Ah])
            new_high[1].append(s_up * ch + t_up)
        used.append(alpha)
        low, high = new_low, new_high
    return low, high, used


def _layers(spec: AutoencoderSpec | LayeredSpec) -> list[dict[str, Any]]:
    layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)
    out: list[dict[str, Any]] = []
    for layer in (*layered.encoder, *layered.decoder):
        relu = _is_relu(layer)
        if relu is None:
            assert layer.activation is not None
            raise UnsupportedError(f"cannot write a crown_query_v1 document: layer {layer.name} has activation "
                                   f"{layer.activation.config()['name']!r}; TorchLean's query covers linear and "
                                   "relu layers only")
        out.append({"kind": LINEAR_KIND, "weights": [[Fraction(w) for w in row] for row in layer.weight],
                    "bias": [Fraction(b) for b in layer.bias]})
        if relu:
            out.append({"kind": RELU_KIND})
    return out


def _strings(values: Sequence[Fraction]) -> list[str]:
    return [str(Fraction(v)) for v in values]


def crown_query(spec: AutoencoderSpec | LayeredSpec, box: Box, properties: Sequence[Property]) -> dict[str, Any]:
    """The `crown_query_v1` document of `properties` over `box` (see the module's doc)."""
    layers = _layers(spec)
    output_dim = len(layers[-1]["bias"]) if layers[-1]["kind"] == LINEAR_KIND else len(layers[-2]["bias"])
    rows, strict = query_rows(properties, output_dim)
    lo, hi = [Fraction(q) for q in box.lower], [Fraction(q) for q in box.upper]
    _, _, alphas = _pass(layers, lo, hi, None)
    doc_layers: list[dict[str, Any]] = []
    relu = 0
    for layer in layers:
        if layer["kind"] == LINEAR_KIND:
            doc_layers.append({"kind": LINEAR_KIND, "weights": [_strings(row) for row in layer["weights"]],
                               "bias": _strings(layer["bias"])})
        else:
            doc_layers.append({"kind": RELU_KIND, "alpha": _strings(alphas[relu])})
            relu += 1
    return {"format": CROWN_QUERY_FORMAT, "input_dim": len(lo), "input": {"lo": _strings(lo), "hi": _strings(hi)},
            "layers": doc_layers,
            "query": {"weights": [_strings(w) for w, _ in rows], "bias": _strings([b for _, b in rows]),
                      "strict": strict}}


def _fraction(text: Any, where: str) -> Fraction:
    if not isinstance(text, str):
        raise ValueError(f"{where}: {text!r} is not an exact number string")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{where}: {text!r} is not an integer or a fraction") from None


def replay_check(doc: dict[str, Any]) -> bool:
    """Whether the document passes the check its format documents (our exact
    re-implementation of it, written from TorchLean's description: an indication of what
    TorchLean's checker will answer, not a substitute for it). False for a malformed
    document."""
    try:
        if doc.get("format") != CROWN_QUERY_FORMAT:
            return False
        n = doc["input_dim"]
        lo = [_fraction(v, "input.lo") for v in doc["input"]["lo"]]
        hi = [_fraction(v, "input.hi") for v in doc["input"]["hi"]]
        if not isinstance(n, int) or n <= 0 or len(lo) != n or len(hi) != n or any(a > b for a, b in zip(lo, hi)):
            return False
        layers: list[dict[str, Any]] = []
        alphas: list[list[Fraction]] = []
        width = n
        for layer in doc["layers"]:
            if layer["kind"] == LINEAR_KIND:
                W = [[_fraction(v, "weights") for v in row] for row in layer["weights"]]
                b = [_fraction(v, "bias") for v in layer["bias"]]
                if not W or len(b) != len(W) or any(len(row) != width for row in W):
                    return False
                layers.append({"kind": LINEAR_KIND, "weights": W, "bias": b})
                width = len(W)
            elif layer["kind"] == RELU_KIND:
                a = [_fraction(v, "alpha") for v in layer["alpha"]]
                if len(a) != width or any(not 0 <= v <= 1 for v in a):
                    return False
                layers.append({"kind": RELU_KIND})
                alphas.append(a)
            else:
                return False
        if not layers:
            return False
        Q = [[_fraction(v, "query.weights") for v in row] for row in doc["query"]["weights"]]
        q = [_fraction(v, "query.bias") for v in doc["query"]["bias"]]
        strict = doc["query"]["strict"]
        if not Q or len(q) != len(Q) or any(len(row) != width for row in Q) or not isinstance(strict, bool):
            return False
        low, high, _ = _pass(layers, lo, hi, alphas)
        _, (A, c) = _linear(Q, q, low, high)
        ends = [_form_range(a, k, lo, hi, upper=True) for a, k in zip(A, c)]
        return all(e < 0 if strict else e <= 0 for e in ends)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return False
