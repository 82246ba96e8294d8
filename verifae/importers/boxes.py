"""Input boxes from data files and VNN-LIB properties (design §7), exactly.

- `--center FILE --radius R [--clip LO HI]`: each row of FILE is a center c and gives the
  box [max(c − R, LO), min(c + R, HI)]. FILE is .npy (1-D: one center; 2-D: one per row;
  more axes: one per entry of the first axis, flattened as `nn.Flatten` does), .json (a
  list of numbers, or a list of such lists) or .csv (one center per row; a single column
  is one center; a first row of names is skipped). R, LO and HI are exact decimals
  ("0.02" is 1/50, as in case files).
- `--lower FILE --upper FILE`: the same files, row by row.
- `--vnnlib FILE`: the input constraints of a VNN-LIB property (below).

Every number is exact: a float in a .npy file is its binary value, a decimal in a .json
or .csv file is that decimal (parsed from the text, never through a double).

VNN-LIB: the input subset is read by a small parser of its S-expressions, keeping every
constant's exact decimal (the `vnnlib` package's box transformation returns doubles):
`(declare-const X_i Real)`, and assertions built from `(<= X_i c)`, `(>= X_i c)` (either
side may be the constant; `<` and `>` read as their closure, a box containing the open
set), `(and ...)` and `(or ...)` (an `or` of boxes gives several boxes). Assertions on
the outputs `Y_j` alone are the property, not the input set, and are skipped. Anything
else (a constraint on two variables, arithmetic, `not`, an input without a lower or an
upper bound) is no box and is refused in plain words.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from ..box import Box
from ..cases import CaseError, read_json
from ..errors import BoxError, VerifaeError
from ..numbers import to_exact
from ._exact import exact_parameter

__all__ = ["read_rows", "load_boxes", "boxes_around", "boxes_between", "boxes_from_vnnlib", "parse_number",
           "vnnlib_variable", "vnnlib_kinds"]

#: at most this many boxes from one file (an `or` of `and`s can multiply out)
MAX_BOXES = 10_000


def parse_number(text: Any, what: str) -> Fraction:
    """An exact number from the command line ("0.02" is 1/50); BoxError naming `what`."""
    try:
        return to_exact(text)
    except VerifaeError as exc:
        raise BoxError(f"{what}: {exc}") from None


def _check_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise BoxError(f"{what} {path}: no such file")
    if not p.is_file():
        raise BoxError(f"{what} {path}: not a file")
    return p


def read_rows(path: str | Path, what: str = "file") -> list[list[Fraction]]:
    """The rows of exact numbers in a .npy, .json or .csv file (see the module's doc)."""
    p = _check_file(path, what)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except Exception as exc:  # a pickled object array, a truncated file
            raise BoxError(f"{what} {path}: not a readable .npy array of numbers ({str(exc)[:200]})") from None
        if a.ndim == 0 or a.size == 0:
            raise BoxError(f"{what} {path}: expected a vector or rows of numbers, got shape {a.shape}")
        rows = a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)
        try:
            exact = exact_parameter(rows, f"{what} {path}")
        except VerifaeError as exc:
            raise BoxError(str(exc)) from None
        return [list(r) for r in exact]
    if suffix == ".json":
        try:
            data = read_json(p)
        except CaseError as exc:
            raise BoxError(f"{what} {exc}") from None
        if isinstance(data, list) and data and all(isinstance(r, list) for r in data):
            items = data
        elif isinstance(data, list) and data:
            items = [data]
        else:
            raise BoxError(f"{what} {path}: expected a list of numbers or a list of such lists")
        return [[_cell(v, f"{what} {path}: row {i + 1}, entry {j + 1}") for j, v in enumerate(row)]
                for i, row in enumerate(items)]
    if suffix == ".csv":
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise BoxError(f"{what} {path}: cannot read the file as UTF-8 text ({exc})") from None
        table = [[c.strip() for c in row] for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)]
        if table and not any(_is_number(c) for c in table[0]):
            table = table[1:]  # a header of names
        if not table:
            raise BoxError(f"{what} {path}: no rows of numbers")
        rows = [[_cell(c, f"{what} {path}: row {i + 1}, column {j + 1}") for j, c in enumerate(row)]
                for i, row in enumerate(table)]
        if all(len(r) == 1 for r in rows) and len(rows) > 1:
            return [[r[0] for r in rows]]  # one column: one center
        return rows
    raise BoxError(f"{what} {path}: unknown file type {p.suffix or '(none)'!r}; expected .npy, .json or .csv")


