"""Fit both steps of a method on its points, chain them at a target, read a target's actual."""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import run_flops
from taskladder.fit import laws
from taskladder.fit.points import FitError, Points, TaskData, chance
from taskladder.fit.solver import FitResult, fit_law


def start_of(law: laws.Law, spec: dict, task: str, options: dict) -> np.ndarray:
    """A step's start: the method's, else the law's with a = chance - 1 for sigmoid-shaped accuracy laws."""
    start = spec.get("start")
    if start is None:
        start = list(law.start)
        if "a" in law.params:
            start[law.params.index("a")] = chance(task, options.get("chance")) - 1
    return np.asarray(start, dtype=float)


def _check_step1(name: str, data: TaskData, law: laws.Law, points: Points) -> None:
    """Step 1 needs more points than parameters and, for a law of N and D, 2 distinct values of each."""
    task, keep = data.task, points.w1[0] > 0
    where = f"method {name}, task {task}"
    for k in law.inputs:
        if k in ("n", "d") and len(np.unique(points.x1[k][keep])) < 2:
            what = "model size N" if k == "n" else "token count D"
            raise FitError(f"{where}: every ladder run has the same {what} ({points.x1[k][keep][0]:.4g}); "
                           f"{law.name} needs at least 2 distinct values of {k.upper()}")
    if keep.sum() <= len(law.params):
        raise FitError(f"{where}: step 1 has {int(keep.sum())} ladder point(s) (one per N and D) for the "
                       f"{len(law.params)} parameters of {law.name}; the ladder needs more runs")


def fit_points(name: str, method: dict, data: TaskData, points: Points, options: dict,
               multistart: int | None = None) -> dict[str, FitResult]:
    """Fit both steps of a method on the measured points (the first row of `points`)."""
    s1, s2 = method["step1"], method.get("step2")
    law1 = laws.get(s1["law"])
    _check_step1(name, data, law1, points)
    starts = options["multistart"] if multistart is None else multistart
    common = dict(delta=options["huber_delta"], multistart=starts, seed=options["seed"],
                  minima_rtol=options.get("minima_rtol", 1e-3))
    keep = points.w1[0] > 0
    fits = {"step1": fit_law(law1, {k: v[keep] for k, v in points.x1.items() if k in law1.inputs}, points.y1[0][keep],
                             objective=s1.get("objective", "huber_log"), start=start_of(law1, s1, data.task, options),
                             **common)}
    if s2:
        law2 = laws.get(s2["law"])
        keep = points.w2[0] > 0
        if keep.sum() < 2 or keep.sum() <= len(law2.params) - 2:
            raise FitError(f"method {name}, task {data.task}: step 2 has {int(keep.sum())} usable checkpoint(s)"
                           + (f" above chance + {s2['above_chance']}" if s2.get("above_chance") is not None else ""))
        fits["step2"] = fit_law(law2, {"x": points.x2[0][keep]}, points.y2[0][keep],
                                objective=s2.get("objective", "squares"), start=start_of(law2, s2, data.task, options),
                                **common)
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
