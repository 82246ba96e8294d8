"""The output constraints of a VNN-LIB file as a property (`verifae verify --property
FILE.vnnlib`).

VNN-LIB states the *unsafe* region: the file's assertions on the outputs Y_i (here the
decoder output x_hat_i) are what must never happen. The property holds over a box when
no x in it makes them true, and a point violates it when its output makes them true.

Read: `(declare-const X_i Real)` and `(declare-const Y_i Real)`; assertions on Y alone
built from linear constraints `(<= A B)` and `(>= A B)`, where A and B are sums
`(+ ...)`, differences `(- ...)`, negations `(- A)`, scalar multiples `(* c A)` of Y_i
and exact constants (as VNN-COMP files write them: "0.1" is 1/10); `(and ...)` and
`(or ...)` of those, in any nesting (multiplied out into a disjunction of conjunctions,
at most MAX_DISJUNCTS). Several assertions are their conjunction. Each constraint is
kept as c·y + d <= 0 with exact rational c and d (`LinearConstraint`).

Refused, with the file, line and construct named (exit 2 on the command line): strict
`<` and `>` (their region is open: a boundary point would be read as unsafe when it is
not), `=`, `not`, products of outputs, any other operator, an assertion that mixes
inputs and outputs, a file without output assertions.

The file's assertions on the inputs X_i alone are its input region: `input_region`
(read by `verifae.importers.boxes.boxes_from_vnnlib`, with the same tokenizer). When it
has one, it must be exactly the box(es) of the case being verified
(`check_input_region`): a property proved over another box than the one the file names
would answer a different question, so a mismatch is bad input rather than silently
either box. Make a case from the file's box with `verifae case --vnnlib FILE`.

Bounding c·y + d over a part (`relaxed_ranges`): interval arithmetic on the output
enclosure forgets that outputs move together (Y_0 − Y_1 with Y_0 = Y_1 is bounded by the
width of both). When the model's last layer is affine, CROWN is run with the
constraints' c as its specification matrix instead: back-substitution of c·W_L from the
last layer to the input keeps that dependence (with an activation on the last layer,
c combines CROWN's linear bounds of the outputs, which still keeps their dependence on
x). `Property.value_bounds` intersects both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from ..box import Box
from ..errors import VerifaeError
from ..importers.boxes import boxes_from_vnnlib, line_of, read_vnnlib, vnnlib_kinds, vnnlib_variable
from ..layered import LayeredSpec
from ..methods.crown import Form, back_substitute, output_forms, prepare_network, propagate
from ..model import AutoencoderSpec
from ..numbers import round_down, round_up, to_exact
from .properties import LinearConstraint, Property, PropertyError

__all__ = ["read_output_property", "check_input_region", "relaxed_ranges", "MAX_DISJUNCTS"]

#: at most this many disjuncts after multiplying out `and`s of `or`s
MAX_DISJUNCTS = 10_000

Affine = tuple[dict[int, Fraction], Fraction]


def _show(expr: Any) -> str:
    text = str(expr) if isinstance(expr, str) else "(" + " ".join(_show(e) for e in expr) + ")"
    return text if len(text) <= 80 else text[:77] + "..."


class _Reader:
    def __init__(self, where: str, outputs: int) -> None:
        self.where = where
        self.outputs = outputs

    def refuse(self, expr: Any, why: str, line: int | None = None) -> PropertyError:
        line = line_of(expr) if line is None else line
        at = f"{self.where}, line {line}" if line is not None else self.where
        return PropertyError(f"{at}: {_show(expr)}: {why}")

    def affine(self, expr: Any, line: int | None) -> Affine:
        """A linear expression of the outputs: (coefficients, constant), exactly."""
        if isinstance(expr, str):
            found = vnnlib_variable(expr)
            if found and found[0] == "Y":
                i = found[1]
                if i >= self.outputs:
                    raise self.refuse(expr, f"output Y_{i} is not declared", line)
                return {i: Fraction(1)}, Fraction(0)
            try:
                return {}, to_exact(str(expr))
            except VerifaeError:
                raise self.refuse(expr, "neither an output Y_i nor a number", line) from None
        line = line_of(expr) or line
        if not expr or not isinstance(expr[0], str):
            raise self.refuse(expr, "an empty or malformed expression", line)
        op, args = expr[0], [self.affine(a, line) for a in expr[1:]]
        if op == "+" and args:
            return _sum(args)
        if op == "-" and len(args) == 1:
            return _scale(args[0], Fraction(-1))
        if op == "-" and len(args) >= 2:
            return _sum([args[0], *(_scale(a, Fraction(-1)) for a in args[1:])])
        if op == "*" and args:
            varying = [a for a in args if a[0]]
            if len(varying) > 1:
                raise self.refuse(expr, "a product of outputs is not linear; verifae reads linear constraints only",
                                  line)
            factor = Fraction(1)
            for a in args:
                if not a[0]:
                    factor *= a[1]
            return _scale(varying[0], factor) if varying else ({}, factor)
        raise self.refuse(expr, f"the operator {str(op)!r} is not read in a linear expression "
                                "(verifae reads +, -, * by a constant, Y_i and numbers)", line)

    def dnf(self, expr: Any, line: int | None = None) -> list[tuple[LinearConstraint, ...]]:
        """The formula as a disjunction (list) of conjunctions of constraints."""
        line = line_of(expr) or line
        if isinstance(expr, str) or not expr:
            raise self.refuse(expr, "not a constraint (expected (<= A B), (>= A B), (and ...) or (or ...))", line)
        op, args = expr[0], expr[1:]
        if op == "and":
            out: list[tuple[LinearConstraint, ...]] = [()]
            for arg in args:
                out = [a + b for a, b in product(out, self.dnf(arg, line))]
                if len(out) > MAX_DISJUNCTS:
                    raise self.refuse(expr, f"multiplies out into more than {MAX_DISJUNCTS} disjuncts", line)
            return out
        if op == "or":
            if not args:
                raise self.refuse(expr, "an empty (or) is false: no unsafe region", line)
            out = [c for arg in args for c in self.dnf(arg, line)]
            if len(out) > MAX_DISJUNCTS:
                raise self.refuse(expr, f"has more than {MAX_DISJUNCTS} disjuncts", line)
            return out
        if op in ("<=", ">=") and len(args) == 2:
            (ca, da), (cb, db) = self.affine(args[0], line), self.affine(args[1], line)
            if op == ">=":  # A >= B is B - A <= 0
                (ca, da), (cb, db) = (cb, db), (ca, da)
            coeffs, const = _sum([(ca, da), _scale((cb, db), Fraction(-1))])
            return [(LinearConstraint(tuple(sorted(coeffs.items())), const, line),)]
        if op in ("<", ">"):
            raise self.refuse(expr, "strict comparisons are not read (their unsafe region is open; write <= or >=)",
                              line)
        if op in ("<=", ">="):
            raise self.refuse(expr, f"{op} takes exactly two arguments", line)
        raise self.refuse(expr, f"the operator {str(op)!r} is not read in an output constraint "
                                "(verifae reads <=, >=, and, or)", line)


def _sum(terms: Sequence[Affine]) -> Affine:
    coeffs: dict[int, Fraction] = {}
    const = Fraction(0)
    for c, d in terms:
        for i, v in c.items():
            coeffs[i] = coeffs.get(i, Fraction(0)) + v
        const += d
    return {i: v for i, v in coeffs.items() if v != 0}, const


def _scale(term: Affine, factor: Fraction) -> Affine:
    c, d = term
    return {i: v * factor for i, v in c.items() if v * factor != 0}, d * factor


def read_output_property(path: str | Path) -> Property:
    """The property stated by a VNN-LIB file's output constraints (see the module's doc)."""
    try:
        forms, where = read_vnnlib(path, "vnnlib property")
    except VerifaeError as exc:
        raise PropertyError(str(exc)) from None
    inputs: set[int] = set()
    outputs: set[int] = set()
    on_outputs: list[Any] = []
    has_input_constraints = False
    for form in forms:
        if isinstance(form, str) or not form:
            raise PropertyError(f"{where}, line {line_of(form)}: unexpected {_show(form)}")
        head = form[0]
        if head == "declare-const" and len(form) == 3 and isinstance(form[1], str):
            name = str(form[1])
            found = vnnlib_variable(name)
            if found:
                (inputs if found[0] == "X" else outputs).add(found[1])
            else:
                raise PropertyError(f"{where}, line {line_of(form)}: variable {name!r} is neither an input X_i "
                                    "nor an output Y_j")
        elif head == "assert" and len(form) == 2:
            kinds = vnnlib_kinds(form[1])
            if kinds == {"X", "Y"}:
                raise PropertyError(f"{where}, line {line_of(form)}: {_show(form[1])} mixes inputs and outputs; "
                                    "verifae reads input constraints (a box) and output constraints separately")
            if kinds == {"X"}:
                has_input_constraints = True
            else:  # on the outputs, or on no variable at all (a constant constraint: refused below)
                on_outputs.append(form[1])
        else:
            raise PropertyError(f"{where}, line {line_of(form)}: {_show(form)} is not read "
                                "(verifae reads declare-const and assert)")
    for names, kind in ((inputs, "X"), (outputs, "Y")):
        if not names or names != set(range(len(names))):
            raise PropertyError(f"{where}: the {'inputs' if kind == 'X' else 'outputs'} must be declared as "
                                f"{kind}_0 ... {kind}_(n-1) (declare-const {kind}_0 Real)")
    if not on_outputs:
        raise PropertyError(f"{where}: no assertion on the outputs Y_i, so no property to verify")
    reader = _Reader(where, len(outputs))
    disjuncts: list[tuple[LinearConstraint, ...]] = [()]
    for formula in on_outputs:
        if not vnnlib_kinds(formula):
            raise reader.refuse(formula, "an assertion on no variable (verifae reads constraints on the outputs Y_i)")
        disjuncts = [a + b for a, b in product(disjuncts, reader.dnf(formula))]
        if len(disjuncts) > MAX_DISJUNCTS:
            raise PropertyError(f"{where}: the output assertions multiply out into more than {MAX_DISJUNCTS} "
                                "disjuncts")
    region = None
    if has_input_constraints:
        try:
            region = boxes_from_vnnlib(path, len(inputs))
        except VerifaeError as exc:
            raise PropertyError(str(exc)) from None
    return Property("vnnlib", None, ">", Fraction(0), f"vnnlib:{path}", tuple(disjuncts),
                    output_dim=len(outputs), input_dim=len(inputs), input_region=region)


def check_input_region(properties: Sequence[Property], boxes: Sequence[Box]) -> None:
    """PropertyError when a VNN-LIB property's input constraints are not exactly the
    case's boxes (same boxes, same order)."""

    def key(box: Box) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
        return tuple(Fraction(q) for q in box.lower), tuple(Fraction(q) for q in box.upper)

    for prop in properties:
        if prop.input_region is None:
            continue
        theirs, ours = [key(b) for b in prop.input_region], [key(b) for b in boxes]
        if theirs == ours:
            continue
        detail = f"it gives {len(theirs)} box(es), the case has {len(ours)}"
        if len(theirs) == len(ours):
            b = next(n for n, (t, o) in enumerate(zip(theirs, ours)) if t != o)
            sides = list(zip(*theirs[b], *ours[b]))  # (lo_file, hi_file, lo_case, hi_case) per input
            k = next((k for k, (a, c, e, f) in enumerate(sides) if (a, c) != (e, f)), None)
            detail = (f"box {b}: {len(theirs[b][0])} inputs in the file, {len(ours[b][0])} in the case" if k is None
                      else f"box {b}, X_{k}: the file has [{sides[k][0]}, {sides[k][1]}], the case "
                           f"[{sides[k][2]}, {sides[k][3]}]")
        raise PropertyError(f"{prop.text}: the file's input constraints are not the case's box ({detail}); "
                            "verify a case made from the file (verifae case --vnnlib FILE) or drop the input "
                            "assertions from the file")


