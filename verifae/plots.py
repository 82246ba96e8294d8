"""Plots of one `verifae bound` result document (matplotlib, Agg backend, PNG files).

Each plot stays readable at 784 dimensions: long vectors are sorted and drawn as
bands instead of 784 labelled bars, and gradient widths are heatmaps.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_outputs", "plot_latent", "plot_gradient_widths", "plot_error", "plot_verification", "PLOTS",
           "LAYERED_PLOTS", "VERIFY_CAPTION", "plots_for"]

BARS_UP_TO = 40
# No "Software: matplotlib version ..." chunk: the committed report's PNGs then change
# only when the figure does.
_METADATA = {"Software": None}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _array(values: Any) -> np.ndarray:
    """JSON endpoints as a float array, unbounded ("inf"/"-inf") and null entries as NaN
    (matplotlib leaves NaN out of a plot; infinities break its transforms)."""
    a = _raw(values)
    return np.where(np.isfinite(a), a, np.nan)


def _raw(values: Any) -> np.ndarray:
    """JSON endpoints as a float array keeping ±inf (unbounded); null as NaN."""
    convert = lambda v: np.nan if v is None else float(v)  # noqa: E731
    return np.vectorize(convert, otypes=[float])(np.asarray(values, dtype=object))


def _limits(arrays: list[np.ndarray], pad: float = 0.08) -> tuple[float, float]:
    """Axis limits from the finite values only, so that one unbounded enclosure does
    not squash every finite one into a line."""
    finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays] + [np.zeros(0)])
    if finite.size == 0:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo if hi > lo else (abs(hi) * 0.1 or 1.0)
    return lo - pad * span, hi + pad * span


UNBOUNDED = "#c62828"
UNBOUNDED_LABEL = "unbounded (may overflow)"


def _shown(doc: dict) -> str:
    """The enclosure to draw: float32 (what PyTorch runs) if present, else the first."""
    return "float32" if "float32" in doc["enclosures"] else next(iter(doc["enclosures"]))


def _clipped(b: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper endpoints with the unbounded ones at the axis edges."""
    return np.where(np.isneginf(b[:, 0]), lo, b[:, 0]), np.where(np.isposinf(b[:, 1]), hi, b[:, 1])


def plot_outputs(doc: dict, path: Path) -> None:
    """(a) Each output coordinate's enclosures (float32 and real, where present), with the
    range the float runs reached inside them. An unbounded enclosure is a hatched band
    to the axis edge with an arrow; the axis fits the finite values."""
    _plot_intervals(doc, path, "output", ("float32", "real"), "x_hat")


def plot_latent(doc: dict, path: Path) -> None:
    """(d) Each latent coordinate's enclosure in every semantics of the result (float32,
    float64 and real, where present), drawn as `plot_outputs` draws the outputs, with the
    range the float runs reached where the check records it. A layered result (v2)."""
    _plot_intervals(doc, path, "latent", ("float32", "float64", "real"), "latent")


