"""The `ensemble` method: per task, a weighted mean of the other methods, weighted by their backtests.

Weights: pseudo Bayesian model averaging by held-out log score (Yao et al. 2018). On the task's
backtests (`taskladder.backtest`) each method's held-out prediction and its calibrated interval
give a normal predictive density (mean the prediction, SD the interval's half-width over the
normal quantile of the level); the score of a method is the mean log density of the actuals,
shrunk toward its mean over every task, (k S_task + s S_all) / (k + s) for its k held-out runs of
the task and s = `shrink`, and its weight is proportional to exp(k S). A proper score: a method
gains weight by being right *and* sharp, and loses it by being confidently wrong. Only methods
that predict RC accuracy (`accuracy: acc`) and have backtests on the task take part. No target
data is read.

The methods' draws are resamples of the same ladders (`taskladder.intervals`), so the ensemble's
draw b is the weighted mean of the methods' draws b; its intervals are the central range of those,
calibrated on its own backtests (the weighted means of the methods' backtests) like any method's.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from taskladder.fit import intervals
from taskladder.fit.methods import (
    BACKTEST_COLUMNS,
    DRAW_COLUMNS,
    PREDICTION_COLUMNS,
    MethodResult,
    calibrate_backtest,
    finish_intervals,
)

TABLES = ("predictions", "backtest", "draws", "calibration", "weights")  # what an ensemble's job writes


def members(methods: dict, name: str) -> list[str]:
    """The methods ensemble `name` combines: its `members`, else every method of `methods` that fits laws and
    predicts RC accuracy."""
    fitted = [m for m, spec in methods.items() if "ensemble" not in spec and spec.get("accuracy", "acc") == "acc"]
    return list(methods[name]["ensemble"].get("members") or fitted)


def log_score(pred, lo, hi, actual, level: float) -> np.ndarray:
    """Log density of `actual` under a normal with mean `pred` whose central `level` range is [lo, hi]."""
    sd = np.maximum((np.asarray(hi) - np.asarray(lo)) / (2 * NormalDist().inv_cdf((1 + level) / 2)), 1e-4)
    return -0.5 * ((np.asarray(actual) - np.asarray(pred)) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def weights(backtest: pd.DataFrame, members: list[str], level: float, shrink: float) -> pd.DataFrame:
    """One row per (task, method): the cases, the shrunk mean log score and the normalised weight."""
    bt = backtest[backtest["method"].isin(members) & backtest[["pred", "lo", "hi", "actual"]].notna().all(axis=1)]
    bt = bt.assign(score=log_score(bt["pred"], bt["lo"], bt["hi"], bt["actual"], level))
    overall = bt.groupby("method")["score"].mean()
    rows = []
    for (task, method), frame in bt.groupby(["task", "method"], sort=True):
        k = len(frame)
        score = (k * frame["score"].mean() + shrink * overall[method]) / (k + shrink)
        rows.append({"task": task, "method": method, "cases": k, "score": score, "log_weight": k * score})
    out = pd.DataFrame(rows, columns=["task", "method", "cases", "score", "log_weight"])
    out["weight"] = np.exp(out["log_weight"] - out.groupby("task")["log_weight"].transform("max"))
    out["weight"] /= out.groupby("task")["weight"].transform("sum")
    return out.drop(columns="log_weight")


def _mean(frame: pd.DataFrame, w: pd.Series, keys: list[str], value: str) -> pd.Series:
    """The weighted mean of `value` over methods per `keys`, weights renormalised over the methods present."""
    frame = frame[frame["method"].isin(w.index) & frame[value].notna()]
    weight = frame["method"].map(w)
    num = (frame[value] * weight).groupby([frame[k] for k in keys]).sum()
    return num / weight.groupby([frame[k] for k in keys]).sum()


def combine(predictions: pd.DataFrame, backtest: pd.DataFrame, draws: pd.DataFrame, members: list[str],
            level: float, name: str, shrink: float, chance_tasks, calibration_sizes: int) -> tuple[MethodResult, pd.DataFrame]:
    """The ensemble's tables from the member methods' predictions, backtests and draws; and its weights."""
    w_all = weights(backtest, members, level, shrink)
    pred_rows, bt_rows, draw_frames = [], [], []
    for task, w in w_all.groupby("task", sort=False):
        w = w.set_index("method")["weight"]
        p = predictions[predictions["task"] == task]
        d = draws[draws["task"] == task].fillna({"holdout": ""})
        for target, frame in p[p["method"].isin(w.index)].groupby("target", sort=False):
            first = frame.iloc[0]
            pred = float(_mean(frame, w, ["target"], "pred_acc").iloc[0])
            dt = d[(d["target"] == target) & (d["holdout"] == "")]
            ens = _mean(dt, w, ["draw"], "pred_acc") if len(dt) else pd.Series(dtype=float)
            lo, hi = intervals.raw_interval(ens.to_numpy(), level)
            act = first["actual_acc"]
            pred_rows.append({"method": name, "task": task, "target": target, "n": first["n"], "d": first["d"],
                              "pred_loss": np.nan, "actual_loss": np.nan, "pred_acc": pred, "actual_acc": act,
                              "abs_error": abs(pred - act), "rel_error": abs(pred - act) / act,
                              "pred_lo": lo, "pred_hi": hi, "loss_lo": np.nan, "loss_hi": np.nan})
            draw_frames.append(pd.DataFrame({"method": name, "task": task, "target": target, "holdout": "",
                                             "draw": ens.index, "pred_loss": np.nan, "pred_acc": ens.to_numpy()}))
        b = backtest[backtest["task"] == task]
        for (holdout, run), frame in b[b["method"].isin(w.index)].groupby(["holdout", "run"], sort=False):
            first = frame.iloc[0]
            db = d[(d["target"] == run) & (d["holdout"] == holdout)]
            ens = _mean(db, w, ["draw"], "pred_acc") if len(db) else pd.Series(dtype=float)
            lo, hi = intervals.raw_interval(ens.to_numpy(), level)
            bt_rows.append({**{k: first[k] for k in ("task", "holdout", "run", "n", "d", "fitted_sizes", "fitted_max_n",
                                                     "actual",
                                                     "actual_se")},
                            "method": name, "pred": float(_mean(frame, w, ["run"], "pred").iloc[0]), "lo": lo,
                            "hi": hi, "pred_loss": np.nan, "loss_lo": np.nan, "loss_hi": np.nan, "actual_loss": np.nan,
                            "actual_loss_se": np.nan})
            draw_frames.append(pd.DataFrame({"method": name, "task": task, "target": run, "holdout": holdout,
                                             "draw": ens.index, "pred_loss": np.nan, "pred_acc": ens.to_numpy()}))
    backtest_e, factors = calibrate_backtest(pd.DataFrame(bt_rows, columns=[c for c in BACKTEST_COLUMNS
                                                                             if c not in ("error", "covered")]),
                                             level, chance_tasks, calibration_sizes)
    preds = pd.DataFrame(pred_rows, columns=PREDICTION_COLUMNS)
    finish_intervals(preds, factors, {})
    calibration = pd.DataFrame([{"method": name, "level": level, "draws": int(draws["draw"].max() + 1) if len(draws)
                                 else 0, "factor": factors["acc"], "loss_factor": np.nan, "cases": factors["cases"],
                                 "raw_coverage": factors.get("raw_coverage", np.nan),
                                 "coverage": float(backtest_e["covered"].mean()) if len(backtest_e) else np.nan}])
    result = MethodResult(fits=pd.DataFrame(), predictions=preds, points=pd.DataFrame(), backtest=backtest_e,
                          draws=pd.concat(draw_frames, ignore_index=True) if draw_frames
                          else pd.DataFrame(columns=DRAW_COLUMNS), calibration=calibration)
    return result, w_all.assign(method_name=name)


@dataclass(frozen=True)
class EnsembleJob:
    """Everything an ensemble's job depends on, as the plan builds it (`run_ensemble_job` consumes it whole)."""

    method: str  # its name
    spec: dict  # its `ensemble` section: members, shrink
    tasks: list[str]
    options: dict  # the `fit` options and the seed (which tasks are at chance)
    intervals: dict  # the `intervals` options
    group: str | None = None


