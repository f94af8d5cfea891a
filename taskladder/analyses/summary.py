"""The experiment's summary tables, gathered from every method's tables:

- predictions.csv: every method's (and the ensemble's) predictions with their intervals and `flags`;
- fits.csv: every fit;
- analyses/backtest.csv and analyses/calibration.csv: every method's backtests and calibration;
- analyses/predictability.csv: per task the measures of `taskladder.fit.predictability`.

The log says which predictions are flagged and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import run_flops
from taskladder.fit import predictability
from taskladder.fit.backtest import COLUMNS as BACKTEST_COLUMNS
from taskladder.fit.methods import PREDICTION_COLUMNS
from taskladder.fit.points import chance, task_docs
from taskladder.fit.smoothing import runs_of

log = logging.getLogger(__name__)

TABLES = ("predictions", "fits")  # results/{experiment}/{table}.csv
ANALYSIS_TABLES = ("backtest", "calibration", "predictability", "ensemble_weights")  # results/{experiment}/analyses/{table}.csv


def task_measures(metrics: pd.DataFrame, tasks: list[str], options: dict) -> list[dict]:
    out = []
    for task in tasks:
        runs = runs_of(metrics, task, [c for c in ("acc", "task_loss") if c in metrics])
        out.append(predictability.measures(runs, task, chance(task, options.get("chance")),
                                           options["final_checkpoints"], task_docs(metrics, task)))
    return out


def summary(tables: dict[str, dict[str, pd.DataFrame]], metrics: pd.DataFrame, methods: dict, tasks: list[str],
            options: dict, thresholds: dict, weights: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """`tables`: method name -> {fits, predictions, backtest, calibration}; `weights`: the ensemble's, if any.
    Returns the summary tables by name."""
    def cat(name: str, columns) -> pd.DataFrame:
        """Every method's table `name`, with the contract's columns even where no method wrote a row."""
        frames = [t[name] for t in tables.values() if t.get(name) is not None and len(t[name])]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return frame.reindex(columns=list(dict.fromkeys([*columns, *frame.columns])))

    predictions, fits = cat("predictions", PREDICTION_COLUMNS), cat("fits", ["method", "task", "step", "converged"])
    backtest = cat("backtest", BACKTEST_COLUMNS)
    calibration = cat("calibration", ["method", "task", "value", "floor", "growth", "max_distance"])
    rc_methods = [m for m, spec in methods.items() if spec.get("step1") and spec.get("accuracy", "acc") == "acc"]
    all_weights, weights = weights, None if weights is None else weights[weights["kind"] == "weight"]
    measured = predictability.table(task_measures(metrics, tasks, options), backtest, predictions, rc_methods,
                                    thresholds, weights)
    predictions["flags"] = predictability.flags(predictions, measured, backtest, fits, calibration, rc_methods,
                                                thresholds, weights, smallest_distance(metrics))
    flagged = predictions[predictions["flags"] != ""]
    for row in flagged.itertuples():
        log.warning("%s %s %s: predicted %.3f [%.3f, %.3f], flagged: %s", row.method, row.task, row.target,
                    row.pred_acc, row.pred_lo, row.pred_hi, row.flags)
    log.info("%d of %d predictions flagged", len(flagged), len(predictions))
    return {"predictions": predictions, "fits": fits, "backtest": backtest, "calibration": calibration,
            "predictability": measured,
            "ensemble_weights": all_weights if all_weights is not None else pd.DataFrame(columns=["kind", "task",
                                                                                                 "method", "weight"])}


def smallest_distance(metrics: pd.DataFrame) -> float:
    """Decades of compute from the ladder's largest run down to its smallest (negative)."""
    last = metrics.sort_values("step", kind="stable").groupby("run", sort=False).tail(1)
    flops = run_flops(last["n"], last["tokens"], last["flops"] if "flops" in last else None)
    return float(np.log10(np.min(flops) / np.max(flops)))


@dataclass(frozen=True)
class SummaryJob:
    """What the summary tables depend on besides the method tables (the plan builds it; `run_summary_job`)."""

    tasks: list[str]
    methods: dict  # every method's definition (which predict RC accuracy, which are ensembles)
    options: dict  # the `fit` options the predictability measures read, and the seed
    flags: dict  # the flags' thresholds
    groups: dict[str, list[str]] | None = None  # group -> its ladder runs, where the experiment has groups


def run_summary_job(job: SummaryJob, inputs: dict[str, list], outputs: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Read every method's tables (`inputs`: table -> files, and "ladder": the ladder's metrics files), and write
    the summary tables (`outputs`: name -> path). With groups (the method tables have a `group` column), each
    group's tables are summarised on its own ladder, and every table gets the group column."""
    from taskladder.base.files import write_csv
    from taskladder.base.metrics_table import read_metrics

    groups = job.groups
    frames = {kind: [pd.read_csv(p) for p in inputs.get(kind, [])]
              for kind in ("predictions", "fits", "backtest", "calibration", "weights")}
    metrics = read_metrics(inputs["ladder"])
    parts = []
    for group in groups or [None]:
        def mine(frame: pd.DataFrame, group=group) -> pd.DataFrame:
            return frame if group is None else frame[frame["group"] == group].drop(columns="group")

        tables: dict[str, dict[str, pd.DataFrame]] = {}
        for kind in ("predictions", "fits", "backtest", "calibration"):
            for frame in filter(len, frames[kind]):
                for method, part in mine(frame).groupby("method", sort=False):
                    tables.setdefault(method, {})[kind] = part
        weights = pd.concat([mine(f) for f in frames["weights"]], ignore_index=True) if inputs.get("weights") else None
        ladder = metrics if group is None else metrics[metrics["run"].isin(groups[group])]
        out = summary(tables, ladder, job.methods, job.tasks, job.options, job.flags, weights)
        parts.append(out if group is None else {k: v.assign(group=group) for k, v in out.items()})
    out = {k: pd.concat([p[k] for p in parts], ignore_index=True) for k in parts[0]} if groups else parts[0]
    for name, path in outputs.items():
        write_csv(out[name], path)
    return out
