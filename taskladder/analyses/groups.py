"""Comparing groups (data recipes): which one will be best at the target scale?

Each group's ladder is fitted separately with the same methods; the predictions of every group
(predictions.csv rows with a `group` column) are compared per method, target and task:

- `rank_groups`: the groups ordered by predicted accuracy (rank 1 = best), with their intervals
  (`pred_lo`, `pred_hi`) where the predictions have them, and the actual accuracy and rank where
  the target was measured.
- `decision_accuracy`: the share of pairs of groups whose predicted order equals their actual
  order (Magnusson et al. 2025, DataDecide). A pair tied in actual accuracy has no order to get
  right and is left out; a pair tied in prediction counts as wrong. NaN when no pair has an order.
- `group_comparison`: both, one row per (method, target, task, group).
- `compare`: `group_comparison` at every target (source "target"), and at the ladder's own largest size
  predicted from its smaller ones (source "backtest": the backtests' last holdout; each (N, D) cell of that size
  is a target named by its N and D, and its runs' mean is the actual), where the decision accuracy is always
  measured. analyses/group_comparison.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ("method", "target", "task")


def decision_accuracy(predicted, actual) -> tuple[float, int]:
    """(share of ordered pairs whose predicted order is right, number of such pairs); groups without an actual
    or a prediction (NaN) are left out."""
    p, a = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    keep = ~(np.isnan(p) | np.isnan(a))
    p, a = p[keep], a[keep]
    i, j = np.triu_indices(len(p), k=1)
    order = np.sign(a[i] - a[j])
    ordered = order != 0
    if not ordered.any():
        return float("nan"), 0
    right = np.sign(p[i] - p[j])[ordered] == order[ordered]
    return float(right.mean()), int(ordered.sum())


def _keys(predictions: pd.DataFrame) -> list[str]:
    missing = [c for c in ("target", "task", "group", "pred_acc") if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions: missing column(s) {missing}; comparing groups needs target, task, group "
                         "and pred_acc")
    keys = [k for k in KEYS if k in predictions.columns]
    dup = predictions.duplicated([*keys, "group"])
    if dup.any():
        row = predictions[dup].iloc[0]
        raise ValueError(f"predictions: group '{row['group']}' appears twice for "
                         + ", ".join(f"{k} '{row[k]}'" for k in keys))
    return keys


def rank_groups(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (method, target, task): the groups by predicted accuracy, best first. Columns: the keys, group, rank
    (1 = best; tied predictions share the better rank), pred_acc, and where present pred_lo, pred_hi and
    `above_next` (the interval lies wholly above the next group's: the intervals order them), actual_acc and
    actual_rank."""
    keys = _keys(predictions)
    interval = {"pred_lo", "pred_hi"} <= set(predictions.columns)
    actual = "actual_acc" in predictions.columns
    columns = [*keys, "group", "pred_acc", *(["pred_lo", "pred_hi"] if interval else []),
               *(["actual_acc"] if actual else [])]
    frames = []
    for _, rows in predictions[columns].groupby(keys, sort=True):
        rows = rows.sort_values(["pred_acc", "group"], ascending=[False, True], kind="stable")
        rows.insert(len(keys) + 1, "rank", rows["pred_acc"].rank(ascending=False, method="min").astype("Int64"))
        if interval:
            above = rows["pred_lo"].to_numpy()[:-1] > rows["pred_hi"].to_numpy()[1:]
            rows["above_next"] = pd.array([*above, pd.NA], dtype="boolean")
        if actual:
            rows["actual_rank"] = rows["actual_acc"].rank(ascending=False, method="min").astype("Int64")
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def group_comparison(predictions: pd.DataFrame) -> pd.DataFrame:
    """`rank_groups` with, per (method, target, task), the decision accuracy over the groups with actuals and
    the number of ordered pairs it counts (columns decision_accuracy, pairs; NaN and 0 without actuals)."""
    ranked = rank_groups(predictions)
    if "actual_acc" not in ranked.columns:
        return ranked.assign(decision_accuracy=np.nan, pairs=0)
    keys = [k for k in KEYS if k in ranked.columns]
    scores = pd.DataFrame([(*key, *decision_accuracy(rows["pred_acc"], rows["actual_acc"]))
                           for key, rows in ranked.groupby(keys, sort=False)],
                          columns=[*keys, "decision_accuracy", "pairs"])
    return ranked.merge(scores, on=keys, how="left")


def cell_name(n: float, d: float) -> str:
    """A backtest cell as a target's name: its N and D (e.g. 'N=1.28e+09, D=2.56e+10')."""
    return f"N={n:.3g}, D={d:.3g}"


def largest_size(backtest: pd.DataFrame) -> pd.DataFrame:
    """The backtests of each group's largest model size from the origin fitted on every other size, as predictions:
    one row per (method, group, task, cell of N and D) with the mean prediction, interval and actual over the cell's
    runs (seeds)."""
    rows = backtest[backtest["n"] == backtest.groupby("group")["n"].transform("max")]
    rows = rows[rows["fitted_max_n"] == rows.groupby("group")["fitted_max_n"].transform("max")]
    rows = rows.assign(target=[cell_name(n, d) for n, d in zip(rows["n"], rows["d"])])
    cells = rows.groupby(["method", "group", "task", "target"], sort=True)[["n", "d", "pred", "lo", "hi", "actual"]]
    return cells.mean().reset_index().rename(columns={"pred": "pred_acc", "lo": "pred_lo", "hi": "pred_hi",
                                                      "actual": "actual_acc"})


def compare(predictions: pd.DataFrame, backtest: pd.DataFrame) -> pd.DataFrame:
    """The groups ranked with decision accuracy at every target and at the ladder's largest size (`source`), with
    each target's N and D."""
    parts = [(predictions, "target")] + ([(largest_size(backtest), "backtest")] if len(backtest) else [])
    table = pd.concat([group_comparison(p).merge(p[["target", "n", "d"]].drop_duplicates("target"), on="target")
                       .assign(source=source) for p, source in parts], ignore_index=True)
    return table[["source", *[c for c in table.columns if c != "source"]]]
