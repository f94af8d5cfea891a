"""Fit both steps of a method on its points, chain them at a target, read a target's actual."""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import run_flops
from taskladder.fit import laws
from taskladder.fit.batch import Problem, fit_all
from taskladder.fit.points import FitError, Points, TaskData, chance
from taskladder.fit.solver import FitResult, multistart_points


def start_of(law: laws.Law, spec: dict, task: str, options: dict) -> np.ndarray:
    """A step's start: the method's, else the law's with a = chance - 1 for sigmoid-shaped accuracy laws."""
    start = spec.get("start")
    if start is None:
        start = list(law.start)
        if "a" in law.params:
            start[law.params.index("a")] = chance(task, options.get("chance")) - 1
    return np.asarray(start, dtype=float)


def _check_step1(name: str, data: TaskData, law: laws.Law, points: Points, version: int = 0) -> None:
    """Step 1 needs more points than parameters and, for a law of N and D, 2 distinct values of each."""
    task, keep = data.task, points.w1[version] > 0
    where = f"method {name}, task {task}"
    for k in law.inputs:
        if k in ("n", "d") and len(np.unique(points.x1[k][keep])) < 2:
            what = "model size N" if k == "n" else "token count D"
            raise FitError(f"{where}: every ladder run has the same {what} ({points.x1[k][keep][0]:.4g}); "
                           f"{law.name} needs at least 2 distinct values of {k.upper()}")
    if keep.sum() <= len(law.params):
        raise FitError(f"{where}: step 1 has {int(keep.sum())} ladder point(s) (one per N and D) for the "
                       f"{len(law.params)} parameters of {law.name}; the ladder needs more runs")


def _check_step2(name: str, data: TaskData, law: laws.Law, spec: dict, keep: np.ndarray) -> None:
    if keep.sum() < 2 or keep.sum() <= len(law.params) - 2:
        raise FitError(f"method {name}, task {data.task}: step 2 has {int(keep.sum())} usable checkpoint(s)"
                       + (f" above chance + {spec['above_chance']}" if spec.get("above_chance") is not None else ""))


def step_problems(name: str, method: dict, data: TaskData, points: Points, options: dict, version: int = 0,
                  warm: dict[str, FitResult] | None = None, multistart: int | None = None,
                  compact: bool = True) -> dict[str, Problem]:
    """The fits of a method's steps on one version of a task's points: each step's points (only those of weight
    > 0 where `compact`; else all, a weight of 0 leaving a point out), and its starts: the method's, the `warm`
    fit's parameters if given, and `multistart` (default fit.multistart) seeded random starts. FitError where a step
    has too few points (or sizes) to be fitted."""
    s1, s2 = method["step1"], method.get("step2")
    count = options["multistart"] if multistart is None else multistart
    law1 = laws.get(s1["law"])
    _check_step1(name, data, law1, points, version)
    steps = [("step1", s1, law1, {k: points.x1[k] for k in law1.inputs}, points.y1, points.w1)]
    if s2:
        law2 = laws.get(s2["law"])
        _check_step2(name, data, law2, s2, points.w2[version] > 0)
        steps.append(("step2", s2, law2, {"x": points.x2[version]}, points.y2, points.w2))
    out = {}
    for step, spec, law, x, y, w in steps:
        keep = w[version] > 0 if compact else np.ones(len(w[version]), dtype=bool)
        start = start_of(law, spec, data.task, options)
        starts = np.vstack([start[None], *([warm[step].params[None]] if warm else []),
                            multistart_points(law, start, count, options["seed"])])
        out[step] = Problem(law, {k: v[keep] for k, v in x.items()}, y[version][keep],
                            w[version][keep] if not compact else np.ones(int(keep.sum())), starts, spec["objective"])
    return out


def fit_tasks(name: str, method: dict, items: list[tuple], options: dict, multistart: int | None = None,
              compact: bool = True) -> list:
    """Fit both steps on many (data, points, version, warm) at once (the tasks of a method, the origins of its
    backtests): one batched solve per step and shape. Each fit is the lowest minimum of its starts. Returns per item
    its fits (step -> FitResult), or the FitError that says why it cannot be fitted."""
    out: list = [None] * len(items)
    problems, owners = [], []
    for i, (data, points, version, warm) in enumerate(items):
        try:
            steps = step_problems(name, method, data, points, options, version, warm, multistart, compact)
        except FitError as e:
            out[i] = e
            continue
        out[i] = {}
        for step, problem in steps.items():
            problems.append(problem)
            owners.append((i, step))
    for (i, step), fit in zip(owners, fit_all(problems, options["huber_delta"], options["minima_rtol"])):
        out[i][step] = fit
    return out


def fit_points(name: str, method: dict, data: TaskData, points: Points, options: dict,
               multistart: int | None = None) -> dict[str, FitResult]:
    """Fit both steps of a method on the measured points (the first row of `points`)."""
    fits = fit_tasks(name, method, [(data, points, 0, None)], options, multistart)[0]
    if isinstance(fits, FitError):
        raise fits
    return fits


def target_inputs(target: dict) -> dict[str, np.ndarray]:
    n, d = float(target["n"]), float(target["d"])
    return {"n": np.array([n]), "d": np.array([d]), "flops": np.atleast_1d(run_flops(n, d, target.get("flops")))}


def chain(law1: laws.Law, p1, law2: laws.Law | None, p2, target: dict) -> tuple[np.ndarray, np.ndarray]:
    """Chain step 1 and step 2 at a target for one or a batch of parameter vectors: (intermediate, accuracy)."""
    y1 = law1.value(p1, target_inputs(target))[..., 0]
    if law2 is None:
        return np.full_like(y1, np.nan), y1
    return y1, law2.value(p2, {"x": y1[..., None]})[..., 0]


def predict_target(fits: dict, target: dict) -> tuple[float, float]:
    """Chain the fitted steps at the target's (n, d). Returns (intermediate, accuracy)."""
    s2 = fits.get("step2")
    y1, acc = chain(fits["step1"].law, fits["step1"].params, s2.law if s2 else None, s2.params if s2 else None, target)
    return float(y1), float(acc)


def actual(target_metrics: pd.DataFrame | None, task: str, column: str | None, last: int) -> float:
    """A target's measured value: the mean of its last `last` evaluation rows."""
    if target_metrics is None or column is None or column not in target_metrics:
        return np.nan
    rows = target_metrics[target_metrics["task"] == task].sort_values("step")
    return float(rows[column].tail(last).mean()) if len(rows) else np.nan


def fit_row(method: str, task: str, step: str, fit: FitResult, x: str, y: str) -> dict:
    row = {"method": method, "task": task, "step": step, "law": fit.law.name, "x": x, "y": y}
    row.update(fit.published)
    row.update(objective=fit.objective, fit_error=fit.fit_error, n_points=fit.n_points, converged=fit.converged,
               starts_agree=fit.starts_agree, n_starts=fit.n_starts, start_objective=fit.start_objective,
               minima=len(fit.minima))
    return row