def _plot_intervals(doc: dict, path: Path, quantity: str, semantics: tuple[str, ...], ylabel: str) -> None:
    """A vector quantity's enclosures, coordinate by coordinate, in each of `semantics`
    present (drawn in that order, widest first), with the float runs' range."""
    plt = _pyplot()
    shown = [s for s in semantics if s in doc["enclosures"]] or [next(iter(doc["enclosures"]))]
    colors = {"float32": "#c6dbef", "real": "#6baed6", "float64": "#9ecae1"}
    bounds = {s: _raw(doc["enclosures"][s][quantity]) for s in shown}
    checks = doc.get("float_check") or {}
    check = checks.get("float32") or checks.get("float64")
    seen = None
    if check and quantity in check.get("observed", {}):
        seen = np.stack([_array(check["observed"][quantity]["min"]), _array(check["observed"][quantity]["max"])], -1)
    first = bounds[shown[0]]
    d = first.shape[0]
    lo_lim, hi_lim = _limits(list(bounds.values()) + ([seen] if seen is not None else []))
    span = hi_lim - lo_lim
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    unbounded_drawn = False
    if d <= BARS_UP_TO:
        x = np.arange(d)
        for k, (s, b) in enumerate(bounds.items()):
            width = 0.6 - 0.2 * k
            finite = np.isfinite(b).all(axis=1)
            if finite.any():
                ax.bar(x[finite], (b[finite, 1] - b[finite, 0]), bottom=b[finite, 0], width=width,
                       color=colors.get(s, "#c6dbef"), edgecolor="#3182bd", label=f"{s} enclosure")
            # A zero-width bar is invisible: a thick tick marks a (nearly) point enclosure.
            thin = finite & (b[:, 1] - b[:, 0] < 0.006 * span)
            if thin.any():
                ax.hlines((b[thin, 0] + b[thin, 1]) / 2, x[thin] - width / 2, x[thin] + width / 2,
                          color="#3182bd", linewidth=2)
            unbounded = np.isinf(b).any(axis=1) & ~np.isnan(b).any(axis=1)
            if unbounded.any():
                lo, hi = _clipped(b[unbounded], lo_lim, hi_lim)
                ax.bar(x[unbounded], hi - lo, bottom=lo, width=width, color="none", edgecolor=UNBOUNDED,
                       hatch="///", linewidth=1.2, label=f"{s} enclosure {UNBOUNDED_LABEL}")
                for xi, row in zip(x[unbounded], b[unbounded]):
                    if np.isposinf(row[1]):
                        ax.annotate("", xy=(xi, hi_lim), xytext=(xi, hi_lim - 0.18 * span),
                                    arrowprops=dict(arrowstyle="-|>", color=UNBOUNDED, lw=1.5))
                    if np.isneginf(row[0]):
                        ax.annotate("", xy=(xi, lo_lim), xytext=(xi, lo_lim + 0.18 * span),
                                    arrowprops=dict(arrowstyle="-|>", color=UNBOUNDED, lw=1.5))
                unbounded_drawn = True
        if seen is not None:
            ok = np.isfinite(seen).all(axis=1)
            if ok.any():
                ax.bar(x[ok], seen[ok, 1] - seen[ok, 0], bottom=seen[ok, 0], width=0.12, color="#08306b",
                       label="float runs (min to max)")
        ax.set_xticks(x if d <= 20 else x[:: max(1, d // 10)])
        ax.set_xlabel(f"{quantity} coordinate")
    else:
        order = np.argsort(np.nan_to_num((first[:, 0] + first[:, 1]) / 2, posinf=hi_lim, neginf=lo_lim))
        x = np.arange(d)
        for s, b in bounds.items():
            b = b[order]
            finite = np.isfinite(b).all(axis=1)
            ax.fill_between(x, np.where(finite, b[:, 0], np.nan), np.where(finite, b[:, 1], np.nan),
                            color=colors.get(s, "#c6dbef"), step="mid", label=f"{s} enclosure")
            unbounded = np.isinf(b).any(axis=1) & ~np.isnan(b).any(axis=1)
            if unbounded.any():
                lo, hi = _clipped(b, lo_lim, hi_lim)
                ax.fill_between(x, np.where(unbounded, lo, np.nan), np.where(unbounded, hi, np.nan), step="mid",
                                facecolor="none", edgecolor=UNBOUNDED, hatch="///", linewidth=0,
                                label=f"{s} enclosure {UNBOUNDED_LABEL}")
                unbounded_drawn = True
        if seen is not None:
            ax.fill_between(x, seen[order, 0], seen[order, 1], color="#08306b", step="mid",
                            label="float runs (min to max)")
        ax.set_xlabel(f"{quantity} coordinate, sorted by enclosure midpoint ({d} coordinates)")
    ax.set_ylim(lo_lim, hi_lim)
    ax.set_ylabel(ylabel)
    title = f"{doc['case']}: {quantity} enclosures (method {doc.get('method', '?')})"
    ax.set_title(title + ("\nhatched: unbounded, the arrow points to the side without a bound" if unbounded_drawn
                          else ""), fontsize=11 if unbounded_drawn else 12)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata=_METADATA)
    plt.close(fig)


#: a layered result's gradient heatmaps: every layer's weight up to this many layers,
#: else the first and last LAYER_PANELS // 2
LAYER_PANELS = 6


def _weight_gradients(doc: dict) -> list[tuple[str, str]]:
    """(gradient key, panel title word) of the heatmaps: W_enc and W_dec for a v1 result;
    each layer's weight for a layered one (at most LAYER_PANELS: the first and the last)."""
    if "architecture" not in doc:
        return [("W_enc", "dW_enc"), ("W_dec", "dW_dec")]
    names = [layer["name"] for layer in doc["architecture"]]
    if len(names) > LAYER_PANELS:
        names = names[: LAYER_PANELS // 2] + names[-(LAYER_PANELS // 2):]
    return [(f"{n}.weight", f"d {n}.weight") for n in names]


def plot_gradient_widths(doc: dict, path: Path) -> None:
    """(b) Heatmaps of the enclosure width of the W_enc and W_dec gradients (of each
    layer's weight for a layered result); unbounded entries are hatched grey cells,
    zero widths white."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    semantics = _shown(doc)
    grads = doc["enclosures"][semantics]["gradients"]
    panels = _weight_gradients(doc)
    columns = min(len(panels), 3) if len(panels) > 2 else 2
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(9, 3.6 * rows if rows == 1 else 3.0 * rows), dpi=100,
                             squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    any_unbounded = False
    for ax, (key, label) in zip(axes.ravel(), panels):
        b = _raw(grads[key])
        if b.size == 0:
            ax.set_title(f"{label}: empty")
            ax.axis("off")
            continue
        width = b[..., 1] - b[..., 0]
        unbounded = np.isinf(width)
        positive = width[np.isfinite(width) & (width > 0)]
        spread = positive.size and positive.max() > positive.min()
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if spread else None
        shown = np.where(np.isfinite(width) & (width > 0), width, np.nan)
        image = ax.imshow(shown, aspect="auto", interpolation="nearest", cmap="viridis", norm=norm)
        if positive.size:
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        if unbounded.any():
            any_unbounded = True
            # Grey cells; hatched too where there are few enough to draw one by one.
            ax.imshow(np.where(unbounded, 1.0, np.nan), aspect="auto", interpolation="nearest", cmap="Greys",
                      vmin=0, vmax=4)
            if unbounded.sum() <= 2000:
                from matplotlib.patches import Rectangle

                for r, c in zip(*np.nonzero(unbounded)):
                    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="///", edgecolor=UNBOUNDED,
                                           linewidth=0))
            if unbounded.all():
                ax.text(0.5, 0.5, f"every entry {UNBOUNDED_LABEL}", transform=ax.transAxes, ha="center",
                        va="center", color=UNBOUNDED, fontsize=9, bbox=dict(facecolor="white", edgecolor=UNBOUNDED))
        ax.set_title(f"width of {label} ({width.shape[0]}×{width.shape[1]})", fontsize=10)
        for axis, n in ((ax.xaxis, width.shape[1]), (ax.yaxis, width.shape[0])):
            if n <= 12:
                axis.set_ticks(range(n))
            else:
                axis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.suptitle(f"{doc['case']}: gradient enclosure widths ({semantics})", fontsize=11)
    if any_unbounded:
        fig.legend(handles=[Patch(facecolor="#cccccc", edgecolor=UNBOUNDED, hatch="///",
                                  label=UNBOUNDED_LABEL)], loc="lower center", fontsize=8, frameon=False)
    bottom = 0.07 if any_unbounded else 0.0
    if len(panels) > 2:
        # A grid of layers: fixed margins (tight_layout costs a second over six colorbars)
        fig.subplots_adjust(left=0.05, right=0.9, top=0.9, bottom=0.1 + bottom / rows, wspace=0.7, hspace=0.6)
    elif any_unbounded:
        fig.tight_layout(rect=(0, bottom, 1, 1))
    else:
        fig.tight_layout()
    fig.savefig(path, metadata=_METADATA)
    plt.close(fig)


def plot_error(doc: dict, path: Path) -> None:
    """(c) The reconstruction-error intervals against a histogram of sampled errors. An
    unbounded interval is a hatched bar to the axis edge with an arrow."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    samples: list[float] = []
    for fmt in ("float64", "float32"):
        check = (doc.get("float_check") or {}).get(fmt)
        if check and check.get("error_samples"):
            samples = [v for v in check["error_samples"] if v is not None and np.isfinite(v)]
            break
    if samples:
        ax.hist(samples, bins=40, color="#fdae6b", edgecolor="#e6550d", label="sampled float runs")
    top = ax.get_ylim()[1] if samples else 1.0
    intervals = {s: _raw(e["reconstruction_error"]) for s, e in doc["enclosures"].items()}
    lo_lim, hi_lim = _limits(list(intervals.values()) + [np.asarray(samples, dtype=float)], pad=0.04)
    colors = {"real": "#31a354", "float64": "#3182bd", "float32": "#756bb1"}
    for k, (semantics, (lo, hi)) in enumerate(intervals.items()):
        if np.isnan(lo) or np.isnan(hi):
            continue
        y = top * (1.05 + 0.08 * k)
        color = colors.get(semantics, "k")
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [y, y], color=color, linewidth=3, label=f"{semantics} enclosure")
            ax.plot([lo, hi], [y, y], "|", color=color, markersize=12)
            continue
        start = lo if np.isfinite(lo) else lo_lim
        end = hi if np.isfinite(hi) else hi_lim
        ax.fill_between([start, end], y - top * 0.025, y + top * 0.025, facecolor="none", edgecolor=UNBOUNDED,
                        hatch="///", linewidth=0.8, label=f"{semantics} enclosure {UNBOUNDED_LABEL}")
        if np.isposinf(hi):
            ax.annotate("", xy=(hi_lim, y), xytext=(hi_lim - 0.12 * (hi_lim - lo_lim), y),
                        arrowprops=dict(arrowstyle="-|>", color=UNBOUNDED, lw=1.5))
        if np.isneginf(lo):
            ax.annotate("", xy=(lo_lim, y), xytext=(lo_lim + 0.12 * (hi_lim - lo_lim), y),
                        arrowprops=dict(arrowstyle="-|>", color=UNBOUNDED, lw=1.5))
        if np.isfinite(lo):
            ax.plot([lo], [y], "|", color=UNBOUNDED, markersize=12)
    ax.set_xlim(lo_lim, hi_lim)
    ax.set_ylim(0, top * (1.05 + 0.08 * len(intervals) + 0.08))
    ax.set_xlabel("reconstruction error E = mean((x_hat − x)²)")
    ax.set_ylabel("runs")
    ax.set_title(f"{doc['case']}: reconstruction error")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata=_METADATA)
    plt.close(fig)


VERIFY_CAPTION = ("Certified fraction against eps (the share of the boxes around the centers proved) and against "
                  "the threshold (the share of the case's boxes whose tightest proved threshold meets it; dashed: "
                  "the share the float64 runs do not refute, a limit no proof can pass)")


def _share(ends: np.ndarray, tau: np.ndarray, upper: bool, n: int) -> np.ndarray:
    """For each τ, the share of the n boxes whose end is at most τ (`upper`) or at least τ."""
    hits = ends[None, :] <= tau[:, None] if upper else ends[None, :] >= tau[:, None]
    return hits.sum(axis=1) / n


def plot_verification(section: dict, path: Path, name: str) -> None:
    """The certified fraction of a report's verification section (`report.verification`):
    against eps (when the case sweeps eps), and against the threshold τ from the tightest
    threshold proved per box, beside the share of boxes whose float64 runs stay within
    τ (the true certified fraction lies between the two curves)."""
    plt = _pyplot()
    sweep = any(p["eps"] for p in section["properties"])
    fig, axes = plt.subplots(1, 2 if sweep else 1, figsize=(9, 3.4), dpi=100, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lines = [(p, S) for p in section["properties"] for S in section["semantics"]]
    if sweep:
        ax = axes[0, 0]
        for k, (p, S) in enumerate(lines):
            eps = [float(Fraction(row["eps"])) for row in p["eps"]]
            proved = [row["counts"][S]["proved"] / section["centers"] for row in p["eps"]]
            violated = [row["counts"][S]["violated"] / section["centers"] for row in p["eps"]]
            color = colors[k % len(colors)]
            ax.plot(eps, proved, "o-", color=color, label=f"{p['property']} ({S}) proved")
            if any(violated):
                ax.plot(eps, [1 - v for v in violated], "x:", color=color, label=f"{p['property']} ({S}) not violated")
        ax.set_xlabel("eps (L∞ radius around each center)")
        ax.set_ylabel("certified fraction")
        ax.set_ylim(-0.04, 1.04)
        ax.set_title("against eps", fontsize=10)
        ax.legend(loc="best", fontsize=7)
    ax = axes[0, -1]
    for k, (p, S) in enumerate(lines):
        upper = p["sense"] == "<="
        tightest = np.sort(_raw([box[S]["tightest"] for box in p["boxes"]]))
        seen = np.sort(_raw([box[S]["seen"] for box in p["boxes"]]))
        finite = np.concatenate([tightest[np.isfinite(tightest)], seen[np.isfinite(seen)]])
        if finite.size == 0:
            continue
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
        tau = np.linspace(lo - pad, hi + pad, 400)
        n = len(p["boxes"])
        # `value <= tightest` is proved on a box, so `value <= τ` is for every τ >= tightest
        # (for >=: every τ <= tightest); the runs refute every τ beyond `seen`.
        color = colors[k % len(colors)]
        quantity = p["property"].split(p["sense"])[0]
        ax.plot(tau, _share(tightest, tau, upper, n), "-", color=color, label=f"{quantity}{p['sense']}τ ({S}) proved")
        ax.plot(tau, _share(seen, tau, upper, n), "--", color=color, label=f"{quantity}{p['sense']}τ ({S}) not "
                                                                          "refuted by the float64 runs")
    ax.set_xlabel("threshold τ")
    ax.set_ylabel("certified fraction")
    ax.set_ylim(-0.04, 1.04)
    ax.set_title(f"against the threshold, over the case's {section['boxes']} boxes", fontsize=10)
    ax.legend(loc="best", fontsize=7)
    fig.suptitle(f"{name}: certified fraction", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, metadata=_METADATA)
    plt.close(fig)


#: suffix -> (function, caption): the plots of a v1 result
PLOTS = {
    "outputs": (plot_outputs, "Output enclosures (float32 and real), with the range the float runs reached inside"),
    "gradients": (plot_gradient_widths, "Enclosure widths of the W_enc and W_dec gradients"),
    "error": (plot_error, "Reconstruction-error intervals against sampled errors"),
}

#: the plots of a layered result (v2): the latent enclosures too, and every layer's weight gradient
LAYERED_PLOTS = {
    "outputs": PLOTS["outputs"],
    "latent": (plot_latent, "Latent enclosures (float32, float64 and real), coordinate by coordinate"),
    "gradients": (plot_gradient_widths, "Enclosure widths of the weight gradients, layer by layer "
                                        f"(the first and last {LAYER_PANELS // 2} of deeper models)"),
    "error": PLOTS["error"],
}


def plots_for(doc: dict) -> dict:
    """The plots of a result document: `LAYERED_PLOTS` for a layered result, else `PLOTS`."""
    return LAYERED_PLOTS if "architecture" in doc else PLOTS
