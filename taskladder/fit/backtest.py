"""Backtests from the ladder alone, at every distance it allows: fit on part of the ladder, predict the rest.

Two kinds of origin (each a subset of the ladder's runs the method is fitted on), kept where they resemble the
ladder a target is predicted from (at least `intervals.calibration_sizes` model sizes spanning at least
`intervals.calibration_span` of the ladder's decades of compute: a ladder of its three smallest sizes extrapolates
far worse than the whole ladder does at the same distance):

- sizes: the runs of the k smallest model sizes, for k = 2 .. sizes - 1; every larger run is predicted
  (OLMo-core's "rollout" predicts only size k + 1; here k + 1, k + 2, ... all are);
- compute: the runs below a fraction of the ladder's largest compute (COMPUTE_FRACTIONS), predicting every run
  above it; an origin whose runs are those of a size origin is not repeated.

Each held-out run is predicted as a target at its N, final tokens and FLOPs, and compared with its actual value
(the mean of its last `final_checkpoints` checkpoints, as a target's actual is), with that mean's standard error
from the run's own checkpoint noise (`actual_se`). Each row records its `distance`: log10 of the held-out run's
compute over the largest compute the origin fitted, the quantity the calibration models the error against
(`taskladder.fit.calibration`). The origins of every task are fitted in one batched solve per step
(`taskladder.fit.chain.fit_tasks`), warm-started at the full fit. No target data is read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from taskladder.fit.chain import fit_tasks, predict_target
from taskladder.fit.points import Sample, TaskData, columns, make_points
from taskladder.fit.smoothing import final_value

log = logging.getLogger(__name__)

COMPUTE_FRACTIONS = (1 / 3, 1 / 10, 1 / 30, 1 / 100)
COLUMNS = ["method", "task", "origin", "kind", "run", "n", "d", "fitted_sizes", "fitted_max_n", "fitted_span",
           "ladder_span", "distance", "pred",
           "lo", "hi", "actual", "error", "covered", "actual_se", "pred_loss", "loss_lo", "loss_hi", "actual_loss",
           "actual_loss_se"]


@dataclass(frozen=True)
class Origin:
    """A backtest: the ladder runs it is fitted on (a mask over the ladder, in canonical order) and those it
    predicts."""

    name: str
    kind: str  # sizes or compute
    fitted: tuple[bool, ...]
    held: tuple[int, ...]

    def sizes(self, data: TaskData) -> int:
        return len({r.n for r, f in zip(data.ladder, self.fitted) if f})

    def max_flops(self, data: TaskData) -> float:
        return max(r.flops for r, f in zip(data.ladder, self.fitted) if f)

    def span(self, data: TaskData) -> float:
        """Decades of compute its fitted runs cover."""
        flops = [r.flops for r, f in zip(data.ladder, self.fitted) if f]
        return float(np.log10(max(flops) / min(flops)))


def ladder_span(data: TaskData) -> float:
    """Decades of compute the ladder's runs cover."""
    flops = [r.flops for r in data.ladder]
    return float(np.log10(max(flops) / min(flops)))


def origins(data: TaskData, min_sizes: int = 2, min_share: float = 0.0, fractions=COMPUTE_FRACTIONS) -> list[Origin]:
    """The backtests that resemble the ladder a target is predicted from: fitted on at least `min_sizes` model sizes
    spanning at least `min_share` of the ladder's decades of compute (all that can be fitted, with 2 sizes or more,
    where none does). By sizes, then by compute fraction; each fitted set once."""
    found = _all_origins(data, fractions)
    span = ladder_span(data)
    like = [o for o in found if o.sizes(data) >= min_sizes and o.span(data) >= min_share * span]
    return like or found


def _all_origins(data: TaskData, fractions) -> list[Origin]:
    runs = data.ladder
    sizes = sorted({r.n for r in runs})
    out, seen = [], set()
    for k in range(2, len(sizes)):
        fitted = tuple(r.n <= sizes[k - 1] for r in runs)
        out.append(Origin(f"N<={sizes[k - 1]:.3g}", "sizes", fitted, tuple(i for i, f in enumerate(fitted) if not f)))
        seen.add(fitted)
    top = max(r.flops for r in runs)
    for fraction in fractions:
        fitted = tuple(r.flops <= fraction * top * (1 + 1e-9) for r in runs)
        if fitted in seen or not any(fitted) or all(fitted):
            continue
        seen.add(fitted)
        out.append(Origin(f"C<={fraction:.3g}*max", "compute", fitted, tuple(i for i, f in enumerate(fitted) if not f)))
    return out


def actual_errors(data: TaskData, column: str, options: dict, se_of) -> dict[str, tuple[float, float]]:
    """run -> (its actual value of `column`, the standard error of that mean from its checkpoint noise)."""
    last = options["final_checkpoints"]
    return {r.name: (float(final_value(r.values[column], last)), se_of(r, column)) for r in data.ladder
            if column in r.values}


def backtest_tasks(name: str, method: dict, tasks: dict[str, tuple], options: dict, interval: dict, se_of) -> list[dict]:
    """One row per (task, origin, held-out run): the prediction, the actual and its standard error, the distance.
    `tasks`: task -> (its data, its full fit); the origins are those of `interval`'s calibration_sizes and
    calibration_span; every task's origins are fitted in one batched solve per step, from the method's start, the
    full fit and the seeded random starts. `se_of(run, column)`: a run's standard error of its final value
    (taskladder.fit.intervals.final_value_se)."""
    inter, acc, _ = columns(method)
    items, where = [], []
    for task, (data, full_fit) in tasks.items():
        found = origins(data, interval["calibration_sizes"], interval["calibration_span"])
        if not found:
            continue
        points = make_points(data, Sample.subsets(data, [o.fitted for o in found]), method, options)
        items += [(data, points, v, full_fit) for v in range(len(found))]
        where += [(task, data, origin) for origin in found]
    rows, actuals = [], {}
    for (task, data, origin), fits in zip(where, fit_tasks(name, method, items, options, compact=False)):
        if not isinstance(fits, dict):
            log.info("%s %s: backtest %s skipped: %s", name, task, origin.name, fits)
            continue
        if task not in actuals:
            actuals[task] = (actual_errors(data, acc, options, se_of),
                             actual_errors(data, inter, options, se_of) if inter else {})
        actual_acc, actual_loss = actuals[task]
        top = origin.max_flops(data)
        fitted_max_n = max(r.n for r, f in zip(data.ladder, origin.fitted) if f)
        for i in origin.held:
            run = data.ladder[i]
            pred_loss, pred = predict_target(fits, {"n": run.n, "d": run.d, "flops": run.flops})
            actual, se = actual_acc.get(run.name, (np.nan, np.nan))
            loss, loss_se = actual_loss.get(run.name, (np.nan, np.nan))
            rows.append({"method": name, "task": task, "origin": origin.name, "kind": origin.kind, "run": run.name,
                         "n": run.n, "d": run.d, "fitted_sizes": origin.sizes(data), "fitted_max_n": fitted_max_n,
                         "fitted_span": origin.span(data), "ladder_span": ladder_span(data),
                         "distance": float(np.log10(run.flops / top)), "pred": pred, "actual": actual,
                         "actual_se": se, "pred_loss": pred_loss, "actual_loss": loss, "actual_loss_se": loss_se})
    return rows
