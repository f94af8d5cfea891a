"""Methods: fit step 1 and step 2 per task on ladder metrics, chain them for each target.

A method is data, not code (config key ``methods``; the paper's are in methods.yaml): what
is chained through, which law each step fits and on which points.

    two_step:                         # the paper's method
      intermediate: task_loss         # metrics column chained through: task_loss, task_ce, lm_loss
      accuracy: acc                   # the accuracy predicted: acc (RC) or acc_mc (MC format)
      step1: {law: power_nd, objective: huber_log}
      step2: {law: sigmoid, objective: squares, anchor: true}
      fit: {}                         # this method's overrides of the `fit` options

Step 1 is fitted on one point per ladder run (its final tokens, the mean of its last
`final_checkpoints` checkpoints). Step 2 is fitted on every checkpoint of every ladder run,
after dropping each run's first `drop_first` fraction and a trailing moving average of
`window`; it may instead use other runs (`runs`, e.g. the target's own intermediate
checkpoints), a step range (`steps`), or only checkpoints whose accuracy is `above_chance` by
a margin. A method whose ``step2`` is null fits step 1 straight to accuracy (single step).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskladder import laws
from taskladder.fit import FitResult, fit_law
from taskladder.smoothing import final_points, step2_points

# accuracy of random guessing, used to start step 2 at a = chance - 1 (paper's start)
CHANCE = {"piqa": 0.5, "socialiqa": 1 / 3, "csqa": 0.2, "boolq": 0.5, "winogrande": 0.5}
DEFAULT_CHANCE = 0.25

PREDICTION_COLUMNS = ["method", "task", "target", "n", "d", "pred_loss", "actual_loss", "pred_acc",
                      "actual_acc", "abs_error", "rel_error"]


def chance(task: str, overrides: dict | None = None) -> float:
    return (overrides or {}).get(task, CHANCE.get(task, DEFAULT_CHANCE))


def step1_inputs(points: pd.DataFrame, law: laws.Law) -> dict[str, np.ndarray]:
    return {k: points[k].to_numpy(dtype=float) for k in law.inputs}


def _fit_step(law: laws.Law, x, y, spec: dict, task: str, options: dict, objective: str) -> FitResult:
    start = spec.get("start")
    if start is None and "a" in law.params:  # sigmoid-shaped accuracy laws start at a = chance - 1
        start = list(law.start)
        start[law.params.index("a")] = chance(task, options.get("chance")) - 1
    return fit_law(law, x, y, objective=spec.get("objective", objective), start=start,
                   delta=options["huber_delta"], multistart=options["multistart"], seed=options["seed"],
                   use_best_start=options.get("use_best_start", False))


def method_options(method: dict, options: dict) -> dict:
    """The fit options of one method: the config's `fit` options under the method's own `fit`."""
    return {**options, **(method.get("fit") or {})}


def fit_task(metrics: pd.DataFrame, task: str, method: dict, options: dict,
             others: pd.DataFrame | None = None) -> dict:
    """Fit one method on one task with `options` (method_options). Returns the fits and the points
    they were fitted on.

    `others`: metrics of imported runs outside the ladder, for a step 2 that names `runs`.
    """
    inter, acc = method.get("intermediate"), method.get("accuracy", "acc")
    s1, s2 = method["step1"], method.get("step2")
    law1 = laws.get(s1["law"])
    y1 = inter if s2 else acc
    p1 = final_points(metrics, task, [y1], last=options["final_checkpoints"])
    step1 = _fit_step(law1, step1_inputs(p1, law1), p1[y1], s1, task, options, "huber_log")
    result = {"step1": step1, "step1_points": p1.assign(y=p1[y1])}
    if not s2:
        return result

    source = metrics
    if s2.get("runs"):
        source = others[others["run"].isin(s2["runs"])] if others is not None else others
        if source is None or source.empty:
            raise ValueError(f"step 2 runs {s2['runs']} have no metrics; import them (ladder: false)")
    p2 = step2_points(source, task, [inter, acc], drop=options["drop_first"], window=options["window"],
                      steps=s2.get("steps"))
    if s2.get("above_chance") is not None:
        p2 = p2[p2[acc] > chance(task, options.get("chance")) + s2["above_chance"]]
        if len(p2) < 2:
            raise ValueError(f"task {task}: fewer than 2 checkpoints above chance + {s2['above_chance']}")
    x2, y2 = p2[inter].to_numpy(dtype=float), p2[acc].to_numpy(dtype=float)
    if s2.get("anchor", True):  # a perfect model: zero loss, full accuracy
        x2, y2 = np.append(x2, 0.0), np.append(y2, 1.0)
    step2 = _fit_step(laws.get(s2["law"]), {"x": x2}, y2, s2, task, options, "squares")
    result.update(step2=step2, step2_points=p2.assign(x=p2[inter], y=p2[acc]))
    return result


def predict_target(fits: dict, target: dict) -> tuple[float, float]:
    """Chain the fitted steps at the target's (n, d). Returns (intermediate, accuracy)."""
    n, d = float(target["n"]), float(target["d"])
    x = {"n": np.array([n]), "d": np.array([d]), "flops": np.array([target.get("flops") or 6 * n * d])}
    y1 = float(fits["step1"](x)[0])
    if "step2" not in fits:
        return np.nan, y1
    return y1, float(fits["step2"]({"x": np.array([y1])})[0])


