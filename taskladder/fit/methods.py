"""Run one prediction method end to end: for every task fit both steps, chain them at every target,
resample the ladder for intervals, backtest on the ladder's own largest runs, calibrate.

A method's tables (`run_method`; a workflow job and `taskladder fit` write them with `run_fit_job`):

- fits: per (task, step) the fitted parameters by the paper's names, the objective, convergence;
- predictions: per (task, target) the chained prediction, its calibrated interval and the actual;
- points: the points each step was fitted on;
- backtest: per held-out ladder run (`taskladder.backtest`) the prediction, its interval
  (calibrated without the run's own task, so `covered` is a held-out coverage) and the actual;
- draws: the resampled predictions of every target and held-out run (the ensemble combines them);
- calibration: the factor applied to the raw intervals, and the backtests' coverage before and after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskladder.fit import intervals, laws
from taskladder.fit.backtest import backtest_task
from taskladder.fit.chain import actual, fit_points, fit_row, predict_target
from taskladder.fit.points import (
    FitError,
    Sample,
    chance,
    columns,
    make_points,
    method_options,
    points_frame,
    task_data,
)
from taskladder.fit.predictability import at_chance
from taskladder.fit.smoothing import single_checkpoint_runs

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["method", "task", "target", "n", "d", "pred_loss", "actual_loss", "pred_acc", "actual_acc",
                      "abs_error", "rel_error", "pred_lo", "pred_hi", "loss_lo", "loss_hi"]
BACKTEST_COLUMNS = ["method", "task", "holdout", "run", "n", "d", "fitted_sizes", "fitted_max_n", "pred", "lo", "hi", "actual",
                    "error", "covered", "actual_se", "pred_loss", "loss_lo", "loss_hi", "actual_loss", "actual_loss_se"]
DRAW_COLUMNS = ["method", "task", "target", "holdout", "draw", "pred_loss", "pred_acc"]


@dataclass
class MethodResult:
    fits: pd.DataFrame
    predictions: pd.DataFrame
    points: pd.DataFrame
    backtest: pd.DataFrame
    draws: pd.DataFrame
    calibration: pd.DataFrame

    TABLES = ("fits", "predictions", "points", "backtest", "draws", "calibration")  # what a method's job writes


@dataclass(frozen=True)
class FitJob:
    """Everything one method's fit job depends on, as the plan builds it from the validated config (defaults are
    the schema's; `taskladder.workflow`) and `run_fit_job` consumes it whole."""

    method: str  # its name
    spec: dict  # its definition: intermediate, accuracy, step1, step2, fit (its own `fit` overrides)
    tasks: list[str]
    options: dict  # the `fit` options (but tasks) and the seed
    intervals: dict  # the `intervals` options: level, draws, block, calibration_sizes
    targets: dict[str, dict]  # name -> {n, d, flops} (and `run`: the run that measures it, where named otherwise)
    group: str | None = None  # the ladder of one group (data recipe); None: the experiment has no groups


def _draw_rows(name, task, target, holdout, loss, acc) -> pd.DataFrame:
    return pd.DataFrame({"method": name, "task": task, "target": target, "holdout": holdout,
                         "draw": np.arange(len(acc)), "pred_loss": loss, "pred_acc": acc})


