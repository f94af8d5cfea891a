"""What every figure shares: colours, labels, panel grids, axis limits, legends, accuracy in percent, saving.

Figures show accuracy in percent, as the tables of the report do (the CSV files keep fractions: the axes
carry fractions and label them x100). Every colour has a legend, drawn outside the panels (no annotation
covers data); panels are laid out by matplotlib's constrained layout, which makes room for it."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from taskladder.base.files import atomic_path  # noqa: E402

TARGET_COLOR = "#d62728"


FLAG_COLOR = "#b35806"


LABELS = {"task_loss": "task loss (bpb)", "task_ce": "TaskCE (nats)", "lm_loss": "LM loss (nats/token)"}


def _grid(n: int, width: float = 3.6, height: float = 3.0, legend: float = 0.0):
    """`n` panels, at most 4 a row; `legend`: inches to the right for a figure legend."""
    cols = min(4, max(n, 1))
    rows = math.ceil(max(n, 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + legend, height * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _colors(ns):
    ns = sorted(set(ns))
    cmap = plt.get_cmap("viridis")
    return {n: cmap(i / max(1, len(ns) - 1) * 0.85) for i, n in enumerate(ns)}


def _size(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def percent_axis(ax, axis: str = "y", label: str | None = "accuracy (%)") -> None:
    """An accuracy axis (data in fractions) labelled in percent, as the report's tables show it."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    # 0.725 -> '72.5' (6 digits: no float residue); one formatter per axis, as matplotlib wants
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{100 * value:.6g}"))
    if label is not None:
        (ax.set_ylabel if axis == "y" else ax.set_xlabel)(label)


def size_handles(colors: dict, marker: bool = False) -> list:
    """Legend entries of the model sizes' colours (lines, or markers for point clouds)."""
    if marker:
        return [Line2D([], [], ls="none", marker="o", ms=5, color=c, label=_size(n)) for n, c in colors.items()]
    return [Line2D([], [], color=c, lw=1.5, label=_size(n)) for n, c in colors.items()]


def target_handles() -> list:
    return [Line2D([], [], ls="none", marker="*", ms=10, markerfacecolor="white", markeredgecolor=TARGET_COLOR,
                   label="target predicted (interval)"),
            Line2D([], [], ls="none", marker="o", ms=5, color=TARGET_COLOR, label="target actual")]


def figure_legend(fig, handles: list, title: str | None = None) -> None:
    """One legend for every panel, outside them (right of the panels, top)."""
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, title=title, title_fontsize=8,
               ncol=2 if len(handles) > 16 else 1, frameon=False)


def _limits(*arrays, pad: float = 0.08, log: bool = False):
    """Axis limits around every finite value given (data, targets, intervals)."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays if a is not None])
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not len(values):
        return None
    lo, hi = values.min(), values.max()
    if log:
        return lo / (hi / lo) ** pad, hi * (hi / lo) ** pad
    span = (hi - lo) or abs(hi) or 1.0
    return lo - pad * span, hi + pad * span


def _clipped(y, limits):
    """A curve with the points outside the axis limits left out (so it stops at the panel's edge)."""
    y = np.asarray(y, dtype=float).copy()
    if limits is not None:
        y[(y < limits[0]) | (y > limits[1])] = np.nan
    return y


def _nothing_to_draw(path, message: str, format="png", dpi=130) -> None:
    """A figure that says why it is empty (a ladder too small for an analysis), so the workflow still completes."""
    fig, ax = plt.subplots(figsize=(6.0, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, wrap=True)
    _save(fig, path, format, dpi)


def _save(fig, path, format="png", dpi=130):
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=format)
    plt.close(fig)