def actual(target_metrics: pd.DataFrame | None, task: str, column: str, last: int) -> float:
    """A target's measured value: the mean of its last `last` evaluation rows."""
    if target_metrics is None or column is None:
        return np.nan
    rows = target_metrics[target_metrics["task"] == task].sort_values("step")
    return float(rows[column].tail(last).mean()) if len(rows) else np.nan


def fit_row(method: str, task: str, step: str, fit: FitResult, x: str, y: str) -> dict:
    row = {"method": method, "task": task, "step": step, "law": fit.law.name, "x": x, "y": y}
    row.update(fit.published)
    row.update(objective=fit.objective, fit_error=fit.fit_error, n_points=fit.n_points, converged=fit.converged,
               starts_agree=fit.starts_agree, n_starts=fit.n_starts, best_start_objective=fit.best_start_objective)
    return row


def run_method(name: str, method: dict, metrics: pd.DataFrame, targets: dict, tasks: list[str],
               options: dict, progress=None, others: pd.DataFrame | None = None):
    """Fit `method` for every task and predict every target.

    `targets`: name -> {"n", "d", optional "flops", "metrics": DataFrame or None}.
    Returns (fits, predictions, points) as DataFrames.
    """
    options = method_options(method, options)
    fit_rows, pred_rows, point_frames = [], [], []
    inter = method.get("intermediate") if method.get("step2") else None
    acc = method.get("accuracy", "acc")
    for task in tasks:
        fits = fit_task(metrics, task, method, options, others)
        axes = {"step1": (",".join(laws.get(method["step1"]["law"]).inputs), inter or acc), "step2": (inter, acc)}
        for step in ("step1", "step2"):
            if step in fits:
                fit_rows.append(fit_row(name, task, step, fits[step], *axes[step]))
                point_frames.append(fits[f"{step}_points"].assign(method=name, task=task, fit_step=step))
        for tname, target in targets.items():
            pred_loss, pred_acc = predict_target(fits, target)
            tm, last = target.get("metrics"), options["target_checkpoints"]
            act_loss, act_acc = actual(tm, task, inter, last), actual(tm, task, acc, last)
            abs_err = abs(pred_acc - act_acc)
            pred_rows.append({"method": name, "task": task, "target": tname, "n": int(target["n"]),
                              "d": int(target["d"]), "pred_loss": pred_loss, "actual_loss": act_loss,
                              "pred_acc": pred_acc, "actual_acc": act_acc, "abs_error": abs_err,
                              "rel_error": abs_err / act_acc})
        if progress:
            progress(task)
    points = pd.concat(point_frames, ignore_index=True) if point_frames else pd.DataFrame()
    return pd.DataFrame(fit_rows), pd.DataFrame(pred_rows, columns=PREDICTION_COLUMNS), points


def fit_and_write(method_name: str, method: dict, ladder_files, target_files, targets: dict, tasks: list[str],
                  options: dict, out, other_files=()) -> None:
    """Read metrics files, run one method and write its fits, predictions and points.

    `out` has attributes (or keys) fits, predictions, points: the three output paths.
    Targets whose metrics file is among `target_files` (matched by run name) get actuals.
    """
    import logging

    from taskladder.io import read_metrics, write_csv

    log = logging.getLogger("taskladder.predict")
    ladder = read_metrics(ladder_files)
    _check_tasks(ladder, tasks, ladder_files)
    measured = read_metrics(target_files) if target_files else None
    targets = {name: dict(spec, metrics=_rows_of(measured, name)) for name, spec in targets.items()}
    others = read_metrics(other_files) if other_files else None
    fits, predictions, points = run_method(method_name, method, ladder, targets, tasks, options,
                                           progress=lambda t: log.info("%s: fitted %s", method_name, t),
                                           others=others)
    for fit in fits.itertuples():
        if not fit.converged or not fit.starts_agree:
            log.warning("%s %s %s: converged=%s, starts agree=%s (best start objective %.6g vs %.6g)",
                        method_name, fit.task, fit.step, fit.converged, fit.starts_agree,
                        fit.best_start_objective, fit.objective)
    get = (lambda k: getattr(out, k)) if hasattr(out, "fits") else out.__getitem__
    write_csv(fits, get("fits"))
    write_csv(predictions, get("predictions"))
    write_csv(points, get("points"))


def _rows_of(metrics: pd.DataFrame | None, run: str) -> pd.DataFrame | None:
    rows = None if metrics is None else metrics[metrics["run"] == run]
    return None if rows is None or rows.empty else rows


def _check_tasks(metrics: pd.DataFrame, tasks: list[str], files) -> None:
    have = set(metrics["task"])
    missing = [t for t in tasks if t not in have]
    if missing:
        raise ValueError(f"unknown task(s) {missing}: not in the ladder metrics ({len(list(files))} files); "
                         f"tasks there: {sorted(have)}")