def calibrate_backtest(backtest: pd.DataFrame, level: float, skip_tasks=(), min_sizes: int = 3) -> tuple[pd.DataFrame, dict]:
    """Calibrate the backtests' raw intervals leaving each task out (so `covered` is a held-out coverage; each
    held-out run's interval also holds its actual's measurement noise) and return the factors fitted on
    every task but `skip_tasks` (for the targets' intervals), on the holdouts fitted on at least `min_sizes`
    model sizes (on all of them where none is)."""
    bt = backtest.copy()
    if bt.empty:
        return bt.reindex(columns=BACKTEST_COLUMNS), {"acc": np.nan, "loss": np.nan, "cases": 0}
    use = ~bt["task"].isin(list(skip_tasks))
    if (bt["fitted_sizes"] >= min_sizes).any():  # see taskladder.intervals, "Calibration"
        use &= bt["fitted_sizes"] >= min_sizes
    z = intervals.z_score(bt["pred"], bt["lo"], bt["hi"], bt["actual"], bt["actual_se"], level)
    z_loss = intervals.z_score(bt["pred_loss"], bt["loss_lo"], bt["loss_hi"], bt["actual_loss"], bt["actual_loss_se"],
                               level)
    raw_lo, raw_hi = bt["lo"].to_numpy(), bt["hi"].to_numpy()
    for task in bt["task"].unique():
        mine = (bt["task"] == task).to_numpy()
        factor = intervals.calibration_factor(z[use.to_numpy() & ~mine], level)
        lo, hi = intervals.calibrated(bt["pred"][mine], raw_lo[mine], raw_hi[mine], factor, (0, 1),
                                      intervals.noise_half_width(bt["actual_se"][mine], level))
        bt.loc[mine, "lo"], bt.loc[mine, "hi"] = lo, hi
        lo, hi = intervals.calibrated(bt["pred_loss"][mine], bt["loss_lo"][mine], bt["loss_hi"][mine],
                                      intervals.calibration_factor(z_loss[use.to_numpy() & ~mine], level), (0, np.inf),
                                      intervals.noise_half_width(bt["actual_loss_se"][mine], level))
        bt.loc[mine, "loss_lo"], bt.loc[mine, "loss_hi"] = lo, hi
    bt["error"] = bt["pred"] - bt["actual"]
    bt["covered"] = (bt["actual"] >= bt["lo"]) & (bt["actual"] <= bt["hi"])
    factors = {"acc": intervals.calibration_factor(z[use.to_numpy()], level),
               "loss": intervals.calibration_factor(z_loss[use.to_numpy()], level),
               "cases": int(np.isfinite(z[use.to_numpy()]).sum()),
               "raw_coverage": float(np.mean(z[use.to_numpy() & np.isfinite(z)] <= 1)) if use.any() else np.nan}
    return bt[BACKTEST_COLUMNS], factors


def run_method(name: str, method: dict, metrics: pd.DataFrame, targets: dict, tasks: list[str], options: dict,
               interval: dict, others: pd.DataFrame | None = None, progress=None) -> MethodResult:
    """Fit `method` for every task and predict every target, with intervals unless interval["draws"] is 0.

    `targets`: name -> {"n", "d", optional "flops", "metrics": DataFrame or None}.
    """
    options = method_options(method, options)
    level, draws, block = interval["level"], interval["draws"], interval["block"]
    inter, acc, _ = columns(method)
    fit_rows, pred_rows, point_frames, bt_rows, draw_frames, chance_tasks = [], [], [], [], [], []
    minima = {}
    for task in tasks:
        data = task_data(name, method, metrics, task, others)
        single = single_checkpoint_runs(data.ladder)
        if single:
            log.info("%s %s: %d run(s) with a single checkpoint (%s): kept as they are, no checkpoint dropped, "
                     "no moving average", name, task, len(single), ", ".join(single[:5]))
        if acc in data.ladder[0].values and at_chance(data.ladder, acc, chance(task, options.get("chance")),
                                                      options["final_checkpoints"]):
            chance_tasks.append(task)
        points = make_points(data, Sample.measured(data), method, options)
        fits = fit_points(name, method, data, points, options)
        law1 = laws.get(method["step1"]["law"])
        axes = {"step1": (",".join(law1.inputs), inter or acc), "step2": (inter, acc)}
        for step, fit in fits.items():
            fit_rows.append(fit_row(name, task, step, fit, *axes[step]))
        point_frames.append(points_frame(data, points, method, options).assign(method=name, task=task))
        drawn = intervals.draw_predictions(method, fits, data, options, targets, draws, block) if draws else {}
        for tname, target in targets.items():
            pred_loss, pred_acc = predict_target(fits, target)
            tm, last = target.get("metrics"), options["target_checkpoints"]
            act_loss, act_acc = actual(tm, task, inter, last), actual(tm, task, acc, last)
            loss_draws, acc_draws = drawn.get(tname, (np.empty(0), np.empty(0)))
            lo, hi = intervals.raw_interval(acc_draws, level)
            loss_lo, loss_hi = intervals.raw_interval(loss_draws, level)
            pred_rows.append({"method": name, "task": task, "target": tname, "n": int(target["n"]), "d": int(target["d"]),
                              "pred_loss": pred_loss, "actual_loss": act_loss, "pred_acc": pred_acc, "actual_acc": act_acc,
                              "abs_error": abs(pred_acc - act_acc), "rel_error": abs(pred_acc - act_acc) / act_acc,
                              "pred_lo": lo, "pred_hi": hi, "loss_lo": loss_lo, "loss_hi": loss_hi})
            minima[(task, tname)] = intervals.minima_predictions(fits, target)
            if draws:
                draw_frames.append(_draw_rows(name, task, tname, "", loss_draws, acc_draws))
        if draws:
            rows, bt_draws = backtest_task(name, method, data, options, draws, block, level)
            bt_rows += rows
            draw_frames += [_draw_rows(name, task, run, holdout, *d) for (holdout, run), d in bt_draws.items()]
        if progress:
            progress(task)
    if chance_tasks:
        log.info("%s: at chance on the ladder (not predictable at this scale, left out of calibration): %s", name,
                 ", ".join(chance_tasks))
    backtest, factors = calibrate_backtest(pd.DataFrame(bt_rows), level, chance_tasks, interval["calibration_sizes"])
    predictions = pd.DataFrame(pred_rows, columns=PREDICTION_COLUMNS)
    finish_intervals(predictions, factors, minima)
    calibration = pd.DataFrame([{"method": name, "level": level, "draws": draws, "factor": factors["acc"],
                                 "loss_factor": factors["loss"], "cases": factors["cases"],
                                 "raw_coverage": factors.get("raw_coverage", np.nan),
                                 "coverage": float(backtest["covered"].mean()) if len(backtest) else np.nan}])
    return MethodResult(pd.DataFrame(fit_rows), predictions,
                        pd.concat(point_frames, ignore_index=True) if point_frames else pd.DataFrame(),
                        backtest, pd.concat(draw_frames, ignore_index=True) if draw_frames else
                        pd.DataFrame(columns=DRAW_COLUMNS), calibration)


