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
- `group_ranking`: the answer, one row per (method, target, task): the winning group, its margin in points over
  the runner-up, the share of draws in which it wins (draw i of every group compared), and the decision accuracy
  on backtests; groups that cannot be predicted there (at chance, not fitted, only bounded) left out with a note.
  analyses/group_ranking.csv.
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


# ---- the ranking's answer: which group wins, by how much, how sure ----------------------------------------------

# flags that leave a group out of the ranking: no prediction to rank (at chance, not fitted), or only a bound (the
# ladder shows no trend: pred_acc is the ladder's best accuracy plus the half-width, not a prediction)
UNPREDICTABLE = ("at_chance", "not_fitted", "bounded")
RANKING_COLUMNS = ["method", "target", "task", "winner", "runner_up", "winner_acc", "runner_up_acc", "margin_points",
                   "win_share", "draws", "ranked", "left_out", "winner_flags", "decision_accuracy", "pairs",
                   "backtest_decision_accuracy", "backtest_pairs", "note"]


def _left_out(row) -> str | None:
    """Why a group's prediction cannot be ranked (its flag at_chance, not_fitted or bounded, or no prediction); None:
    it can."""
    flags = row.get("flags")
    named = [f for f in UNPREDICTABLE if isinstance(flags, str) and f in flags.split(";")]
    if named:
        return named[0]
    return "no prediction" if pd.isna(row["pred_acc"]) else None


def win_share(draws: pd.DataFrame, winner: str) -> tuple[float, int]:
    """(share of draws in which `winner` is strictly above every other group, number of draws compared). `draws`: one
    row per draw index, one column per ranked group (draw i of each group is a resample of that group's own ladder);
    a draw where a group has no value is left out. (NaN, 0) without draws."""
    complete = draws.dropna()
    if complete.empty or winner not in complete.columns or complete.shape[1] < 2:
        return float("nan"), 0
    others = complete.drop(columns=winner).max(axis=1)
    return float((complete[winner] > others).mean()), len(complete)


def target_order(predictions: pd.DataFrame) -> list[str]:
    """Targets by compute where n and d are known (else as they come)."""
    first = predictions.drop_duplicates("target")
    if {"n", "d"} <= set(first.columns):
        first = first.assign(_c=first["n"].astype(float) * first["d"].astype(float)).sort_values("_c", kind="stable")
    return first["target"].tolist()


def _draws_by_key(draws: pd.DataFrame | None) -> dict:
    if draws is None or draws.empty:
        return {}
    missing = [c for c in ("method", "target", "task", "group", "draw", "pred_acc") if c not in draws.columns]
    if missing:
        raise ValueError(f"draws: missing column(s) {missing}; comparing groups draw by draw needs method, target, "
                         "task, group, draw and pred_acc")
    dup = draws.duplicated(["method", "target", "task", "group", "draw"])
    if dup.any():
        r = draws[dup].iloc[0]
        raise ValueError(f"draws: draw {r['draw']} of group '{r['group']}' appears twice for method '{r['method']}', "
                         f"target '{r['target']}', task '{r['task']}'")
    return {key: rows.pivot(index="draw", columns="group", values="pred_acc")
            for key, rows in draws.groupby(["method", "target", "task"], sort=False)}


def _backtest_scores(compared: pd.DataFrame | None) -> pd.DataFrame:
    """Per (method, task): the decision accuracy of the ladder's largest size predicted from its smaller ones, over
    every backtest cell of that size (pairs pooled), and the number of pairs."""
    if compared is None or "source" not in compared or not (compared["source"] == "backtest").any():
        return pd.DataFrame(columns=["method", "task", "backtest_decision_accuracy", "backtest_pairs"])
    cells = compared[compared["source"] == "backtest"].drop_duplicates(["method", "target", "task"])
    cells = cells[cells["pairs"] > 0]
    right = (cells["decision_accuracy"] * cells["pairs"]).groupby([cells["method"], cells["task"]]).sum()
    pairs = cells.groupby(["method", "task"])["pairs"].sum()
    return pd.DataFrame({"backtest_decision_accuracy": right / pairs, "backtest_pairs": pairs}).reset_index()