def _is_number(text: str) -> bool:
    try:
        to_exact(text)
    except VerifaeError:
        return False
    return True


def _cell(v: Any, where: str) -> Fraction:
    if isinstance(v, bool) or not isinstance(v, (int, str, Decimal)):
        raise BoxError(f"{where}: expected a number, got {type(v).__name__}")
    try:
        return to_exact(v)
    except VerifaeError as exc:
        raise BoxError(f"{where}: {exc}") from None


def _check_rows(rows: list[list[Fraction]], dim: int | None, what: str) -> None:
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise BoxError(f"{what}: row {i + 1} has {len(row)} values but row 1 has {width}")
    if dim is not None and width != dim:
        raise BoxError(f"{what} has {width} values per row, but the model's input_dim is {dim}")


def boxes_around(center: str | Path, radius: Any, clip: Sequence[Any] | None = None,
                 dim: int | None = None) -> tuple[Box, ...]:
    """One box [max(c − r, lo), min(c + r, hi)] per center row of the file."""
    rows = read_rows(center, "--center")
    _check_rows(rows, dim, f"--center {center}")
    r = parse_number(radius, "--radius")
    if r < 0:
        raise BoxError(f"--radius {radius} is negative")
    lo = hi = None
    if clip is not None:
        lo, hi = (parse_number(v, "--clip") for v in clip)
        if lo > hi:
            raise BoxError(f"--clip {clip[0]} {clip[1]}: the lower end exceeds the upper end")
    boxes = []
    for k, c in enumerate(rows):
        lower = [v - r if lo is None else max(v - r, lo) for v in c]
        upper = [v + r if hi is None else min(v + r, hi) for v in c]
        for i, (a, b) in enumerate(zip(lower, upper)):
            if a > b:
                raise BoxError(f"--center {center}: row {k + 1}, entry {i + 1} = {float(c[i])!r} lies farther than "
                               f"the radius outside the clip range [{float(lo or 0)!r}, {float(hi or 0)!r}]")
        boxes.append(Box(lower, upper))
    return tuple(boxes)


def boxes_between(lower: str | Path, upper: str | Path, dim: int | None = None) -> tuple[Box, ...]:
    """One box per row of the two files."""
    lo_rows, hi_rows = read_rows(lower, "--lower"), read_rows(upper, "--upper")
    _check_rows(lo_rows, dim, f"--lower {lower}")
    _check_rows(hi_rows, dim, f"--upper {upper}")
    if len(lo_rows) != len(hi_rows) or len(lo_rows[0]) != len(hi_rows[0]):
        raise BoxError(f"--lower {lower} has {len(lo_rows)} rows of {len(lo_rows[0])} values but --upper {upper} "
                       f"has {len(hi_rows)} rows of {len(hi_rows[0])}")
    boxes = []
    for k, (a, b) in enumerate(zip(lo_rows, hi_rows)):
        try:
            boxes.append(Box(a, b))
        except VerifaeError as exc:
            raise BoxError(f"row {k + 1} of --lower/--upper: {exc}") from None
    return tuple(boxes)


# ---------------------------------------------------------------- VNN-LIB


class Token(str):
    """A token of a VNN-LIB file that knows its line (for error messages)."""

    line: int


class Expr(list):
    """A parenthesised S-expression that knows the line of its opening parenthesis."""

    line: int


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split(";", 1)[0]
        for piece in line.replace("(", " ( ").replace(")", " ) ").split():
            tok = Token(piece)
            tok.line = number
            out.append(tok)
    return out


def _parse(tokens: list[Token], where: str) -> list[Any]:
    """The top-level S-expressions, as nested lists of tokens (`Expr` and `Token`, both
    knowing their line)."""
    forms: list[Any] = []
    stack: list[Expr] = []
    for tok in tokens:
        if tok == "(":
            expr = Expr()
            expr.line = tok.line
            stack.append(expr)
        elif tok == ")":
            if not stack:
                raise BoxError(f"{where}, line {tok.line}: unbalanced ')'")
            done = stack.pop()
            (stack[-1] if stack else forms).append(done)
        elif stack:
            stack[-1].append(tok)
        else:
            raise BoxError(f"{where}, line {tok.line}: {str(tok)!r} outside any expression")
    if stack:
        raise BoxError(f"{where}: unbalanced '(' (the file ends inside an expression)")
    return forms


