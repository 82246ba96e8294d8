"""`verifae bound --format table`: a result for a person, at most 100 columns wide.

Short vectors are listed interval by interval; long ones (more than `LIST_LIMIT`
entries) are summarized by their widths, so a 784-64-784 model prints a page,
not 50,000 intervals.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

from .api import Enclosure, LayeredEnclosure
from .bound import BoundResult, activation_config, activation_label
from .cases import LayeredCase
from .model import GRADIENT_NAMES

__all__ = ["render_table", "WIDTH"]

WIDTH = 100
LIST_LIMIT = 8


def _num(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.10g}"


def _short(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}"


def _index(flat: int, shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in np.unravel_index(flat, shape)) + "]"


def _vector_lines(name: str, b: np.ndarray) -> list[str]:
    width = b[..., 1] - b[..., 0]
    if b.shape[0] <= LIST_LIMIT:
        lines = [f"  {name}"]
        for i, (lo, hi) in enumerate(b):
            lines.append(f"    [{i}] {_num(lo):>20} {_num(hi):>20}   width {_short(width[i])}")
        return lines
    order = np.argsort(width)
    widest = ", ".join(f"[{i}] {_short(width[i])}" for i in order[::-1][:3])
    return [
        f"  {name}  ({b.shape[0]} intervals)",
        f"    width  min {_short(width.min())}  median {_short(float(np.median(width)))}  max {_short(width.max())}"
        f"   widest {widest}",
        f"    lower from {_num(b[:, 0].min())} to {_num(b[:, 0].max())};"
        f" upper from {_num(b[:, 1].min())} to {_num(b[:, 1].max())}",
    ]


def _gradient_lines(gradients: dict[str, np.ndarray], names: tuple[str, ...] = GRADIENT_NAMES) -> list[str]:
    w = max(9, *(len(n) + 1 for n in names))
    lines = [f"  {'gradient':<{w}}{'shape':>10}  {'largest width':>13}  {'at':<12} {'midpoints from':>16} {'to':>16}"]
    for name in names:
        b = gradients[name]
        shape = b.shape[:-1]
        if b.size == 0:
            lines.append(f"  {name:<{w}}{'×'.join(map(str, shape)):>10}  (empty)")
            continue
        width = (b[..., 1] - b[..., 0]).ravel()
        with np.errstate(invalid="ignore"):
            mid = ((b[..., 0] + b[..., 1]) / 2).ravel()
        k = int(np.argmax(width))
        finite = mid[np.isfinite(mid)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (math.nan, math.nan)
        lines.append(
            f"  {name:<{w}}{'×'.join(map(str, shape)):>10}  {_short(width[k]):>13}  {_index(k, shape):<12}"
            f" {_short(lo):>16} {_short(hi):>16}"
        )
    return lines


def _boxes_lines(result: BoundResult) -> list[str]:
    semantics = next(iter(result.boxes[0].enclosures))
    lines = ["", f"Boxes ({semantics}) " + "─" * (WIDTH - 9 - len(semantics)),
             f"  {'box':>5}  {'output max width':>17}  {'reconstruction error':<36} {'float runs':>12} {'outside':>8}"]
    for k, b in enumerate(result.boxes):
        e = b.enclosures[semantics]
        lo, hi = e.reconstruction_error
        runs = sum(f.runs for f in b.check.formats.values()) if b.check else 0
        outside = sum(f.outside for f in b.check.formats.values()) if b.check else 0
        error = f"[{_num(lo)}, {_num(hi)}]"
        lines.append(f"  {k:>5}  {_short(float((e.output[:, 1] - e.output[:, 0]).max())):>17}  {error:<36}"
                     f" {runs:>12} {outside:>8}")
    return lines


def _widths(b: np.ndarray) -> tuple[str, str]:
    """(largest, median) width of a vector of intervals, for one table cell each."""
    width = b[..., 1] - b[..., 0]
    return _short(float(width.max())), _short(float(np.median(width)))


def _layer_lines(e: LayeredEnclosure, labels: dict[str, tuple[str, str]]) -> list[str]:
    """One row per layer: its activation and shape, and the largest and median width of
    its pre- and post-activation enclosures."""
    w = max(6, *(len(layer.name) + 1 for layer in e.layers))
    a = max(11, *(len(label) + 1 for label, _ in labels.values()))
    a = min(a, WIDTH - w - 57)  # the row: 2 + w + a + 7 + 3 + 21 + 3 + 21 columns
    lines = [f"  {'layer':<{w}}{'activation':<{a}}{'shape':>7}   {'pre-activation width':>21}"
             f"   {'post-activation width':>21}",
             f"  {'':<{w}}{'':<{a}}{'':>7}   {'largest':>10} {'median':>10}   {'largest':>10} {'median':>10}"]
    for layer in e.layers:
        label, shape = labels[layer.name]
        if len(label) >= a:
            label = label[: a - 2] + "…"
        (pre_max, pre_med), (post_max, post_med) = _widths(layer.pre_activation), _widths(layer.post_activation)
        lines.append(f"  {layer.name:<{w}}{label:<{a}}{shape:>7}   {pre_max:>10} {pre_med:>10}   {post_max:>10}"
                     f" {post_med:>10}")
    return lines


def _header(result: BoundResult) -> list[str]:
    case = result.case
    bits = f", {result.precision} bits" if result.precision else ""
    box_width = max(float(hi - lo) for lo, hi in zip(case.box.lower, case.box.upper))
    g = "mse" if isinstance(result.grad_output, str) else "a box"
    lines = [f"verifae bound · {case.name}"]
    if case.description:
        lines += textwrap.wrap(case.description, WIDTH - 2, initial_indent="  ", subsequent_indent="  ")
    count = len(result.boxes)
    which = "box" if count == 1 else f"{count} boxes (box 0 below, all at the end); box 0"
    if isinstance(case, LayeredCase):
        spec = case.spec
        sizes = "-".join(map(str, spec.layer_sizes))
        model = textwrap.wrap(f"layered {sizes}: {len(spec.encoder)} encoder and {len(spec.decoder)} decoder "
                              f"layers, latent {spec.latent_dim}, compression ratio "
                              f"{_short(spec.input_dim / spec.latent_dim)}", WIDTH - 2,
                              initial_indent="  model      ", subsequent_indent=" " * 13)
    else:
        d, h = case.spec.input_dim, case.spec.hidden_dim
        model = [f"  model      {d}-{h}-{d} {activation_label(case.spec.activation_config)}, "
                 f"compression ratio {_short(case.spec.compression_ratio)}"]
    return lines + model + [
        f"  input      {which} of widest side {_short(box_width)}; grad_output {g}",
        f"  backend    {result.backend}{bits}; method {result.method}; {result.seconds:.2f} s",
    ]


def _layered_sections(result: BoundResult, case: LayeredCase) -> list[str]:
    spec = case.spec
    labels = {layer.name: (activation_label(activation_config(layer.activation)),
                           f"{layer.out_features}×{layer.in_features}") for layer in spec.layers}
    lines: list[str] = []
    for semantics, e in result.enclosures.items():
        assert isinstance(e, LayeredEnclosure)
        lines += ["", f"{semantics} " + "─" * (WIDTH - len(semantics) - 1)]
        lines += _layer_lines(e, labels)
        lines += _vector_lines("latent", e.latent)
        lines += _vector_lines("output", e.output)
        lo, hi = e.reconstruction_error
        lines.append(f"  reconstruction error  [{_num(lo)}, {_num(hi)}]   width {_short(hi - lo)}")
        lines += _gradient_lines(e.gradients, tuple(e.gradients))
        for note in e.notes:
            lines += textwrap.wrap(f"note: {note}", WIDTH - 2, initial_indent="  ", subsequent_indent="    ")
    return lines


def _v1_sections(result: BoundResult) -> list[str]:
    lines: list[str] = []
    for semantics, e in result.enclosures.items():
        assert isinstance(e, Enclosure)
        lines += ["", f"{semantics} " + "─" * (WIDTH - len(semantics) - 1)]
        lines += _vector_lines("output", e.output)
        lines += _vector_lines("hidden", e.hidden)
        lo, hi = e.reconstruction_error
        lines.append(f"  reconstruction error  [{_num(lo)}, {_num(hi)}]   width {_short(hi - lo)}")
        lines += _gradient_lines(e.gradients)
        for note in e.notes:
            lines += textwrap.wrap(f"note: {note}", WIDTH - 2, initial_indent="  ", subsequent_indent="    ")
    return lines


def render_table(result: BoundResult) -> str:
    case = result.case
    lines = _header(result)
    count = len(result.boxes)
    lines += _layered_sections(result, case) if isinstance(case, LayeredCase) else _v1_sections(result)
    c = result.check
    lines += ["", "Float-run check " + "─" * (WIDTH - 16)]
    if c is None:
        if result.check_note:
            lines += textwrap.wrap(f"skipped: {result.check_note}", WIDTH - 2, initial_indent="  ",
                                   subsequent_indent="    ")
        else:
            lines.append("  skipped (--runs 0)")
        if count > 1 and isinstance(case, LayeredCase):
            lines += _boxes_lines(result)
    else:
        for fmt, f in c.formats.items():
            impls = ", ".join(f"{k} {v}" for k, v in f.implementations.items())
            closest = f"closest {_short(f.closest_ulps)} ulps ({f.closest_quantity})" if f.runs else ""
            lines.append(f"  {fmt:<8} {f.runs:>6} runs ({impls}): {f.outside} outside")
            if closest:
                lines.append(f"  {'':<8} {closest}")
            for o in f.offenders[:3]:
                lines.append(f"    OUTSIDE {o.implementation} {o.quantity}{list(o.index)} = {_num(o.value)}"
                             f" not in [{_num(o.lower)}, {_num(o.upper)}]")
        r = c.reference
        if r is not None:
            extra = f", {r.inconclusive} inconclusive" if r.inconclusive else ""
            lines.append(f"  {'real':<8} {r.points:>6} reference points ({r.kind}): {r.outside} outside{extra}")
            for o in r.offenders[:3]:
                lines.append(f"    OUTSIDE reference {o.quantity}{list(o.index)} = {_num(o.value)}"
                             f" not in [{_num(o.lower)}, {_num(o.upper)}]")
        if count > 1:
            lines += _boxes_lines(result)
        verdict = ("FAILED: a value fell outside its enclosure (a bug in verifae; please report it)"
                   if result.failed else "ok: every float run and the reference lie inside their enclosures")
        lines += ["", verdict]
    return "\n".join(lines) + "\n"
