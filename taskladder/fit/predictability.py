"""Is a task predictable from this ladder? Measures per task, and the flags a prediction carries.

- noise of a run: the SD of its accuracy over its last 10 checkpoints around their trend (a straight
  line in log tokens: a short run still learning is not noise; `_noise`).
- at chance: the ladder's best final accuracy is within 2 noise SDs of chance (the best run's noise,
  or the binomial SD of an accuracy at chance over the task's documents where the metrics count
  them, whichever is larger). Such a task is not
  predictable at this scale: its fits are not drawn as laws and it is left out of summary errors.
- SD10 (paper 5.1): relative SD of task loss and accuracy over the last 10 checkpoints of the
  largest run.
- signal-to-noise (Heineman et al. 2025): signal = the spread (max - min) of the final accuracy of
  each model size's longest run, over their mean; noise = the mean relative noise of accuracy of the
  largest size's runs (where runs are finished models with fewer than 4 checkpoints: the runs' relative spread
  around a straight line in log compute); SNR = signal / noise.
- monotone: Spearman's rank correlation of runs' final accuracy with their training compute.
- backtest error comes from the backtests; disagreement from the predictions: a method's distance from
  the consensus at the target (the ensemble's prediction, or the median of the RC-accuracy methods
  where there is no ensemble), and for the ensemble the weighted mean distance of its members from it
  (the task's `disagreement` in predictability.csv is the largest of the ensemble's over the targets,
  else of the methods').

`flags` turns these into the reasons a prediction is not to be trusted (thresholds: config `flags`):

    at_chance         the ladder never leaves chance on the task: not predictable at this scale
    noisy             SNR below `min_snr`
    non_monotone      rank correlation of final accuracy with compute below `min_monotone`
    backtest_error    the method's mean |error| on the task's backtests above `max_backtest_error`
    methods_disagree  the prediction is farther than `max_disagreement` from the consensus (the ensemble:
                      its members are, on average by weight)
    not_converged     a fit of the method on the task did not converge
    uncalibrated      the method has no backtests to calibrate its intervals on (e.g. MC accuracy not logged
                      for the ladder): its interval is the draws' alone
    far_extrapolation the target lies more than `extrapolation_margin` decades of compute beyond the farthest
                      distance the method's backtests reached: its interval extrapolates the error model too;
                      a larger rung (or a nearer target) is what makes such a prediction trustworthy
    below_ladder      the target's compute is below the ladder's smallest run: it is not extrapolated but
                      outside what the ladder measured
    not_fitted        the method could not be fitted on the task (too few runs or points; its note says why)
    bounded           the ladder's accuracies show no trend, and the prediction was bounded to the ladder's best
                      accuracy plus the calibrated half-width (its note gives the bounds)
    wide_interval     the interval is wider than `max_width`
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskladder.fit.smoothing import Run, final_value

LAST = 10


def _sd(run: Run, column: str) -> float:
    """The SD over the last 10 checkpoints (the paper's SD10, before dividing by their mean)."""
    tail = run.values[column][-LAST:]
    return float(np.std(tail)) if len(tail) > 1 else 0.0


def _noise(run: Run, column: str) -> float:
    """Checkpoint-to-checkpoint noise: the SD of the last 10 checkpoints around a straight line in log
    tokens through them (residual SD, 2 degrees of freedom used), so that a short run still learning,
    whose last 10 checkpoints span most of it, does not count its learning as noise; with fewer than 4
    checkpoints, their plain SD."""
    tail = run.values[column][-LAST:]
    if len(tail) < 4:
        return _sd(run, column)
    x = np.log(run.tokens[-LAST:].astype(float))
    x, y = x - x.mean(), tail - tail.mean()
    slope = float((x * y).sum() / (x * x).sum()) if (x * x).sum() > 0 else 0.0
    return float(np.sqrt(((y - slope * x) ** 2).sum() / (len(tail) - 2)))


def _line(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """(fitted values, residual SD) of a straight line through (x, y)."""
    xc, yc = x - x.mean(), y - y.mean()
    slope = float((xc * yc).sum() / (xc * xc).sum()) if (xc * xc).sum() > 0 else 0.0
    fitted = y.mean() + slope * xc
    return fitted, float(np.sqrt(((y - fitted) ** 2).sum() / max(len(y) - 2, 1)))


def at_chance(runs: list[Run], column: str, chance: float, last: int = 5, docs: float | None = None) -> bool:
    """Whether the ladder's best accuracy stays within 2 noise SDs of chance: its best run's final accuracy and
    that run's own noise; where runs have too few checkpoints to measure their noise (a sweep of finished models),
    the runs' trend in log compute at its highest and their spread around it (the best of many noisy runs would
    stand above chance by noise alone)."""
    finals = np.array([float(final_value(r.values[column], last)) for r in runs])
    best = runs[int(np.argmax(finals))]
    top, noise = float(finals.max()), _noise(best, column)
    if len(best.steps) < 4 and len(runs) >= 4:
        fitted, spread = _line(np.log([r.flops for r in runs]), finals)
        top, noise = float(fitted.max()), max(noise, spread)
    if docs:
        noise = max(noise, float(np.sqrt(chance * (1 - chance) / docs)))
    return bool(top - chance < 2 * noise)


def spearman(a, b) -> float:
    a, b = pd.Series(np.asarray(a, dtype=float)), pd.Series(np.asarray(b, dtype=float))
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return np.nan
    return float(a.rank().corr(b.rank()))


def measures(runs: list[Run], task: str, chance: float, last: int = 5, docs: float | None = None,
             acc: str = "acc", loss: str = "task_loss") -> dict:
    """The measures of one task from its ladder runs (canonical order: the last run is the largest)."""
    finals = np.array([final_value(r.values[acc], last) for r in runs])
    largest = runs[-1]
    rel = lambda r, c, sd=_noise: sd(r, c) / abs(np.mean(r.values[c][-LAST:]))  # noqa: E731
    biggest_n = [r for r in runs if r.n == largest.n]
    longest = {}
    for r, f in zip(runs, finals):
        if r.n not in longest or r.d >= longest[r.n][0]:
            longest[r.n] = (r.d, f)
    tops = np.array([f for _, f in longest.values()])
    signal = (tops.max() - tops.min()) / abs(tops.mean()) if len(tops) > 1 else np.nan
    noise = float(np.mean([rel(r, acc) for r in biggest_n]))
    if len(largest.steps) < 4 and len(runs) >= 4:  # finished models only: their spread around the trend in compute
        fitted, spread = _line(np.log([r.flops for r in runs]), finals)
        noise = spread / abs(float(np.mean(fitted)))
    return {
        "task": task, "chance": chance, "best_acc": float(finals.max()),
        "at_chance": at_chance(runs, acc, chance, last, docs),
        "sd10_loss": rel(largest, loss, _sd) if loss in largest.values else np.nan,
        "sd10_acc": rel(largest, acc, _sd),
        "snr": signal / noise if noise > 0 else np.inf,
        "monotone": spearman(finals, [r.flops for r in runs]),
    }


def table(measured: list[dict], backtest: pd.DataFrame, predictions: pd.DataFrame, rc_methods,
          thresholds: dict, weights: pd.DataFrame | None = None) -> pd.DataFrame:
    """predictability.csv: the measures per task with the backtest error (mean |error| over the held-out runs
    of every method), the largest disagreement between methods at any target, and the task's flags."""
    t = thresholds
    out = pd.DataFrame(measured)
    if not backtest.empty:
        err = (backtest["pred"] - backtest["actual"]).abs().groupby(backtest["task"]).mean()
        out["backtest_error"] = out["task"].map(err)
    else:
        out["backtest_error"] = np.nan
    dis = predictions.assign(dis=disagreement(predictions, rc_methods, weights))
    ens = dis[dis["method"] == "ensemble"]
    dis = ens if len(ens) else dis
    out["disagreement"] = out["task"].map(dis.groupby("task")["dis"].max())
    reasons = pd.DataFrame({"at_chance": out["at_chance"], "noisy": out["snr"] < t["min_snr"],
                            "non_monotone": out["monotone"] < t["min_monotone"],
                            "backtest_error": out["backtest_error"] > t["max_backtest_error"],
                            "methods_disagree": out["disagreement"] > t["max_disagreement"]})
    out["flag"] = reasons.apply(lambda r: ";".join(k for k, v in r.items() if v), axis=1) if len(out) else []
    return out


def disagreement(predictions: pd.DataFrame, rc_methods, weights: pd.DataFrame | None = None) -> pd.Series:
    """Per prediction row: an RC-accuracy method's distance from the consensus at its (task, target), the
    ensemble's weighted mean distance of its members; NaN for the other methods (e.g. MC accuracy)."""
    rc = predictions["method"].isin(list(rc_methods))
    ens = predictions[predictions["method"] == "ensemble"].set_index(["task", "target"])["pred_acc"]
    median = predictions[rc].groupby(["task", "target"])["pred_acc"].median()
    consensus = ens if len(ens) else median
    at = predictions[["task", "target"]].merge(consensus.rename("consensus").reset_index(), on=["task", "target"],
                                               how="left")["consensus"].to_numpy()
    out = pd.Series(np.where(rc, (predictions["pred_acc"].to_numpy() - at), np.nan), index=predictions.index).abs()
    if len(ens) and weights is not None:
        for i in predictions.index[predictions["method"] == "ensemble"]:
            task, target = predictions.at[i, "task"], predictions.at[i, "target"]
            w = weights[weights["task"] == task].set_index("method")["weight"]
            members = predictions[rc & (predictions["task"] == task) & (predictions["target"] == target)]
            members = members[members["method"].isin(w.index)]
            mw = members["method"].map(w)
            out[i] = float((mw * (members["pred_acc"] - predictions.at[i, "pred_acc"]).abs()).sum() / mw.sum())
    return out


def _models(calibration: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    """(method, task) -> (floor, max_distance) of its accuracy error model; task "(all tasks)": the method's."""
    acc = calibration[calibration["value"] == "acc"] if "value" in calibration else calibration.iloc[:0]
    return {(r.method, r.task): (float(r.floor), float(r.max_distance)) for r in acc.itertuples()}


def flags(predictions: pd.DataFrame, measured: pd.DataFrame, backtest: pd.DataFrame, fits: pd.DataFrame,
          calibration: pd.DataFrame, rc_methods, thresholds: dict, weights: pd.DataFrame | None = None,
          smallest: float = np.nan) -> pd.Series:
    """The reasons each prediction row is not to be trusted, ';'-separated ('' if none). `smallest`: the distance
    (decades, negative) of the ladder's smallest run below its largest."""
    t = thresholds
    by_task = measured.set_index("task")
    dis = disagreement(predictions, rc_methods, weights)
    models = _models(calibration)
    bt = (backtest.assign(err=(backtest["pred"] - backtest["actual"]).abs()).groupby(["method", "task"])["err"].mean()
          if not backtest.empty else pd.Series(dtype=float))
    bad_fits = set()
    if not fits.empty:
        bad = fits[~fits["converged"].astype(bool)]
        bad_fits = set(zip(bad["method"], bad["task"]))
    out = []
    for row in predictions.itertuples():
        reasons = []
        m = by_task.loc[row.task] if row.task in by_task.index else None
        note = getattr(row, "note", "")
        note = note if isinstance(note, str) else ""
        floor, reach = models.get((row.method, row.task), models.get((row.method, "(all tasks)"), (np.nan, np.nan)))
        if m is not None and m["at_chance"]:
            reasons.append("at_chance")
        if note and not note.startswith(("at chance", "bounded")):
            reasons.append("not_fitted")
        if note.startswith("bounded"):
            reasons.append("bounded")
        if m is not None and m["snr"] < t["min_snr"]:
            reasons.append("noisy")
        if m is not None and m["monotone"] < t["min_monotone"]:
            reasons.append("non_monotone")
        if bt.get((row.method, row.task), 0) > t["max_backtest_error"]:
            reasons.append("backtest_error")
        if dis[row.Index] > t["max_disagreement"]:
            reasons.append("methods_disagree")
        if (row.method, row.task) in bad_fits:
            reasons.append("not_converged")
        if not np.isfinite(floor) and not note:
            reasons.append("uncalibrated")
        if np.isfinite(reach) and row.distance > reach + t["extrapolation_margin"]:
            reasons.append("far_extrapolation")
        if np.isfinite(smallest) and row.distance < smallest:
            reasons.append("below_ladder")
        if getattr(row, "pred_hi", np.nan) - getattr(row, "pred_lo", np.nan) > t["max_width"]:
            reasons.append("wide_interval")
        out.append(";".join(reasons))
    return pd.Series(out, index=predictions.index, dtype=str)