def relaxed_ranges(spec: AutoencoderSpec | LayeredSpec, box: Box, semantics: str,
                   constraints: Sequence[LinearConstraint]) -> list[tuple[float, float]] | None:
    """Enclosures [lo, hi] of each constraint's c·y + d over `box` in `semantics`, by CROWN
    (`verifae.methods.crown`) with c as the specification matrix; None where a float run
    may overflow (the interval bound then stands alone).

    Why it holds. A last layer without activation: y = W_L a + b_L (+ e1 in a float
    semantics, |e1| <= the Higham bound `methods.crown` proves for that layer), so
    c·y = (c W_L) a + c b_L + c·e1 with |c·e1| <= |c| e1, and `back_substitute` bounds
    (c W_L) a + c b_L ± |c| e1 over the box through the layers below: c W_L meets each
    relaxation before the outputs are separated, which keeps their dependence. A last
    layer with an activation: CROWN's upper and lower forms U(x) + s >= y >= L(x) − s of
    each output (`output_forms`) give c·y <= c⁺·(U + s) + c⁻·(L − s) and the other way
    round, for c⁺ = max(c, 0) >= 0 and c⁻ = min(c, 0) <= 0. Everything is in outward
    interval arithmetic, for every c in its interval (the constraints' rationals
    enclosed by their neighbouring doubles); the constant d is added exactly, then the
    end rounded outward once."""
    if not constraints:
        return None
    layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)
    with np.errstate(invalid="ignore", over="ignore"):
        net = prepare_network(layered, box, semantics)
        if net is None:
            return None
        z_forms = propagate(net)  # every layer's bounds and lines, and the last layer's e1
        B, L = net.B, net.depth - 1
        width = net.weights[L].shape[0]
        c_lo, c_hi = np.zeros((len(constraints), width)), np.zeros((len(constraints), width))
        for r, g in enumerate(constraints):
            for k, c in g.coefficients:
                c_lo[r, k], c_hi[r, k] = round_down(c), round_up(c)
        if net.lines[L] is None:
            C = B.interval_floats(c_lo, c_hi)
            e1 = net.e1[L]
            slack = (np.zeros(len(constraints)) if e1 is None
                     else B.upper(B.matvec(B.magnitude(C), B.constant_floats(e1))))
            upper, lower = back_substitute(net, L, B.rmatvec(net.weights[L], C), B.matvec(C, net.biases[L]), slack)
        else:
            y_upper, y_lower = output_forms(net, z_forms)
            positive = B.interval_floats(np.maximum(c_lo, 0.0), np.maximum(c_hi, 0.0))
            negative = B.interval_floats(np.minimum(c_lo, 0.0), np.minimum(c_hi, 0.0))

            def combine(first: Form, second: Form) -> Form:
                """c⁺·first + c⁻·second, with slack |c⁺| s_first + |c⁻| s_second (rounded up)."""
                slack = (B.upper(B.matvec(B.magnitude(positive), B.constant_floats(first.slack)))
                         + B.upper(B.matvec(B.magnitude(negative), B.constant_floats(second.slack))))
                return Form(B.add(B.rmatvec(first.Lam, positive), B.rmatvec(second.Lam, negative)),
                            B.add(B.matvec(positive, first.const), B.matvec(negative, second.const)), B.up(slack))

            upper, lower = combine(y_upper, y_lower), combine(y_lower, y_upper)
        highs = upper.concretize(B, net.x, up=True)
        lows = lower.concretize(B, net.x, up=False)
    out = []
    for g, lo, hi in zip(constraints, lows, highs):
        lo_f = round_down(Fraction(float(lo)) + g.constant) if math.isfinite(lo) else -math.inf
        hi_f = round_up(Fraction(float(hi)) + g.constant) if math.isfinite(hi) else math.inf
        out.append((lo_f, hi_f))
    return out
