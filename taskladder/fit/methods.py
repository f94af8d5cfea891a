"""Run one prediction method end to end: for every task fit both steps, chain them at every target, resample the
ladder for the spread noise explains, backtest at every distance the ladder allows, and calibrate the intervals by
the distance of each target.

A method's tables (`run_method`; a workflow job and `taskladder fit` write them with `run_fit_job`):

- fits: per (task, step) the fitted parameters by the paper's names, the objective, convergence;
- predictions: per (task, target) the chained prediction, its distance (decades of compute beyond the largest ladder
  run), its calibrated interval, the actual, and a note where the task could not be predicted;
- points: the points each step was fitted on;
- backtest: per (origin, held-out run) (`taskladder.fit.backtest`) the prediction, its distance, its interval
  (from a model that did not see the row's origin: `covered` is a held-out coverage) and the actual;
- draws: the resampled predictions of every target (the ensemble combines them);
- calibration: per task the error model against distance (`taskladder.fit.calibration`) and its half-widths.

Where the ladder gives no evidence: a task at chance on the ladder gets no law-based prediction (empty, with its
note); a task whose accuracies do not rise above their noise with compute (signal-to-noise below
`evidence.min_snr`, or rank correlation with compute below `evidence.min_monotone`) gets its prediction bounded to
[chance - 0.05, best ladder accuracy + the calibrated half-width at its distance]: the law's extrapolation there
rests on no trend the ladder shows. A task the method cannot be fitted on (too few runs or points) is a row with an
empty prediction and the reason in its note, never a failed job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from taskladder.base.config import schema
from taskladder.base.metrics_table import run_flops
from taskladder.fit import calibration, intervals, laws
from taskladder.fit.backtest import COLUMNS as BACKTEST_COLUMNS
from taskladder.fit.backtest import backtest_tasks
from taskladder.fit.chain import (
    actual,
    fit_row,
    fit_tasks,
    predict_target,
    step_problems,
    target_inputs,
)
from taskladder.fit.points import (
    FitError,
    Sample,
    TaskData,
    chance,
    columns,
    make_points,
    method_options,
    points_frame,
    task_data,
)
from taskladder.fit.predictability import measures
from taskladder.fit.smoothing import single_checkpoint_runs

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["method", "task", "target", "n", "d", "pred_loss", "actual_loss", "pred_acc", "actual_acc",
                      "abs_error", "rel_error", "pred_lo", "pred_hi", "loss_lo", "loss_hi", "distance", "note"]
DRAW_COLUMNS = ["method", "task", "target", "draw", "pred_loss", "pred_acc"]
AT_CHANCE = "at chance on the ladder: not predictable at this scale"
FLOOR_MARGIN = 0.05  # a bounded prediction stays at least chance - this


@dataclass
class MethodResult:
    fits: pd.DataFrame
    predictions: pd.DataFrame
    points: pd.DataFrame
    backtest: pd.DataFrame
    draws: pd.DataFrame
    calibration: pd.DataFrame
    unfitted: dict = field(default_factory=dict)  # task -> why the method could not be fitted on it

    TABLES = ("fits", "predictions", "points", "backtest", "draws", "calibration")  # what a method's job writes


@dataclass(frozen=True)
class FitJob:
    """Everything one method's fit job depends on, as the plan builds it from the validated config (defaults are
    the schema's; `taskladder.workflow`) and `run_fit_job` consumes it whole."""

    method: str  # its name
    spec: dict  # its definition: intermediate, accuracy, step1, step2, fit (its own `fit` overrides)
    tasks: list[str]
    options: dict  # the `fit` options (but tasks) and the seed
    intervals: dict  # the `intervals` options: level, draws, block, calibration_sizes, shrink
    evidence: dict  # when the ladder shows a trend: min_snr, min_monotone (the `flags` thresholds)
    targets: dict[str, dict]  # name -> {n, d, flops} (and `run`: the run that measures it, where named otherwise)
    group: str | None = None  # the ladder of one group (data recipe); None: the experiment has no groups


@dataclass
class TaskFit:
    """What one task's fit gives the method's tables."""

    data: TaskData
    fits: dict
    at_chance: bool
    trend: bool  # the ladder's accuracies rise above their noise with compute
    best: float  # the ladder's best final accuracy
    drawn: dict = field(default_factory=dict)  # target -> (intermediate draws, accuracy draws)


