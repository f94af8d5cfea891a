"""Fit one method's two steps on one task and chain them at a target.

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

Points are made for a batch of versions of the data at once (`Sample`): the ladder as measured
(one version) for the fit, or resampled ladders for the prediction intervals; the same code
makes both (`make_points`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskladder.fit.smoothing import (
    Run,
    cells,
    final_value,
    first_kept,
    runs_of,
    smooth,
)

# accuracy of random guessing, used to start step 2 at a = chance - 1 (paper's start)
CHANCE = {"piqa": 0.5, "socialiqa": 1 / 3, "csqa": 0.2, "boolq": 0.5, "winogrande": 0.5}


DEFAULT_CHANCE = 0.25


class FitError(ValueError):
    """Data a method cannot be fitted on; the message names the method, task and what is missing."""


def chance(task: str, overrides: dict | None = None) -> float:
    return (overrides or {}).get(task, CHANCE.get(task, DEFAULT_CHANCE))


def method_options(method: dict, options: dict) -> dict:
    """The fit options of one method: the config's `fit` options under the method's own `fit`."""
    return {**options, **(method.get("fit") or {})}


def columns(method: dict) -> tuple[str | None, str, str]:
    """(intermediate, accuracy, step-1 output) columns of a method."""
    inter, acc = (method.get("intermediate") if method.get("step2") else None), method.get("accuracy", "acc")
    return inter, acc, inter or acc


@dataclass
class TaskData:
    """The runs one method fits for one task, in canonical order."""

    task: str
    ladder: list[Run]  # step 1 (and step 2 unless the method names other runs)
    step2: list[Run]  # the runs step 2 is fitted on: the ladder, or the runs the method names
    separate: bool  # step 2's runs are not the ladder's
    docs: float | None = None  # documents each evaluation scored (the median), where the metrics say


def task_docs(metrics: pd.DataFrame, task: str) -> float | None:
    """How many documents an evaluation of `task` scored (the median over its rows), where the metrics say: the
    binomial floor under the noise that decides `at_chance` (taskladder.fit.predictability)."""
    if "docs" not in metrics:
        return None
    docs = metrics.loc[metrics["task"] == task, "docs"]
    return float(docs.median()) if docs.notna().any() else None


def needed_metrics(method: dict, ladder: bool = True) -> list[str]:
    """The metrics a method fits on the ladder's runs (`ladder`: step 1's output, and the intermediate and the
    accuracy where step 2 is fitted on the ladder too) or on the runs its step 2 names."""
    inter, acc, y1 = columns(method)
    s2 = method.get("step2")
    fitted = [y1] if ladder else []
    if s2 and (not ladder or not s2.get("runs")):
        fitted += [inter, acc]
    return list(dict.fromkeys(fitted))


def check_metrics(name: str, runs: list, task: str, needed: list[str]) -> None:
    """Every run has a value of every metric a method fits; else one line naming the method, task and metric."""
    for run in runs:
        for column in needed:
            if np.isnan(run.values[column]).all():
                what = {"task_loss": "task loss", "task_ce": "TaskCE", "lm_loss": "LM loss"}.get(column, column)
                raise FitError(f"method {name}, task {task}: no {what} ({column}) in the metrics of run {run.name}; "
                               "this method needs it (a source of accuracy only, such as lm-eval output without "
                               "--log_samples, suits the methods that fit accuracy alone: single_step)")


def task_data(name: str, method: dict, metrics: pd.DataFrame, task: str,
              others: pd.DataFrame | None = None) -> TaskData:
    inter, acc, y1 = columns(method)
    ladder = runs_of(metrics, task, [c for c in dict.fromkeys([y1, inter, acc]) if c])
    check_metrics(name, ladder, task, needed_metrics(method))
    s2 = method.get("step2")
    docs = task_docs(metrics, task)
    if not s2 or not s2.get("runs"):
        return TaskData(task, ladder, ladder, False, docs)
    source = others[others["run"].isin(s2["runs"])] if others is not None else None
    if source is None or source.empty:
        raise FitError(f"method {name}: step 2 runs {s2['runs']} have no metrics; import them (ladder: false)")
    step2 = runs_of(source, task, [inter, acc], s2.get("steps"))
    check_metrics(name, step2, task, needed_metrics(method, ladder=False))
    return TaskData(task, ladder, step2, True, docs)


@dataclass
class Sample:
    """B versions of a task's data: per run its values (column -> (B, m)) and multiplicity (B,)."""

    ladder: list[dict[str, np.ndarray]]
    ladder_counts: np.ndarray  # (B, runs)
    step2: list[dict[str, np.ndarray]]
    step2_counts: np.ndarray

    @classmethod
    def measured(cls, data: TaskData) -> "Sample":
        """The data as measured: one version, every run once."""
        ladder = [{c: v[None] for c, v in r.values.items()} for r in data.ladder]
        step2 = [{c: v[None] for c, v in r.values.items()} for r in data.step2] if data.separate else ladder
        return cls(ladder, np.ones((1, len(data.ladder))), step2, np.ones((1, len(data.step2))))

    @classmethod
    def subsets(cls, data: TaskData, masks: np.ndarray) -> "Sample":
        """One version per row of `masks` (versions, ladder runs): the ladder's runs it keeps, each once (a
        backtest's fitted runs); step 2's own runs, where the method names some, are kept whole."""
        masks = np.asarray(masks, dtype=float)
        ladder = [{c: np.broadcast_to(v, (len(masks), len(v))) for c, v in r.values.items()} for r in data.ladder]
        if not data.separate:
            return cls(ladder, masks, ladder, masks)
        step2 = [{c: np.broadcast_to(v, (len(masks), len(v))) for c, v in r.values.items()} for r in data.step2]
        return cls(ladder, masks, step2, np.ones((len(masks), len(data.step2))))

    @property
    def size(self) -> int:
        return self.ladder_counts.shape[0]