def finish_intervals(predictions: pd.DataFrame, factors: dict, minima: dict) -> None:
    """Calibrate the raw target intervals and widen them to cover the near-lowest minima (in place)."""
    for i, row in predictions.iterrows():
        lo, hi = intervals.calibrated(row.pred_acc, row.pred_lo, row.pred_hi, factors["acc"], (0, 1))
        loss_lo, loss_hi = intervals.calibrated(row.pred_loss, row.loss_lo, row.loss_hi, factors["loss"], (0, np.inf))
        m_loss, m_acc = minima.get((row.task, row.target), (np.empty(0), np.empty(0)))
        if np.isfinite(lo) and len(m_acc):
            lo, hi = min(lo, np.nanmin(m_acc)), max(hi, np.nanmax(m_acc))
        if np.isfinite(loss_lo) and np.isfinite(m_loss).any():
            loss_lo, loss_hi = min(loss_lo, np.nanmin(m_loss)), max(loss_hi, np.nanmax(m_loss))
        predictions.loc[i, ["pred_lo", "pred_hi", "loss_lo", "loss_hi"]] = [lo, hi, loss_lo, loss_hi]


def run_fit_job(job: FitJob, ladder_files, target_files, other_files, out: dict) -> MethodResult:
    """Read the metrics files, run the job's method and write its tables (`out`: table name -> path). Targets
    whose run is in `target_files` get actuals: the run named like the target, or the one its spec names (`run`:
    a run of an imported table). With a group, every table gets its `group` column."""
    from taskladder.base.files import write_csv
    from taskladder.base.metrics_table import read_metrics

    ladder = read_metrics(ladder_files)
    _check_tasks(ladder, job.tasks, ladder_files)
    measured = read_metrics(target_files) if target_files else None
    targets = {name: {k: v for k, v in spec.items() if k != "run"}
               | {"metrics": _rows_of(measured, spec.get("run", name))} for name, spec in job.targets.items()}
    others = read_metrics(other_files) if other_files else None
    result = run_method(job.method, job.spec, ladder, targets, job.tasks, job.options, job.intervals, others,
                        progress=lambda t: log.info("%s: fitted %s", job.method, t))
    for fit in result.fits.itertuples():
        if not fit.converged or not fit.starts_agree:
            log.warning("%s %s %s: converged=%s, starts agree=%s (the method's start ended at objective %.6g, "
                        "the lowest minimum is %.6g)", job.method, fit.task, fit.step, fit.converged,
                        fit.starts_agree, fit.start_objective, fit.objective)
    for table in MethodResult.TABLES:
        frame = getattr(result, table)
        write_csv(frame if job.group is None else frame.assign(group=job.group), out[table])
    return result


def _rows_of(metrics: pd.DataFrame | None, run: str) -> pd.DataFrame | None:
    rows = None if metrics is None else metrics[metrics["run"] == run]
    return None if rows is None or rows.empty else rows


def _check_tasks(metrics: pd.DataFrame, tasks: list[str], files) -> None:
    have = set(metrics["task"])
    missing = [t for t in tasks if t not in have]
    if missing:
        raise FitError(f"unknown task(s) {missing}: not in the ladder metrics ({len(list(files))} files); "
                       f"tasks there: {sorted(have)}")