def distance(target: dict, ladder_flops: float) -> float:
    """Decades of training compute from the ladder's largest run to the target (negative: below it)."""
    return float(np.log10(target_inputs(target)["flops"][0] / ladder_flops))


def _evidence(name: str, method: dict, data: TaskData, options: dict, evidence: dict) -> tuple[bool, bool, float]:
    """(at chance, shows a trend, best final accuracy) of a task's ladder."""
    _, acc, _ = columns(method)
    single = single_checkpoint_runs(data.ladder)
    if single:
        log.info("%s %s: %d run(s) with a single checkpoint (%s): kept as they are, no checkpoint dropped, "
                 "no moving average", name, data.task, len(single), ", ".join(single[:5]))
    if acc not in data.ladder[0].values:
        return False, True, np.nan
    p0 = chance(data.task, options.get("chance"))
    m = measures(data.ladder, data.task, p0, options["final_checkpoints"], data.docs, acc=acc)
    trend = bool(m["snr"] >= evidence["min_snr"] and not m["monotone"] < evidence["min_monotone"])
    return m["at_chance"], trend, m["best_acc"]


def fit_tasks_of(name: str, method: dict, metrics: pd.DataFrame, tasks: list[str], options: dict, evidence: dict,
                 others: pd.DataFrame | None) -> dict[str, TaskFit | FitError]:
    """Every task's fit (one batched solve per step), or the FitError that says why it cannot be fitted."""
    datas: dict = {}
    for task in tasks:
        try:
            datas[task] = task_data(name, method, metrics, task, others)
        except FitError as e:
            datas[task] = e
    ok = [t for t in tasks if not isinstance(datas[t], FitError)]
    items = [(datas[t], make_points(datas[t], Sample.measured(datas[t]), method, options), 0, None) for t in ok]
    out = {t: datas[t] for t in tasks if t not in ok}
    for task, fits in zip(ok, fit_tasks(name, method, items, options)):
        out[task] = fits if isinstance(fits, FitError) else TaskFit(datas[task], fits, *_evidence(
            name, method, datas[task], options, evidence))
    return out


def unfittable(name: str, method: dict, metrics: pd.DataFrame, tasks: list[str], options: dict,
               others: pd.DataFrame | None = None) -> dict[str, FitError]:
    """task -> why `method` cannot be fitted on it (too few runs, sizes or points), found without fitting."""
    options = method_options(method, options)
    out = {}
    for task in tasks:
        try:
            data = task_data(name, method, metrics, task, others)
            step_problems(name, method, data, make_points(data, Sample.measured(data), method, options), options)
        except FitError as e:
            out[task] = e
    return out


def _prediction(name: str, task: str, tname: str, target: dict, fit: TaskFit | None, options: dict, inter, acc,
                ladder_flops: float, note: str = "") -> dict:
    tm, last = target.get("metrics"), options["target_checkpoints"]
    act_loss, act_acc = actual(tm, task, inter, last), actual(tm, task, acc, last)
    pred_loss, pred_acc = predict_target(fit.fits, target) if fit else (np.nan, np.nan)
    if fit and fit.at_chance:
        pred_acc, note = np.nan, AT_CHANCE
    return {"method": name, "task": task, "target": tname, "n": int(target["n"]), "d": int(target["d"]),
            "pred_loss": pred_loss, "actual_loss": act_loss, "pred_acc": pred_acc, "actual_acc": act_acc,
            "abs_error": abs(pred_acc - act_acc), "rel_error": abs(pred_acc - act_acc) / act_acc,
            "distance": distance(target, ladder_flops), "note": note}