def line_of(expr: Any) -> int | None:
    """The line where a parsed expression starts (None for one built by hand)."""
    return getattr(expr, "line", None)


def read_vnnlib(path: str | Path, what: str = "--vnnlib") -> tuple[list[Any], str]:
    """The top-level S-expressions of a VNN-LIB file and the `where` prefix of its errors
    (shared by the input box reader here and the output property reader,
    `verifae.verify.vnnlib`)."""
    p = _check_file(path, what)
    where = f"{what} {path}"
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxError(f"{where}: cannot read the file as UTF-8 text ({exc})") from None
    return _parse(_tokens(text), where), where


def _show(expr: Any) -> str:
    text = expr if isinstance(expr, str) else "(" + " ".join(_show(e) for e in expr) + ")"
    return text if len(text) <= 80 else text[:77] + "..."


Bounds = dict[int, tuple[Fraction | None, Fraction | None]]


def vnnlib_variable(name: Any) -> tuple[str, int] | None:
    """("X", i) for an input X_i, ("Y", j) for an output Y_j, else None. The index is
    ASCII decimal without leading zeros: an SMT-LIB symbol is its whole name, so Y_01 is
    a variable of its own, not Y_1, and Y_² is no index at all."""
    if isinstance(name, str) and name[:2] in ("X_", "Y_"):
        digits = name[2:]
        if digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0"):
            return name[0], int(digits)
    return None


def vnnlib_kinds(expr: Any) -> set[str]:
    """The kinds of variable ("X", "Y") an expression mentions."""
    if isinstance(expr, str):
        found = vnnlib_variable(expr)
        return {found[0]} if found else set()
    return set().union(*(vnnlib_kinds(e) for e in expr)) if expr else set()


def _constant(expr: Any) -> Fraction | None:
    if isinstance(expr, str):
        try:
            return to_exact(expr)
        except VerifaeError:
            return None
    if isinstance(expr, list) and len(expr) == 2 and expr[0] == "-":  # (- 0.5)
        c = _constant(expr[1])
        return None if c is None else -c
    return None


def _input_index(expr: Any, n: int) -> int | None:
    found = vnnlib_variable(expr)
    return found[1] if found and found[0] == "X" and found[1] < n else None


def _conjoin(parts: list[Bounds], more: list[Bounds], where: str) -> list[Bounds]:
    """The boxes of (or parts) and (or more): every non-empty pairwise intersection."""
    merged = [m for m in (_meet(a, b) for a, b in product(parts, more)) if m is not None]
    if len(merged) > MAX_BOXES:
        raise BoxError(f"{where}: the input constraints make more than {MAX_BOXES} boxes")
    return merged


def _meet(a: Bounds, b: Bounds) -> Bounds | None:
    """The intersection of two partial boxes, or None when it is empty."""
    out = dict(a)
    for i, (lo, hi) in b.items():
        lo0, hi0 = out.get(i, (None, None))
        lo1 = lo if lo0 is None else (lo0 if lo is None else max(lo0, lo))
        hi1 = hi if hi0 is None else (hi0 if hi is None else min(hi0, hi))
        if lo1 is not None and hi1 is not None and lo1 > hi1:
            return None
        out[i] = (lo1, hi1)
    return out


def _boxes(expr: Any, n: int, where: str) -> list[Bounds]:
    """The input constraint `expr` as a union of partial boxes."""
    refuse = f"{where}: {_show(expr)} is not a box constraint on the inputs"
    if not isinstance(expr, list) or not expr:
        raise BoxError(f"{refuse} (expected (<= X_i c), (>= X_i c), (and ...) or (or ...))")
    op, args = expr[0], expr[1:]
    if op == "and":
        parts: list[Bounds] = [{}]
        for arg in args:
            parts = _conjoin(parts, _boxes(arg, n, where), where)
        return parts
    if op == "or":
        out = [b for arg in args for b in _boxes(arg, n, where)]
        if len(out) > MAX_BOXES:
            raise BoxError(f"{where}: the input constraints make more than {MAX_BOXES} boxes")
        return out
    if op in ("<=", ">=", "<", ">", "=") and len(args) == 2:
        left, right = args
        i, c = _input_index(left, n), _constant(right)
        if i is None or c is None:  # the constant on the left: c <= X_i is X_i >= c
            i, c = _input_index(right, n), _constant(left)
            op = {"<=": ">=", ">=": "<=", "<": ">", ">": "<", "=": "="}[op]
        if i is None or c is None:
            raise BoxError(f"{refuse}: verifae reads bounds of one input by a constant, not "
                           "constraints between variables or arithmetic")
        if op in ("<=", "<"):
            return [{i: (None, c)}]
        if op in (">=", ">"):
            return [{i: (c, None)}]
        return [{i: (c, c)}]
    if op == "not":
        raise BoxError(f"{refuse}: the complement of a box is not a box")
    raise BoxError(f"{refuse} (the operator {op!r} is not read)")


