"""From per-checkpoint metrics to the points each fitting step sees.

- Step-1 points: one per ladder run, at its final tokens D, with the mean of the last
  `k` checkpoints (5 in the paper). Runs that differ only by seed (same N and D) are one point,
  the mean of theirs.
- Step-2 points: every checkpoint of every run; per run the first ceil(10%) of
  checkpoints are dropped, then a trailing moving average (window 5; the first points
  average what exists so far) smooths each metric. (TaskCE: the first 50%, no smoothing.)
  A run with a single checkpoint keeps it: nothing is dropped, and there is nothing to average.
- A target's "actual" value: the mean of its last `k` evaluation rows.

Runs come in a canonical order (by N, final tokens, name) and checkpoints by step, so a fit
does not depend on the order of the input files or rows. The functions on arrays take a batch
of versions of one run's checkpoints (shape (B, m)), so that the points of the fit and of every
resampled ladder (`taskladder.fit.intervals`) are made by the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import run_flops


@dataclass
class Run:
    """One run's checkpoints of one task, in step order."""

    name: str
    n: float
    d: float  # tokens at the final checkpoint
    flops: float  # training compute at the final checkpoint
    steps: np.ndarray
    tokens: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)  # metric column -> one value per checkpoint

    @property
    def cell(self) -> tuple[float, float]:
        """Runs in the same cell differ only by seed."""
        return self.n, self.d


def trailing_mean(values, window: int) -> np.ndarray:
    """Trailing moving average along the last axis; point i averages values[..., max(0, i - window + 1) : i + 1]."""
    if window < 1:
        raise ValueError(f"moving-average window must be >= 1, got {window}")
    values = np.asarray(values, dtype=float)
    total = values.copy()
    count = np.ones(values.shape[-1])
    for lag in range(1, window):
        if lag >= values.shape[-1]:
            break
        total[..., lag:] += values[..., :-lag]
        count[lag:] += 1
    return total / count


def first_kept(checkpoints: int, fraction: float) -> int:
    """Index of the first checkpoint kept when the first ceil(fraction * m) are dropped (never all of them)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction of checkpoints to drop must be in [0, 1), got {fraction}")
    return min(math.ceil(fraction * checkpoints), checkpoints - 1)


def smooth(values, drop: float = 0.1, window: int = 5) -> np.ndarray:
    """Step-2 points of one run: drop the first checkpoints, then the trailing moving average (last axis)."""
    values = np.asarray(values, dtype=float)
    return trailing_mean(values[..., first_kept(values.shape[-1], drop):], window)


def final_value(values, last: int = 5) -> np.ndarray:
    """Step-1 value of one run: the mean of its last `last` checkpoints (last axis)."""
    return np.mean(np.asarray(values, dtype=float)[..., -last:], axis=-1)


def drop_first(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Drop the first ceil(fraction * len) rows (checkpoints), in step order; at least one row stays."""
    frame = frame.sort_values("step", kind="stable")
    return frame.iloc[first_kept(len(frame), fraction):]


def runs_of(metrics: pd.DataFrame, task: str, columns, steps: tuple[float, float] | None = None) -> list[Run]:
    """The runs of one task with the given metric columns, in canonical order; `steps` = (first, last)
    keeps a step range."""
    rows = metrics[metrics["task"] == task]
    if steps is not None:
        rows = rows[rows["step"].between(*steps)]
    if rows.empty:
        raise ValueError(f"no checkpoints of task '{task}'" + (f" in steps {steps}" if steps else "")
                         + " in the metrics")
    runs = []
    for name, frame in rows.groupby("run", sort=True):
        frame = frame.sort_values("step", kind="stable")
        n, d = float(frame["n"].iloc[-1]), float(frame["tokens"].iloc[-1])
        logged = frame["flops"].iloc[-1] if "flops" in frame else None
        runs.append(Run(str(name), n, d, float(run_flops(n, d, logged)), frame["step"].to_numpy(),
                        frame["tokens"].to_numpy(dtype=float),
                        {c: frame[c].to_numpy(dtype=float) for c in columns}))
    return sorted(runs, key=lambda r: (r.n, r.d, r.name))


def single_checkpoint_runs(runs: list[Run]) -> list[str]:
    return [r.name for r in runs if len(r.steps) == 1]


def cells(runs: list[Run]) -> list[list[int]]:
    """Indices of the runs of each (N, D) cell (runs that differ only by seed), in canonical order."""
    groups: dict[tuple[float, float], list[int]] = {}
    for i, r in enumerate(runs):
        groups.setdefault(r.cell, []).append(i)
    return list(groups.values())


def final_points(metrics: pd.DataFrame, task: str, columns, last: int = 5) -> pd.DataFrame:
    """One row per (N, D) cell: n, its final tokens d, its training FLOPs and the mean of `columns` over
    its last `last` checkpoints (averaged over the runs of the cell, which differ only by seed)."""
    runs = runs_of(metrics, task, columns)
    out = []
    for members in cells(runs):
        first = runs[members[0]]
        row = {"run": "+".join(runs[i].name for i in members), "n": first.n, "d": first.d,
               "flops": float(np.mean([runs[i].flops for i in members])), "seeds": len(members)}
        row.update({c: float(np.mean([final_value(runs[i].values[c], last) for i in members])) for c in columns})
        out.append(row)
    return pd.DataFrame(out)


def step2_points(metrics: pd.DataFrame, task: str, columns, drop: float = 0.1, window: int = 5,
                 steps: tuple[float, float] | None = None) -> pd.DataFrame:
    """Smoothed checkpoints of every run for one task; `steps` = (first, last) keeps a step range
    (before dropping and smoothing)."""
    parts = []
    for r in runs_of(metrics, task, columns, steps):
        k = first_kept(len(r.steps), drop)
        part = pd.DataFrame({"run": r.name, "n": r.n, "step": r.steps[k:], "tokens": r.tokens[k:]})
        for c in columns:
            part[c] = smooth(r.values[c], drop, window)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
