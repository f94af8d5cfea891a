"""Calibration by extrapolation distance: how wrong have this method's fits been this far beyond the ladder?

The backtests (`taskladder.fit.backtest`) give, per method and task, errors e = prediction - actual at distances
d = log10(held-out compute / largest fitted compute). An origin fitted on a narrower ladder extrapolates worse
than the whole ladder does at the same distance, so the model reads each backtest at its `reach`: its distance
scaled by the ladder's span over the origin's (decades of compute its fitted runs cover). The whole ladder's reach
at a target is the target's distance. The errors' scale is modelled as

    e ~ Normal(0, s(r)^2 + se^2),   s(r)^2 = floor^2 + (growth * r)^2          (r >= 0)

a floor (what a fit misses at the ladder's own scale), a growth per decade of reach, and the held-out actual's own
measurement noise se (known per row), so s is the error against the true accuracy. It is fitted by maximum
likelihood, each origin's rows weighted to count as one (the runs one origin predicts share one fit). A task's
model is shrunk toward the model of every task of the method (`shrink` pseudo-origins, in variance), so a task
with few backtests borrows the method's growth. The model's own uncertainty: an interval at reach r is the
prediction +- t * s(r), t the Student-t quantile of the level with the degrees of freedom of the origins it rests
on (the task's own, and the method's in the share the shrinkage gives them, less 2 for the 2 parameters).

A task's backtest rows get intervals from its model fitted without their own origin (`covered` is a held-out
coverage: the longest origin is judged by a model that never saw that reach). `max_distance` is the farthest reach
the model saw: a target beyond it by more than a margin is flagged `far_extrapolation`
(`taskladder.fit.predictability`).
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
    origins: float  # how many origins (independent fits) it rests on, the method's share included
    cases: int  # backtest rows
    max_distance: float  # the farthest reach it saw (nan: none)

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


def fit_scale(reach, error, weights, noise=0.0, iterations: int = 60) -> tuple[float, float]:
    """(floor, growth) maximising sum_i w_i log Normal(e_i; 0, floor^2 + growth^2 r_i^2 + noise_i^2), by Fisher
    scoring on the variance's two coefficients (elementwise sums only: the same result on every machine)."""
    r2 = np.maximum(np.asarray(reach, dtype=float), 0.0) ** 2
    e2, w = np.asarray(error, dtype=float) ** 2, np.asarray(weights, dtype=float)
    n2 = np.broadcast_to(np.nan_to_num(np.asarray(noise, dtype=float)) ** 2, e2.shape)
    total = np.sum(w)
    a = max(float(np.sum(w * np.maximum(e2 - n2, 0.0)) / total), MIN_FLOOR ** 2)
    b = 0.0
    for _ in range(iterations):
        v = a + b * r2 + n2
        r = (e2 - v) / v ** 2
        g = np.array([np.sum(w * r), np.sum(w * r * r2)]) / 2
        f = np.array([[np.sum(w / v ** 2), np.sum(w * r2 / v ** 2)],
                      [np.sum(w * r2 / v ** 2), np.sum(w * r2 * r2 / v ** 2)]]) / 2
        det = f[0, 0] * f[1, 1] - f[0, 1] ** 2
        if not det > 0:  # every reach alike: the floor alone
            a, b = max(a + g[0] / f[0, 0], MIN_FLOOR ** 2), 0.0
            break
        step = np.array([f[1, 1] * g[0] - f[0, 1] * g[1], f[0, 0] * g[1] - f[0, 1] * g[0]]) / det
        new_a, new_b = max(a + step[0], MIN_FLOOR ** 2), max(b + step[1], 0.0)
        if abs(new_a - a) <= 1e-12 * a and abs(new_b - b) <= 1e-12 * max(b, 1e-12):
            a, b = new_a, new_b
            break
        a, b = new_a, new_b
    return math.sqrt(a), math.sqrt(b)


ERRORS = {"acc": ("pred", "actual", "actual_se"), "loss": ("pred_loss", "actual_loss", "actual_loss_se")}