def run_ensemble_job(job: EnsembleJob, predictions, backtest, draws, ladder_files, out: dict) -> MethodResult:
    """Read the members' tables (lists of files), combine them and write the ensemble's tables (`out`: table ->
    path). The ladder's metrics say which tasks are at chance (left out of the calibration)."""
    from taskladder.base.files import write_csv
    from taskladder.base.metrics_table import read_metrics
    from taskladder.fit.points import chance
    from taskladder.fit.predictability import at_chance
    from taskladder.fit.smoothing import runs_of

    def read(files) -> pd.DataFrame:
        frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        return frame.drop(columns="group", errors="ignore")

    member_predictions = read(predictions)
    members = sorted(set(member_predictions["method"]))
    ladder = read_metrics(ladder_files)
    options = job.options
    at = [t for t in job.tasks if at_chance(runs_of(ladder, t, ["acc"]), "acc", chance(t, options.get("chance")),
                                            options["final_checkpoints"])]
    result, weights = combine(member_predictions, read(backtest), read(draws), members, job.intervals["level"],
                              job.method, job.spec["shrink"], at, job.intervals["calibration_sizes"])
    tables = {"predictions": result.predictions, "backtest": result.backtest, "draws": result.draws,
              "calibration": result.calibration, "weights": weights.drop(columns="method_name")}
    for table, frame in tables.items():
        write_csv(frame if job.group is None else frame.assign(group=job.group), out[table])
    return result
