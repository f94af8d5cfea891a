"""Backtests from the ladder alone: predict the ladder's own largest runs from its smaller ones.

Rolling origin over model sizes (OLMo-core's ladder "rollout"): fit on the k smallest sizes and
predict every run of size k + 1, for k = 2 .. sizes - 1; the last holdout leaves the largest size
out. No target data is read. Each held-out run is predicted as a target at its N, final tokens and
FLOPs, with the raw interval of its draws (`taskladder.intervals`), and compared with its actual
value, the mean of its last `final_checkpoints` checkpoints, as a target's actual is, with that mean's
standard error from the run's own checkpoint noise (`actual_se`; calibration takes it into account).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from taskladder.fit import intervals
from taskladder.fit.chain import fit_points, predict_target
from taskladder.fit.points import FitError, Sample, TaskData, columns, make_points
from taskladder.fit.smoothing import final_value

log = logging.getLogger(__name__)


def holdouts(data: TaskData) -> list[tuple[str, list[int], list[int]]]:
    """(name, ladder runs fitted, ladder runs predicted) of each rolling-origin holdout."""
    sizes = sorted({r.n for r in data.ladder})
    out = []
    for k in range(2, len(sizes)):
        fitted = [i for i, r in enumerate(data.ladder) if r.n <= sizes[k - 1]]
        held = [i for i, r in enumerate(data.ladder) if r.n == sizes[k]]
        out.append((f"{k}->{k + 1}", fitted, held))
    return out


def subset(data: TaskData, keep: list[int]) -> TaskData:
    ladder = [data.ladder[i] for i in keep]
    return replace(data, ladder=ladder, step2=data.step2 if data.separate else ladder)


def backtest_task(name: str, method: dict, data: TaskData, options: dict, draws: int, block: int,
                  level: float) -> tuple[list[dict], dict]:
    """Rows (one per held-out run, raw intervals) and their draws {(holdout, run): (loss draws, acc draws)}."""
    inter, acc, _ = columns(method)
    rows, all_draws = [], {}
    for holdout, fitted, held in holdouts(data):
        sub = subset(data, fitted)
        try:
            fits = fit_points(name, method, sub, make_points(sub, Sample.measured(sub), method, options), options)
        except FitError as e:
            log.info("%s %s: holdout %s skipped: %s", name, data.task, holdout, e)
            continue
        targets = {data.ladder[i].name: {"n": data.ladder[i].n, "d": data.ladder[i].d, "flops": data.ladder[i].flops}
                   for i in held}
        drawn = intervals.draw_predictions(method, fits, sub, options, targets, draws, block) if draws else {}
        for i in held:
            run = data.ladder[i]
            pred_loss, pred_acc = predict_target(fits, targets[run.name])
            loss_draws, acc_draws = drawn.get(run.name, (np.empty(0), np.empty(0)))
            lo, hi = intervals.raw_interval(acc_draws, level)
            loss_lo, loss_hi = intervals.raw_interval(loss_draws, level)
            last = options["final_checkpoints"]
            actual, actual_loss, se, loss_se = np.nan, np.nan, np.nan, np.nan
            if acc in run.values:
                actual = float(final_value(run.values[acc], last))
                se = intervals.final_value_se(run, acc, last, block, options["seed"])
            if inter in run.values:
                actual_loss = float(final_value(run.values[inter], last))
                loss_se = intervals.final_value_se(run, inter, last, block, options["seed"])
            rows.append({"method": name, "task": data.task, "holdout": holdout, "run": run.name, "n": run.n,
                         "d": run.d, "fitted_sizes": len({data.ladder[j].n for j in fitted}),
                         "fitted_max_n": max(data.ladder[j].n for j in fitted),
                         "pred": pred_acc, "lo": lo, "hi": hi, "actual": actual, "actual_se": se,
                         "pred_loss": pred_loss, "loss_lo": loss_lo, "loss_hi": loss_hi, "actual_loss": actual_loss,
                         "actual_loss_se": loss_se})
            all_draws[(holdout, run.name)] = (loss_draws, acc_draws)
    return rows, all_draws