def run_method(name: str, method: dict, metrics: pd.DataFrame, targets: dict, tasks: list[str], options: dict,
               interval: dict, evidence: dict, others: pd.DataFrame | None = None, progress=None) -> MethodResult:
    """Fit `method` for every task and predict every target, with intervals and backtests unless
    interval["draws"] is 0. `targets`: name -> {"n", "d", optional "flops", "metrics": DataFrame or None}.
    `progress(stage, tasks)` is called as each stage (fits, draws, backtests) is done for every task."""
    options = method_options(method, options)
    inter, acc, _ = columns(method)
    say = progress or (lambda *a: None)
    found = fit_tasks_of(name, method, metrics, tasks, options, evidence, others)
    fitted = {t: f for t, f in found.items() if isinstance(f, TaskFit)}
    say("fits", len(tasks))
    for task, e in found.items():
        if isinstance(e, FitError):
            log.warning("%s %s: not fitted: %s", name, task, e)
    if interval["draws"] and fitted:
        drawn = intervals.draw_all(method, {t: (f.data, f.fits) for t, f in fitted.items()}, options, targets,
                                   interval["draws"], interval["block"])
        for task, fit in fitted.items():
            fit.drawn = drawn[task]
        say("draws", len(tasks))
    ladder_flops = _largest_flops(metrics)
    fit_rows, pred_rows, point_frames = [], [], []
    for task in tasks:
        fit = fitted.get(task)
        note = "" if fit else str(found[task])
        pred_rows += [_prediction(name, task, t, spec, fit, options, inter, acc, ladder_flops, note)
                      for t, spec in targets.items()]
        if fit is None:
            continue
        law1 = laws.get(method["step1"]["law"])
        axes = {"step1": (",".join(law1.inputs), inter or acc), "step2": (inter, acc)}
        fit_rows += [fit_row(name, task, step, f, *axes[step]) for step, f in fit.fits.items()]
        measured = make_points(fit.data, Sample.measured(fit.data), method, options)
        point_frames.append(points_frame(fit.data, measured, method, options).assign(method=name, task=task))
    bt_rows = []
    if interval["draws"] and fitted:
        def se_of(run, column: str) -> float:
            return intervals.final_value_se(run, column, options["final_checkpoints"], interval["block"],
                                            options["seed"])

        bt_rows = backtest_tasks(name, method, {t: (f.data, f.fits) for t, f in fitted.items()}, options, interval,
                                 se_of)
        say("backtests", len(tasks))
    skip = [t for t, f in fitted.items() if f.at_chance]
    if skip:
        log.info("%s: at chance on the ladder (not predictable at this scale, left out of calibration): %s", name,
                 ", ".join(skip))
    level, min_sizes, shrink = interval["level"], interval["calibration_sizes"], interval["shrink"]
    backtest = calibration.calibrate_backtest(pd.DataFrame(bt_rows, columns=[c for c in BACKTEST_COLUMNS if c not in (
        "lo", "hi", "error", "covered", "loss_lo", "loss_hi")]), level, skip, min_sizes, shrink)
    models = {v: calibration.task_models(backtest, skip, min_sizes, shrink, v) for v in ("acc", "loss")}
    predictions = pd.DataFrame(pred_rows, columns=PREDICTION_COLUMNS)
    draws = finish_predictions(predictions, fitted, targets, models, level, name)
    table = pd.DataFrame([*calibration.model_rows(models["acc"], name, level, "acc"),
                          *calibration.model_rows(models["loss"], name, level, "loss")])
    return MethodResult(pd.DataFrame(fit_rows), predictions,
                        pd.concat(point_frames, ignore_index=True) if point_frames else pd.DataFrame(),
                        backtest.reindex(columns=BACKTEST_COLUMNS), draws, table,
                        {t: str(e) for t, e in found.items() if isinstance(e, FitError)})


def _largest_flops(metrics: pd.DataFrame) -> float:
    """The training compute of the ladder's largest run (at its last checkpoint)."""
    last = metrics.sort_values("step", kind="stable").groupby("run", sort=False).tail(1)
    return float(np.max(run_flops(last["n"], last["tokens"], last["flops"] if "flops" in last else None)))