def boxes_from_vnnlib(path: str | Path, dim: int | None = None) -> tuple[Box, ...]:
    """The input boxes of a VNN-LIB property (see the module's doc)."""
    forms, where = read_vnnlib(path)
    inputs: set[int] = set()
    asserts = []
    for form in forms:
        if not isinstance(form, list) or not form:
            raise BoxError(f"{where}: unexpected {_show(form)}")
        head = form[0]
        if head == "declare-const" and len(form) == 3 and isinstance(form[1], str):
            name = form[1]
            found = vnnlib_variable(name)
            if found and found[0] == "X":
                inputs.add(found[1])
            elif not found:
                raise BoxError(f"{where}: variable {name!r} is neither an input X_i nor an output Y_j")
        elif head == "assert" and len(form) == 2:
            asserts.append(form[1])
        else:
            raise BoxError(f"{where}: {_show(form)} is not read (verifae reads declare-const and assert)")
    n = len(inputs)
    if n == 0:
        raise BoxError(f"{where}: no input variables (declare-const X_0 Real, ...)")
    if inputs != set(range(n)):
        raise BoxError(f"{where}: the inputs are not X_0 ... X_{n - 1}")
    if dim is not None and n != dim:
        raise BoxError(f"{where} declares {n} inputs, but the model's input_dim is {dim}")
    parts: list[Bounds] = [{}]
    for formula in asserts:
        kinds = vnnlib_kinds(formula)
        if kinds == {"Y"} or not kinds:
            continue  # the property on the outputs: not part of the input set
        if kinds == {"X", "Y"}:
            raise BoxError(f"{where}: {_show(formula)} mixes inputs and outputs; verifae reads the input "
                           "constraints as a box, and they must not depend on the outputs")
        parts = _conjoin(parts, _boxes(formula, n, where), where)
    if not parts:
        raise BoxError(f"{where}: the input constraints are contradictory (no input satisfies them)")
    boxes = []
    for bounds in parts:
        lower, upper = [], []
        for i in range(n):
            lo, hi = bounds.get(i, (None, None))
            if lo is None or hi is None:
                side = "lower" if lo is None else "upper"
                raise BoxError(f"{where}: X_{i} has no {side} bound, so the input set is not a bounded box")
            lower.append(lo)
            upper.append(hi)
        boxes.append(Box(lower, upper))
    return tuple(boxes)


def load_boxes(*, center: str | Path | None = None, radius: Any = None, clip: Sequence[Any] | None = None,
               lower: str | Path | None = None, upper: str | Path | None = None,
               vnnlib: str | Path | None = None, dim: int | None = None) -> tuple[Box, ...]:
    """The boxes of exactly one of: center (with radius, optional clip), lower with upper,
    or vnnlib; `dim`, when given, is the model's input_dim that every box must have."""
    given = [name for name, v in (("--center", center), ("--lower/--upper", lower or upper),
                                  ("--vnnlib", vnnlib)) if v is not None]
    if len(given) != 1:
        raise BoxError("give the input box one way: --center FILE --radius R [--clip LO HI], --lower FILE "
                       "--upper FILE, or --vnnlib FILE" + (f" (got {' and '.join(given)})" if given else ""))
    if center is not None:
        if radius is None:
            raise BoxError("--center needs --radius R")
        return boxes_around(center, radius, clip, dim)
    if radius is not None or clip is not None:
        raise BoxError("--radius and --clip go with --center")
    if vnnlib is not None:
        return boxes_from_vnnlib(vnnlib, dim)
    if lower is None or upper is None:
        raise BoxError("--lower and --upper go together")
    return boxes_between(lower, upper, dim)
