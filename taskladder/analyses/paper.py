"""The paper's analyses (section 5) on ladder metrics, trained or imported alike.

- variance (5.1): SD and relative SD (SD / mean) of task loss and accuracy over the last n
  checkpoints of one run (the largest rung by default); tasks above the column's average
  are flagged: their noise makes them hard to predict.
- compute vs error (5.2): refit a method with the ladder's runs added in order of training
  FLOPs, of model size N (all data multiples of a size at once) and of data multiple xC
  (all sizes of a multiple at once), and record the target's prediction error each time.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import run_flops
from taskladder.fit.methods import run_method
from taskladder.fit.points import FitError

log = logging.getLogger(__name__)


def variance(metrics: pd.DataFrame, run: str, tasks: list[str], last: int = 10) -> pd.DataFrame:
    """SD_n over the last `last` checkpoints of `run`, per task (raw values, population SD)."""
    rows = []
    frame = metrics[metrics["run"] == run]
    if frame.empty:
        raise ValueError(f"variance: run '{run}' is not in the metrics; runs: {sorted(metrics['run'].unique())}")
    for task in tasks:
        tail = frame[frame["task"] == task].sort_values("step").tail(last)
        if len(tail) < last:
            raise ValueError(f"variance: run '{run}' has {len(tail)} checkpoints of task '{task}', need {last}")
        loss, acc = tail["task_loss"].to_numpy(), tail["acc"].to_numpy()
        rows.append({"task": task, "run": run, "checkpoints": last,
                     "loss_sd": np.std(loss), "loss_rel_sd": np.std(loss) / np.mean(loss),
                     "acc_sd": np.std(acc), "acc_rel_sd": np.std(acc) / np.mean(acc)})
    table = pd.DataFrame(rows)
    for c in ("loss_rel_sd", "acc_rel_sd"):
        table[f"{c}_high"] = table[c] > table[c].mean()
    return table


def largest_run(metrics: pd.DataFrame) -> str:
    """The ladder run with the most training compute at its last checkpoint."""
    runs = run_summary(metrics)
    return str(runs["run"].iloc[int(np.argmax(runs["flops"].to_numpy()))])


def run_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per run: n, final tokens d, FLOPs and data multiple xC = d / (20 n)."""
    last = metrics.sort_values(["run", "step"], kind="stable").groupby("run").tail(1).reset_index(drop=True)
    out = last[["run", "n", "tokens"]].rename(columns={"tokens": "d"})
    out["flops"] = run_flops(out["n"], out["d"], last["flops"] if "flops" in last else None)
    out["xc"] = (out["d"] / (20 * out["n"])).round(1)
    return out


def ladder_subsets(runs: pd.DataFrame, order: str) -> list[list[str]]:
    """Growing subsets of the ladder: by `flops` one run at a time, by `n` or `xc` one group at a time."""
    if order == "flops":
        names = runs.sort_values("flops")["run"].tolist()
        return [names[:k] for k in range(1, len(names) + 1)]
    if order not in ("n", "xc"):
        raise ValueError(f"unknown ladder order '{order}'; expected flops, n or xc")
    groups = sorted(runs[order].unique())
    return [runs[runs[order].isin(groups[:k])]["run"].tolist() for k in range(1, len(groups) + 1)]


def compute_vs_error(metrics: pd.DataFrame, target_name: str, target: dict, method_name: str, method: dict,
                     tasks: list[str], options: dict, intervals: dict, evidence: dict, orders=("flops", "n", "xc"),
                     progress=None) -> pd.DataFrame:
    """Prediction error for one target as the ladder grows, for each ordering of its runs."""
    runs = run_summary(metrics)
    target_flops = float(run_flops(target["n"], target["d"], target.get("flops")))
    rows = []
    for order in orders:
        for subset in ladder_subsets(runs, order):
            used = runs[runs["run"].isin(subset)]
            if len(used) < 5:  # step 1 has five parameters
                continue
            sub = metrics[metrics["run"].isin(subset)]
            try:
                predictions = run_method(method_name, method, sub, {target_name: target}, tasks, options,
                                         {**intervals, "draws": 0}, evidence).predictions
            except FitError as e:  # e.g. the first runs by FLOPs all have one model size
                log.info("compute vs error: %s with %d runs skipped: %s", order, len(subset), e)
                continue
            unfit = predictions[predictions["note"].fillna("") != ""]
            for p in unfit.itertuples():
                log.info("compute vs error: %s with %d runs, %s: %s", order, len(subset), p.task, p.note)
            predictions = predictions[predictions["note"].fillna("") == ""]
            ladder_flops = float(used["flops"].sum())
            for p in predictions.itertuples():
                rows.append({"order": order, "runs": len(subset), "last_run": subset[-1],
                             "ladder_flops": ladder_flops, "compute_fraction": ladder_flops / target_flops,
                             "task": p.task, "pred_acc": p.pred_acc, "actual_acc": p.actual_acc,
                             "abs_error": p.abs_error, "rel_error": p.rel_error})
            if progress:
                progress(order, len(subset))
    return pd.DataFrame(rows)