def _rank_cell(cell: pd.DataFrame, draws: pd.DataFrame | None) -> dict:
    """The ranking of one (method, target, task): the groups' predictions in `cell`, their `draws` (a column per
    group) where there are any."""
    reasons = {r["group"]: _left_out(r) for _, r in cell.iterrows()}
    out = {g: why for g, why in reasons.items() if why}
    ranked = cell[~cell["group"].isin(out)].sort_values(["pred_acc", "group"], ascending=[False, True], kind="stable")
    row = {"winner": "", "runner_up": "", "winner_acc": np.nan, "runner_up_acc": np.nan, "margin_points": np.nan,
           "win_share": np.nan, "draws": 0, "ranked": len(ranked), "left_out": ", ".join(sorted(out)),
           "winner_flags": ""}
    notes = []
    accs, names = ranked["pred_acc"].to_numpy(float), ranked["group"].tolist()
    if len(ranked) >= 2 and accs[0] == accs[1]:
        tied = [g for g, a in zip(names, accs) if a == accs[0]]
        notes.append(f"tie: {', '.join(tied)} at {100 * accs[0]:.1f}%")
        row["margin_points"] = 0.0
    elif len(ranked) >= 2:
        flags = ranked["flags"].iloc[0] if "flags" in ranked else ""
        row.update(winner=names[0], runner_up=names[1], winner_acc=accs[0], runner_up_acc=accs[1],
                   margin_points=100 * (accs[0] - accs[1]), winner_flags=flags if isinstance(flags, str) else "")
        if draws is not None:
            share, count = win_share(draws.reindex(columns=names), names[0])
            row.update(win_share=share, draws=count)
        if not row["draws"]:
            notes.append("no draws to compare")
    else:
        notes.append(f"only {names[0]} can be ranked" if names else "no group can be ranked")
    if out:
        notes.append("left out: " + ", ".join(f"{g} ({why})" for g, why in sorted(out.items())))
    row["note"] = "; ".join(notes)
    return row


def group_ranking(predictions: pd.DataFrame, draws: pd.DataFrame | None = None,
                  compared: pd.DataFrame | None = None) -> pd.DataFrame:
    """The answer to a sweep, one row per (method, target, task): which group wins (`winner`, the highest predicted
    accuracy), by how much (`margin_points`: over the `runner_up`, in accuracy points), how sure (`win_share`: the
    share of `draws` in which the winner's draw is above every other group's draw of the same index; `draws`
    counted), and how often such calls were right: `decision_accuracy` and `pairs` at the target where measured, and
    `backtest_decision_accuracy`, `backtest_pairs` on the ladder's largest size predicted from its smaller ones
    (from `compared`, the output of `compare`).

    A group whose prediction is flagged at_chance, not_fitted or bounded (UNPREDICTABLE), or missing, is left out of
    the ranking (`left_out` names it, `note` says why); with a tie at the top, or fewer than two groups ranked,
    there is no winner and the note says so. `winner_flags`: the winner's own flags (why its prediction may not be
    trusted). Accuracies are fractions; the margin is in points."""
    _keys(predictions)
    if "method" not in predictions:
        predictions = predictions.assign(method="")
    by_key = _draws_by_key(draws)
    targets = target_order(predictions)
    tasks = list(dict.fromkeys(predictions["task"]))
    methods = list(dict.fromkeys(predictions["method"]))
    scored = compared[compared["source"] == "target"] if compared is not None and "source" in compared else None
    rows = []
    for method in methods:
        mine = predictions[predictions["method"] == method]
        for target in targets:
            for task in tasks:
                cell = mine[(mine["target"] == target) & (mine["task"] == task)]
                if not cell.empty:
                    rows.append({"method": method, "target": target, "task": task,
                                 **_rank_cell(cell, by_key.get((method, target, task)))})
    table = pd.DataFrame(rows, columns=[c for c in RANKING_COLUMNS if c not in
                                        ("decision_accuracy", "pairs", "backtest_decision_accuracy", "backtest_pairs")])
    if scored is not None and len(scored):
        at_target = scored.drop_duplicates(["method", "target", "task"])[["method", "target", "task",
                                                                          "decision_accuracy", "pairs"]]
        table = table.merge(at_target, on=["method", "target", "task"], how="left")
    table = table.merge(_backtest_scores(compared), on=["method", "task"], how="left")
    table = table.reindex(columns=RANKING_COLUMNS)
    for column in ("decision_accuracy", "backtest_decision_accuracy"):
        table[column] = table[column].astype(float)
    for column in ("pairs", "backtest_pairs", "draws", "ranked"):
        table[column] = table[column].fillna(0).astype(int)
    return table
