"""From per-checkpoint metrics to the points each fitting step sees.

- Step-1 points: one per ladder run, at its final tokens D, with the mean of the last
  `k` checkpoints (5 in the paper).
- Step-2 points: every checkpoint of every run; per run the first ceil(10%) of
  checkpoints are dropped, then a trailing moving average (window 5; the first points
  average what exists so far) smooths each metric. (TaskCE: the first 50%, no smoothing.)
- A target's "actual" value: the mean of its last `k` evaluation rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def trailing_mean(values, window: int) -> np.ndarray:
    """Trailing moving average; point i averages values[max(0, i - window + 1) : i + 1]."""
    if window < 1:
        raise ValueError(f"moving-average window must be >= 1, got {window}")
    return pd.Series(np.asarray(values, dtype=float)).rolling(window, min_periods=1).mean().to_numpy()


def drop_first(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Drop the first ceil(fraction * len) rows (checkpoints), in step order."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction of checkpoints to drop must be in [0, 1), got {fraction}")
    return frame.sort_values("step").iloc[math.ceil(fraction * len(frame)):]


def smoothed_run(frame: pd.DataFrame, columns, drop: float = 0.1, window: int = 5) -> pd.DataFrame:
    """One run's checkpoints of one task: drop the first `drop` fraction, then smooth `columns`."""
    kept = drop_first(frame, drop).copy()
    for c in columns:
        kept[c] = trailing_mean(kept[c], window)
    return kept


def step2_points(metrics: pd.DataFrame, task: str, columns, drop: float = 0.1, window: int = 5,
                 steps: tuple[float, float] | None = None) -> pd.DataFrame:
    """Smoothed checkpoints of every run for one task; `steps` = (first, last) keeps a step range
    (before dropping and smoothing)."""
    rows = metrics[metrics["task"] == task]
    if steps is not None:
        rows = rows[rows["step"].between(*steps)]
    parts = [smoothed_run(run, columns, drop, window) for _, run in rows.groupby("run", sort=False)]
    if not parts:
        raise ValueError(f"no checkpoints of task '{task}'" + (f" in steps {steps}" if steps else "")
                         + " in the metrics")
    return pd.concat(parts, ignore_index=True)


def final_points(metrics: pd.DataFrame, task: str, columns, last: int = 5) -> pd.DataFrame:
    """One row per run: n, its final tokens d, its training FLOPs (the metrics' `flops` column
    where present, else 6ND) and the mean of `columns` over its last `last` checkpoints."""
    rows = metrics[metrics["task"] == task]
    if rows.empty:
        raise ValueError(f"no checkpoints of task '{task}' in the metrics")
    out = []
    for run, frame in rows.groupby("run", sort=False):
        frame = frame.sort_values("step")
        tail = frame.tail(last)
        n, d = float(frame["n"].iloc[-1]), float(frame["tokens"].iloc[-1])
        flops = float(frame["flops"].iloc[-1]) if "flops" in frame and frame["flops"].notna().all() else 6 * n * d
        row = {"run": run, "n": n, "d": d, "flops": flops}
        row.update({c: float(tail[c].mean()) for c in columns})
        out.append(row)
    return pd.DataFrame(out)