@dataclass
class Points:
    """The points of both steps for B versions of the data: inputs, outputs and weights, shape (B, n)."""

    x1: dict[str, np.ndarray]
    y1: np.ndarray
    w1: np.ndarray
    x2: np.ndarray | None = None
    y2: np.ndarray | None = None
    w2: np.ndarray | None = None


def make_points(data: TaskData, sample: Sample, method: dict, options: dict) -> Points:
    """Step-1 points (one per (N, D) cell: the mean of its runs' last checkpoints, weighted by how often each
    run is in the sample) and step-2 points (every kept, smoothed checkpoint, weighted likewise)."""
    inter, acc, y1 = columns(method)
    groups = cells(data.ladder)
    x1 = {"n": np.array([data.ladder[g[0]].n for g in groups]), "d": np.array([data.ladder[g[0]].d for g in groups]),
          "flops": np.array([np.mean([data.ladder[i].flops for i in g]) for g in groups])}
    final = np.stack([final_value(v[y1], options["final_checkpoints"]) for v in sample.ladder], axis=1)  # (B, runs)
    c = sample.ladder_counts
    w1 = np.stack([c[:, g].sum(axis=1) for g in groups], axis=1)
    with np.errstate(invalid="ignore"):
        y = np.stack([(c[:, g] * final[:, g]).sum(axis=1) for g in groups], axis=1) / w1
    w1 = w1 / np.array([len(g) for g in groups])
    points = Points(x1, np.where(w1 > 0, y, 1.0), w1)
    s2 = method.get("step2")
    if not s2:
        return points
    drop, window = options["drop_first"], options["window"]
    xs, ys, ws = [], [], []
    for values, count in zip(sample.step2, sample.step2_counts.T):
        xs.append(smooth(values[inter], drop, window))
        ys.append(smooth(values[acc], drop, window))
        ws.append(np.broadcast_to(count[:, None], xs[-1].shape))
    x2, y2, w2 = (np.concatenate(a, axis=1) for a in (xs, ys, ws))
    if s2.get("above_chance") is not None:
        w2 = np.where(y2 > chance(data.task, options.get("chance")) + s2["above_chance"], w2, 0.0)
    if s2.get("anchor", True):  # a perfect model: zero loss, full accuracy
        ones = np.ones((sample.size, 1))
        x2, y2, w2 = np.hstack([x2, 0 * ones]), np.hstack([y2, ones]), np.hstack([w2, ones])
    points.x2, points.y2, points.w2 = x2, y2, w2
    return points


def points_frame(data: TaskData, points: Points, method: dict, options: dict) -> pd.DataFrame:
    """The measured points each step was fitted on (weight > 0), for points.csv and the figures."""
    groups = cells(data.ladder)
    step1 = pd.DataFrame({"run": ["+".join(data.ladder[i].name for i in g) for g in groups],
                          "n": points.x1["n"], "d": points.x1["d"], "flops": points.x1["flops"],
                          "y": points.y1[0], "fit_step": "step1"})[points.w1[0] > 0]
    if points.x2 is None:
        return step1.reset_index(drop=True)
    parts = []
    for r in data.step2:
        k = first_kept(len(r.steps), options["drop_first"])
        parts.append(pd.DataFrame({"run": r.name, "n": r.n, "step": r.steps[k:], "tokens": r.tokens[k:]}))
    step2 = pd.concat(parts, ignore_index=True)
    m = len(step2)  # the anchor, if any, comes after the checkpoints
    step2 = step2.assign(x=points.x2[0][:m], y=points.y2[0][:m], fit_step="step2")[points.w2[0][:m] > 0]
    return pd.concat([step1, step2], ignore_index=True)
