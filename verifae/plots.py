"""Plots of one `verifae bound` result document (matplotlib, Agg backend, PNG files).

Each plot stays readable at 784 dimensions: long vectors are sorted and drawn as
bands instead of 784 labelled bars, and gradient widths are heatmaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_outputs", "plot_gradient_widths", "plot_error", "PLOTS"]

BARS_UP_TO = 40


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _array(values: Any) -> np.ndarray:
    """JSON endpoints as a float array, unbounded ("inf"/"-inf") and null entries as NaN
    (matplotlib leaves NaN out of a plot; infinities break its transforms)."""
    convert = lambda v: np.nan if v is None else float(v)  # noqa: E731
    a = np.vectorize(convert, otypes=[float])(np.asarray(values, dtype=object))
    return np.where(np.isfinite(a), a, np.nan)


def _shown(doc: dict) -> str:
    """The enclosure to draw: float32 (what PyTorch runs) if present, else the first."""
    return "float32" if "float32" in doc["enclosures"] else next(iter(doc["enclosures"]))


def plot_outputs(doc: dict, path: Path) -> None:
    """(a) Each output coordinate's enclosures (float32 and real, where present), with the
    range the float runs reached inside them."""
    plt = _pyplot()
    shown = [s for s in ("float32", "real") if s in doc["enclosures"]] or [next(iter(doc["enclosures"]))]
    colors = {"float32": "#c6dbef", "real": "#6baed6", "float64": "#9ecae1"}
    bounds = {s: _array(doc["enclosures"][s]["output"]) for s in shown}
    checks = doc.get("float_check") or {}
    check = checks.get("float32") or checks.get("float64")
    seen = None
    if check and "output" in check.get("observed", {}):
        seen = np.stack([_array(check["observed"]["output"]["min"]), _array(check["observed"]["output"]["max"])], -1)
    first = bounds[shown[0]]
    d = first.shape[0]
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    if d <= BARS_UP_TO:
        x = np.arange(d)
        for k, (s, b) in enumerate(bounds.items()):
            ax.bar(x, b[:, 1] - b[:, 0], bottom=b[:, 0], width=0.6 - 0.2 * k, color=colors.get(s, "#c6dbef"),
                   edgecolor="#3182bd", label=f"{s} enclosure")
        if seen is not None:
            ax.bar(x, seen[:, 1] - seen[:, 0], bottom=seen[:, 0], width=0.12, color="#08306b",
                   label="float runs (min to max)")
        ax.set_xticks(x if d <= 20 else x[:: max(1, d // 10)])
        ax.set_xlabel("output coordinate")
    else:
        order = np.argsort(np.nan_to_num((first[:, 0] + first[:, 1]) / 2))
        x = np.arange(d)
        for s, b in bounds.items():
            ax.fill_between(x, b[order, 0], b[order, 1], color=colors.get(s, "#c6dbef"), step="mid",
                            label=f"{s} enclosure")
        if seen is not None:
            ax.fill_between(x, seen[order, 0], seen[order, 1], color="#08306b", step="mid",
                            label="float runs (min to max)")
        ax.set_xlabel(f"output coordinate, sorted by enclosure midpoint ({d} coordinates)")
    ax.margins(y=0.08)
    ax.set_ylabel("x_hat")
    ax.set_title(f"{doc['case']}: output enclosures (method {doc.get('method', '?')})")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_gradient_widths(doc: dict, path: Path) -> None:
    """(b) Heatmaps of the enclosure width of the W_enc and W_dec gradients."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator

    semantics = _shown(doc)
    grads = doc["enclosures"][semantics]["gradients"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    for ax, name in zip(axes, ("W_enc", "W_dec")):
        b = _array(grads[name])
        if b.size == 0:
            ax.set_title(f"d{name}: empty")
            ax.axis("off")
            continue
        width = b[..., 1] - b[..., 0]
        positive = width[np.isfinite(width) & (width > 0)]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size and positive.max() > positive.min() else None
        shown = np.where(np.isfinite(width) & (width > 0), width, np.nan)
        image = ax.imshow(shown, aspect="auto", interpolation="nearest", cmap="viridis", norm=norm)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(f"width of d{name} ({width.shape[0]}×{width.shape[1]})", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.suptitle(f"{doc['case']}: gradient enclosure widths ({semantics})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_error(doc: dict, path: Path) -> None:
    """(c) The reconstruction-error intervals against a histogram of sampled errors."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    samples = []
    for fmt in ("float64", "float32"):
        check = (doc.get("float_check") or {}).get(fmt)
        if check and check.get("error_samples"):
            samples = [v for v in check["error_samples"] if v is not None]
            break
    if samples:
        ax.hist(samples, bins=40, color="#fdae6b", edgecolor="#e6550d", label="sampled float runs")
    top = ax.get_ylim()[1] if samples else 1.0
    colors = {"real": "#31a354", "float64": "#3182bd", "float32": "#756bb1"}
    for k, (semantics, e) in enumerate(doc["enclosures"].items()):
        lo, hi = _array(e["reconstruction_error"])
        if np.isnan(lo) or np.isnan(hi):  # unbounded: nothing to draw
            continue
        y = top * (1.05 + 0.08 * k)
        ax.plot([lo, hi], [y, y], color=colors.get(semantics, "k"), linewidth=3, label=f"{semantics} enclosure")
        ax.plot([lo, hi], [y, y], "|", color=colors.get(semantics, "k"), markersize=12)
    ax.set_xlabel("reconstruction error E = mean((x_hat − x)²)")
    ax.set_ylabel("runs")
    ax.set_title(f"{doc['case']}: reconstruction error")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


#: suffix -> (function, caption)
PLOTS = {
    "outputs": (plot_outputs, "Output enclosures (float32 and real), with the range the float runs reached inside"),
    "gradients": (plot_gradient_widths, "Enclosure widths of the W_enc and W_dec gradients"),
    "error": (plot_error, "Reconstruction-error intervals against sampled errors"),
}
