"""What every figure shares: colours, labels, panel grids, axis limits, saving."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from taskladder.base.files import atomic_path  # noqa: E402

TARGET_COLOR = "#d62728"


FLAG_COLOR = "#b35806"


LABELS = {"task_loss": "task loss (bpb)", "task_ce": "TaskCE (nats)", "lm_loss": "LM loss (nats/token)"}


def _grid(n: int, width: float = 3.6, height: float = 3.0):
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=format)
    plt.close(fig)