def finish_predictions(predictions: pd.DataFrame, fitted: dict[str, TaskFit], targets: dict, models: dict,
                       level: float, name: str) -> pd.DataFrame:
    """Intervals (in place): the calibrated half-width at each target's distance, widened to the draws' raw range
    and to the near-lowest minima; bounded predictions where the ladder shows no trend. Returns the draws table."""
    frames = []
    for i, row in predictions.iterrows():
        fit = fitted.get(row.task)
        if fit is None:
            continue
        loss_draws, acc_draws = fit.drawn.get(row.target, (np.empty(0), np.empty(0)))
        if len(acc_draws):
            frames.append(pd.DataFrame({"method": name, "task": row.task, "target": row.target,
                                        "draw": np.arange(len(acc_draws)), "pred_loss": loss_draws,
                                        "pred_acc": acc_draws}))
        m_loss, m_acc = intervals.minima_predictions(fit.fits, targets[row.target])
        hw = models["acc"].get(row.task, models["acc"].get("", calibration.NO_MODEL)).half_width(row.distance, level)
        hw_loss = models["loss"].get(row.task, calibration.NO_MODEL).half_width(row.distance, level)
        pred = row.pred_acc
        if np.isfinite(pred) and not fit.trend:
            bound = (chance(row.task) - FLOOR_MARGIN, fit.best + (hw if np.isfinite(hw) else 0.0))
            if not bound[0] <= pred <= bound[1]:
                pred = float(np.clip(pred, *bound))
                predictions.loc[i, "note"] = (f"bounded to [{bound[0]:.3f}, {bound[1]:.3f}]: the ladder's accuracies "
                                              "show no trend to extrapolate")
            predictions.loc[i, "pred_acc"] = pred
            predictions.loc[i, "abs_error"] = abs(pred - row.actual_acc)
            predictions.loc[i, "rel_error"] = abs(pred - row.actual_acc) / row.actual_acc
        lo, hi = interval_around(pred, hw, acc_draws, m_acc, level, (0.0, 1.0))
        loss_lo, loss_hi = interval_around(row.pred_loss, hw_loss, loss_draws, m_loss, level, (0.0, np.inf))
        predictions.loc[i, ["pred_lo", "pred_hi", "loss_lo", "loss_hi"]] = [lo, hi, loss_lo, loss_hi]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DRAW_COLUMNS)


def interval_around(pred: float, hw: float, draws: np.ndarray, minima: np.ndarray, level: float, bounds) -> tuple:
    """pred +- the calibrated half-width, widened to the draws' raw range and the other minima's predictions."""
    if not np.isfinite(pred) or not (np.isfinite(hw) or len(draws)):
        return np.nan, np.nan
    lo, hi = (pred - hw, pred + hw) if np.isfinite(hw) else (pred, pred)
    raw_lo, raw_hi = intervals.raw_interval(draws, level)
    if np.isfinite(raw_lo):
        lo, hi = min(lo, raw_lo), max(hi, raw_hi)
    if len(minima) and np.isfinite(minima).any():
        lo, hi = min(lo, np.nanmin(minima)), max(hi, np.nanmax(minima))
    return float(np.clip(lo, *bounds)), float(np.clip(hi, *bounds))


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
    stages = 3 if job.intervals["draws"] else 1
    with tqdm(total=stages * len(job.tasks), desc=job.method + (f" ({job.group})" if job.group else ""),
              unit="task-stage", disable=None) as bar:
        def progress(stage: str, tasks: int) -> None:
            bar.update(tasks)
            log.info("%s: %s of %d task(s) done (%.1f s)", job.method, stage, tasks, bar.format_dict["elapsed"])

        result = run_method(job.method, job.spec, ladder, targets, job.tasks, job.options, job.intervals,
                            job.evidence, others, progress)
    for row in result.predictions.itertuples():  # a line per task and target in the job's log
        log.info("%s %s %s: %s", job.method, row.task, row.target, row.note or
                 f"{100 * row.pred_acc:.1f}% [{100 * row.pred_lo:.1f}, {100 * row.pred_hi:.1f}] at "
                 f"{row.distance:.2f} decades")
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


def fit_options(config: dict) -> dict:
    """The options every method's fit depends on (a change reruns every method): every key of the `fit` schema but
    the tasks (given apart), and the seed; corpus_cloze's chance is 1 / its choices unless fit.chance says
    otherwise."""
    keys = [k for k in schema()["properties"]["fit"]["properties"] if k != "tasks"]
    options = {k: config["fit"][k] for k in keys} | {"seed": config["seed"]}
    cloze = (config.get("evaluation") or {}).get("corpus_cloze")
    if cloze and "corpus_cloze" in config["evaluation"].get("tasks", []):  # its chance follows its choices
        options["chance"] = {"corpus_cloze": 1 / cloze["choices"], **(options.get("chance") or {})}
    return options


def evidence_options(config: dict) -> dict:
    """When a ladder shows a trend a law may follow (the `flags` thresholds min_snr and min_monotone)."""
    return {k: config["flags"][k] for k in ("min_snr", "min_monotone")}