def errors(rows: pd.DataFrame, value: str) -> pd.Series:
    """The backtests' errors of `value` (acc: accuracy, loss: the intermediate): prediction - actual."""
    pred, act, _ = ERRORS[value]
    return rows[pred] - rows[act]


def reach(backtest: pd.DataFrame) -> pd.Series:
    """Each backtest's distance scaled by the ladder's span over its origin's: how far the whole ladder would have
    extrapolated to be as far out as this origin was."""
    return backtest["distance"] * backtest["ladder_span"] / backtest["fitted_span"]


def fit_model(reach: np.ndarray, error: np.ndarray, origin: np.ndarray, noise=0.0) -> ErrorModel:
    """The error model of a set of backtest rows (their reaches, errors, origins and measurement noise)."""
    noise = np.broadcast_to(np.asarray(noise, dtype=float), np.shape(error))
    keep = np.isfinite(error) & np.isfinite(reach)
    reach, error, origin, noise = reach[keep], error[keep], origin[keep], noise[keep]
    if not len(error):
        return NO_MODEL
    floor, growth = fit_scale(reach, error, _weights(origin), noise)
    return ErrorModel(floor, growth, float(len(np.unique(origin))), len(error), float(np.max(reach)))


def shrunk(own: ErrorModel, pooled: ErrorModel, shrink: float) -> ErrorModel:
    """A task's model pulled toward its method's: variances mixed with weights origins : shrink. It rests on its own
    origins and on the method's in the share the mixing gives them."""
    if not np.isfinite(pooled.floor):
        return own
    if not np.isfinite(own.floor):
        return pooled
    k = own.origins
    mix = lambda x, y: math.sqrt((k * x ** 2 + shrink * y ** 2) / (k + shrink))  # noqa: E731
    return ErrorModel(mix(own.floor, pooled.floor), mix(own.growth, pooled.growth),
                      k + pooled.origins * shrink / (k + shrink), own.cases, max(own.max_distance,
                                                                                 pooled.max_distance))


@dataclass(frozen=True)
class Backtests:
    """A method's backtests as arrays, for fitting error models fast: task, origin, distance, the errors of
    accuracy and of the intermediate, and the rows the models may rest on (`usable`)."""

    task: np.ndarray
    origin: np.ndarray
    reach: np.ndarray
    errors: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    usable: np.ndarray

    @classmethod
    def of(cls, backtest: pd.DataFrame, min_sizes: int) -> "Backtests":
        """The models rest on the origins fitted on at least `min_sizes` sizes (on every origin where none is)."""
        enough = (backtest["fitted_sizes"] >= min_sizes).to_numpy()
        return cls(backtest["task"].to_numpy(dtype=str), backtest["origin"].to_numpy(dtype=str),
                   reach(backtest).to_numpy(dtype=float),
                   {v: errors(backtest, v).to_numpy(dtype=float) for v in ERRORS},
                   {v: backtest[ERRORS[v][2]].to_numpy(dtype=float) for v in ERRORS},
                   enough if enough.any() else np.ones(len(backtest), dtype=bool))

    def models(self, skip_tasks, shrink: float, value: str = "acc", leave_out: str | None = None
               ) -> dict[str, ErrorModel]:
        """task -> its shrunk error model, and "" -> the method's pooled model (on every task but `skip_tasks`: at
        chance, not predictable; each task weighing as much); `leave_out`: an origin whose rows are left out."""
        keep = self.usable if leave_out is None else self.usable & (self.origin != leave_out)
        e, se = self.errors[value], self.noise[value]
        pool = keep & ~np.isin(self.task, list(skip_tasks))
        labels = np.char.add(np.char.add(self.task, "/"), self.origin)  # an origin of each task weighs 1
        pooled = fit_model(self.reach[pool], e[pool], labels[pool], se[pool])
        out = {}
        for task in np.unique(self.task[keep]):
            mine = keep & (self.task == task)
            out[task] = shrunk(fit_model(self.reach[mine], e[mine], self.origin[mine], se[mine]), pooled, shrink)
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
                hw = models.get(task, models[""]).half_width(arrays.reach[rows], level)
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
