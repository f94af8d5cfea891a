"""Calibration by extrapolation distance: how wrong have this method's fits been this far beyond the ladder?

The backtests (`taskladder.fit.backtest`) give, per method and task, errors e = prediction - actual at distances
d = log10(held-out compute / largest fitted compute). Their scale is modelled as

    e ~ Normal(0, s(d)^2),   s(d)^2 = floor^2 + (growth * d)^2          (d >= 0)

a floor (what a fit misses at the ladder's own scale: noise and small misfits) and a growth per decade of
extrapolation. It is fitted by maximum likelihood, each origin's rows weighted to count as one (the runs one
origin predicts share one fit, so their errors are not independent). A task's model is shrunk toward the model of
every task of the method (`shrink` pseudo-origins, in variance), so a task with few backtests borrows the method's
growth. The model's own uncertainty: a calibrated interval at distance d is the prediction +- t * s(d), with t the
Student-t quantile of the level for dof = origins + shrink - 2 (few origins, wider intervals).

A task's backtest rows get intervals from its model fitted without their own origin (`covered` is a held-out
coverage: the longest origin is judged by a model that never saw that distance). Origins fitted on fewer than
`min_sizes` model sizes are left out of the models (their fits measure an under-determined law, not a ladder's
extrapolation) unless there is no other. `max_distance` is the farthest distance the model saw: a target beyond it
by more than a margin is flagged `far_extrapolation` (`taskladder.fit.predictability`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit

MIN_FLOOR = 1e-4  # an error scale below this (a hundredth of an accuracy point) counts as this


@dataclass(frozen=True)
class ErrorModel:
    floor: float
    growth: float
    origins: float  # how many origins (independent fits) it rests on, shrinkage included
    cases: int  # backtest rows
    max_distance: float  # the farthest distance it saw (nan: none)

    def scale(self, distance) -> np.ndarray:
        d = np.maximum(np.asarray(distance, dtype=float), 0.0)
        return np.sqrt(self.floor ** 2 + (self.growth * d) ** 2)

    @property
    def dof(self) -> float:
        return max(self.origins - 2.0, 1.0)

    def half_width(self, distance, level: float) -> np.ndarray:
        if not np.isfinite(self.floor):
            return np.full(np.shape(distance), np.nan)
        return stdtrit(self.dof, (1 + level) / 2) * self.scale(distance)


NO_MODEL = ErrorModel(np.nan, np.nan, 0.0, 0, np.nan)


def _weights(origin: np.ndarray) -> np.ndarray:
    """Each origin's rows together weigh 1."""
    _, inverse, counts = np.unique(origin, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def fit_scale(distance, error, weights, iterations: int = 60) -> tuple[float, float]:
    """(floor, growth) maximising sum_i w_i log Normal(e_i; 0, floor^2 + growth^2 d_i^2), by Fisher scoring on the
    variance's two coefficients (elementwise sums only: the same result on every machine)."""
    d2 = np.maximum(np.asarray(distance, dtype=float), 0.0) ** 2
    e2, w = np.asarray(error, dtype=float) ** 2, np.asarray(weights, dtype=float)
    total = np.sum(w)
    a = max(float(np.sum(w * e2) / total), MIN_FLOOR ** 2)
    b = 0.0
    for _ in range(iterations):
        v = a + b * d2
        r = (e2 - v) / v ** 2
        g = np.array([np.sum(w * r), np.sum(w * r * d2)]) / 2
        f = np.array([[np.sum(w / v ** 2), np.sum(w * d2 / v ** 2)],
                      [np.sum(w * d2 / v ** 2), np.sum(w * d2 * d2 / v ** 2)]]) / 2
        det = f[0, 0] * f[1, 1] - f[0, 1] ** 2
        if not det > 0:  # every distance alike: the floor alone
            a, b = max(float(np.sum(w * e2 / total)), MIN_FLOOR ** 2), 0.0
            break
        step = np.array([f[1, 1] * g[0] - f[0, 1] * g[1], f[0, 0] * g[1] - f[0, 1] * g[0]]) / det
        new_a, new_b = max(a + step[0], MIN_FLOOR ** 2), max(b + step[1], 0.0)
        if abs(new_a - a) <= 1e-12 * a and abs(new_b - b) <= 1e-12 * max(b, 1e-12):
            a, b = new_a, new_b
            break
        a, b = new_a, new_b
    return math.sqrt(a), math.sqrt(b)


ERRORS = {"acc": ("pred", "actual"), "loss": ("pred_loss", "actual_loss")}  # what is predicted, what was measured


def errors(rows: pd.DataFrame, value: str) -> pd.Series:
    """The backtests' errors of `value` (acc: accuracy, loss: the intermediate): prediction - actual."""
    pred, act = ERRORS[value]
    return rows[pred] - rows[act]


def fit_model(distance: np.ndarray, error: np.ndarray, origin: np.ndarray) -> ErrorModel:
    """The error model of a set of backtest rows (their distances, errors and origins)."""
    keep = np.isfinite(error) & np.isfinite(distance)
    distance, error, origin = distance[keep], error[keep], origin[keep]
    if not len(error):
        return NO_MODEL
    floor, growth = fit_scale(distance, error, _weights(origin))
    return ErrorModel(floor, growth, float(len(np.unique(origin))), len(error), float(np.max(distance)))


def shrunk(own: ErrorModel, pooled: ErrorModel, shrink: float) -> ErrorModel:
    """A task's model pulled toward its method's: variances mixed with weights origins : shrink."""
    if not np.isfinite(pooled.floor):
        return own
    if not np.isfinite(own.floor):
        return ErrorModel(pooled.floor, pooled.growth, shrink, 0, pooled.max_distance)
    k = own.origins
    mix = lambda x, y: math.sqrt((k * x ** 2 + shrink * y ** 2) / (k + shrink))  # noqa: E731
    return ErrorModel(mix(own.floor, pooled.floor), mix(own.growth, pooled.growth), k + shrink, own.cases,
                      own.max_distance)


@dataclass(frozen=True)
class Backtests:
    """A method's backtests as arrays, for fitting error models fast: task, origin, distance, the errors of
    accuracy and of the intermediate, and the rows the models may rest on (`usable`)."""

    task: np.ndarray
    origin: np.ndarray
    distance: np.ndarray
    errors: dict[str, np.ndarray]
    usable: np.ndarray

    @classmethod
    def of(cls, backtest: pd.DataFrame, min_sizes: int) -> "Backtests":
        """The models rest on the origins fitted on at least `min_sizes` sizes (on every origin where none is)."""
        enough = (backtest["fitted_sizes"] >= min_sizes).to_numpy()
        return cls(backtest["task"].to_numpy(dtype=str), backtest["origin"].to_numpy(dtype=str),
                   backtest["distance"].to_numpy(dtype=float),
                   {v: errors(backtest, v).to_numpy(dtype=float) for v in ERRORS},
                   enough if enough.any() else np.ones(len(backtest), dtype=bool))

    def models(self, skip_tasks, shrink: float, value: str = "acc", leave_out: str | None = None
               ) -> dict[str, ErrorModel]:
        """task -> its shrunk error model, and "" -> the method's pooled model (on every task but `skip_tasks`: at
        chance, not predictable; each task weighing as much); `leave_out`: an origin whose rows are left out."""
        keep = self.usable if leave_out is None else self.usable & (self.origin != leave_out)
        e = self.errors[value]
        pool = keep & ~np.isin(self.task, list(skip_tasks))
        labels = np.char.add(np.char.add(self.task, "/"), self.origin)  # an origin of each task weighs 1
        pooled = fit_model(self.distance[pool], e[pool], labels[pool])
        out = {}
        for task in np.unique(self.task[keep]):
            mine = keep & (self.task == task)
            out[task] = shrunk(fit_model(self.distance[mine], e[mine], self.origin[mine]), pooled, shrink)
        return out | {"": pooled}


def task_models(backtest: pd.DataFrame, skip_tasks, min_sizes: int, shrink: float, value: str = "acc",
                leave_out: str | None = None) -> dict[str, ErrorModel]:
    """task -> its shrunk error model, "" -> the method's (`Backtests.models`)."""
    if backtest.empty:
        return {"": NO_MODEL}
    return Backtests.of(backtest, min_sizes).models(skip_tasks, shrink, value, leave_out)


def calibrate_backtest(backtest: pd.DataFrame, level: float, skip_tasks, min_sizes: int, shrink: float) -> pd.DataFrame:
    """Intervals on the backtests from models that left each row's origin out, and `covered`."""
    bt = backtest.copy()
    bounds = {"acc": ("lo", "hi", "pred"), "loss": ("loss_lo", "loss_hi", "pred_loss")}
    out = {col: np.full(len(bt), np.nan) for lo, hi, _ in bounds.values() for col in (lo, hi)}
    if bt.empty:
        return bt.assign(**out, error=np.nan, covered=pd.Series(dtype=bool))
    bt["error"] = errors(bt, "acc")
    arrays = Backtests.of(bt, min_sizes)
    for origin in np.unique(arrays.origin):
        mine = arrays.origin == origin
        for value, (lo, hi, pred) in bounds.items():
            models = arrays.models(skip_tasks, shrink, value, leave_out=origin)
            center = bt[pred].to_numpy(dtype=float)
            for task in np.unique(arrays.task[mine]):
                rows = mine & (arrays.task == task)
                hw = models.get(task, models[""]).half_width(arrays.distance[rows], level)
                out[lo][rows], out[hi][rows] = center[rows] - hw, center[rows] + hw
    bt = bt.assign(**out)
    bt["lo"], bt["hi"] = bt["lo"].clip(0, 1), bt["hi"].clip(0, 1)
    bt["covered"] = (bt["actual"] >= bt["lo"]) & (bt["actual"] <= bt["hi"])
    return bt


def model_rows(models: dict[str, ErrorModel], method: str, level: float, value: str) -> list[dict]:
    """calibration.csv rows: per task (and "" for the method's pooled model) the model and its half-widths."""
    return [{"method": method, "task": task or "(all tasks)", "value": value, "floor": m.floor, "growth": m.growth,
             "origins": m.origins, "cases": m.cases, "max_distance": m.max_distance, "dof": m.dof,
             **{f"half_width_{d}": float(m.half_width(d, level)) for d in (0, 1, 2)}} for task, m in models.items()]
