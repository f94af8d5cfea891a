"""The reference ladder: what a candidate ladder is simulated from.

Per task, everything the simulation draws from and adds to it (`taskladder.planner.expected`):

- the laws: the `two_step` method's step 1 (`power_nd`) and step 2 (`sigmoid`) as fitted on the reference ladder;
- the noise around them, in two parts:
  - checkpoint noise: the SD of accuracy and the relative SD of task loss from one checkpoint to the next
    (each run's last 10 checkpoints around a straight line in log tokens, as `taskladder.fit.predictability`
    measures it; the median over the runs);
  - run noise: how far a run's final value lies from the law beyond what its checkpoint noise explains (seed,
    data order, and whatever else makes one run differ from the next): the step-1 residuals of the runs' final
    task losses (in log; their sum of squares in units of the noise's variance is measured by refitting simulated
    ladders of the same runs, `run_noise`), less the checkpoint noise of a mean of `final_checkpoints`
    checkpoints; for accuracy, the final accuracies' residuals around step 2 at the final loss;
- the misspecification: the `two_step` error model against reach (`taskladder.fit.calibration.task_models`: floor,
  growth per decade of reach, degrees of freedom), fitted on the reference ladder's own backtests as the workflow
  calibrates its intervals, and the correlation of the backtests' errors between tasks (shrunk toward none by the
  calibration's `shrink` pseudo-origins).

`Reference.from_metrics` measures all of it on a ladder's metrics (the workflow's own fit: `run_method`).
`Reference.default()` is the paper's ladder: the laws of paper Table 7 (`taskladder.synthetic.truth.TRUE_LAWS`),
the paper's checkpoint noise (`taskladder.synthetic.worlds.NOISE`), and the run noise, error models and error
correlation that `Reference.from_metrics` measures on the released ladder logs (DEFAULT below; `python -m
taskladder.planner.validate --default` prints them again, and a test checks them against the logs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from taskladder.base.config import paper_methods
from taskladder.fit import laws
from taskladder.fit.calibration import NO_MODEL, ErrorModel, task_models
from taskladder.fit.methods import run_method
from taskladder.fit.points import FitError
from taskladder.fit.smoothing import final_points, runs_of
from taskladder.fit.solver import solve
from taskladder.planner.candidates import SimRun

log = logging.getLogger(__name__)

STEP1, STEP2 = laws.get("power_nd"), laws.get("sigmoid")
LAST = 10  # checkpoints the checkpoint noise is measured over (as taskladder.fit.predictability)
CALIBRATION_DRAWS = 2  # run_method needs draws > 0 to backtest; the error models do not depend on their number
RESIDUAL_DRAWS = 200  # simulated ladders that measure what step 1's residuals are in units of the noise
RESIDUAL_ITER = 1000  # as the workflow's fits


@dataclass(frozen=True)
class TaskModel:
    step1: np.ndarray  # power_nd parameters (log A, log B, alpha, beta, E)
    step2: np.ndarray  # sigmoid parameters (a, L0, k, b)
    acc_sd: float  # checkpoint-to-checkpoint SD of accuracy
    loss_sd: float  # checkpoint-to-checkpoint relative SD of task loss
    run_loss_sd: float  # run-to-run SD of log task loss beyond checkpoint noise
    run_acc_sd: float  # run-to-run SD of accuracy at a given loss beyond checkpoint noise
    error: ErrorModel  # the misspecification scale against reach

    def loss(self, n, d) -> np.ndarray:
        return STEP1.value(self.step1, {"n": np.asarray(n, float), "d": np.asarray(d, float)})

    def accuracy(self, loss) -> np.ndarray:
        return STEP2.value(self.step2, {"x": np.asarray(loss, float)})


@dataclass(frozen=True)
class Reference:
    source: str  # what it was measured on
    tasks: dict[str, TaskModel]
    span: float  # decades of compute its ladder covers
    correlation: np.ndarray  # (tasks, tasks): the correlation of misspecification errors between tasks
    final_checkpoints: int
    runs: tuple[SimRun, ...] = field(default=(), repr=False)  # its ladder's runs (none for the default)
    notes: dict = field(default_factory=dict)  # task -> why it was left out

    @classmethod
    def from_metrics(cls, metrics: pd.DataFrame, tasks: list[str], options: dict, intervals: dict, evidence: dict,
                     method: dict | None = None, source: str = "metrics", default=None) -> Reference:
        """Measure a reference on a ladder's long metrics table with `method` (default: the paper's two_step): fit
        it, backtest it, calibrate it as the workflow does. A task the method cannot fit, or at chance on the
        ladder, is left out (with its note); `default` (a Reference) lends its error model to a task whose ladder
        gives no backtests."""
        method = method or paper_methods()["two_step"]
        if method["step1"]["law"] != STEP1.name or (method.get("step2") or {}).get("law") != STEP2.name:
            raise FitError(f"planner: simulates the two_step method ({STEP1.name}, then {STEP2.name}); this config's "
                           f"two_step fits {method['step1']['law']}, then {(method.get('step2') or {}).get('law')}")
        runs = _runs(metrics)
        probe = {"probe": {"n": runs[-1].n * 10, "d": runs[-1].d * 10, "flops": None, "metrics": None}}
        result = run_method("two_step", method, metrics, probe, tasks, options,
                            {**intervals, "draws": CALIBRATION_DRAWS}, evidence)
        notes = {r.task: r.note for r in result.predictions.itertuples() if isinstance(r.note, str) and r.note}
        last = options["final_checkpoints"]
        laws = {}
        for task in tasks:
            if task in notes:
                log.warning("planner: %s left out of the reference: %s", task, notes[task])
                continue
            fits = result.fits[result.fits["task"] == task].set_index("step")
            p1 = STEP1.from_published(fits.loc["step1"])
            p2 = STEP2.from_published(fits.loc["step2"])
            acc_sd, loss_sd = checkpoint_noise(metrics, task)
            laws[task] = TaskModel(p1, p2, acc_sd, loss_sd, *run_noise(metrics, task, p1, p2, acc_sd, loss_sd, last,
                                                                       options["huber_delta"]), error=NO_MODEL)
        backtest = result.backtest[result.backtest["task"].isin(list(laws))]
        models = task_models(backtest, [], intervals["calibration_sizes"], intervals["shrink"], "acc")
        found = {}
        for task, model in laws.items():
            error = models.get(task, models.get(""))
            if error is None or not np.isfinite(error.floor):
                if default is None or task not in default.tasks:
                    notes[task] = "no backtests to measure its misspecification on"
                    log.warning("planner: %s left out of the reference: %s", task, notes[task])
                    continue
                log.warning("planner: %s: the reference ladder gives no backtests; its misspecification scale is "
                            "the default reference's", task)
                error = default.tasks[task].error
            found[task] = replace(model, error=error)
        if not found:
            raise FitError(f"planner: no task of {tasks} can be simulated from {source}: "
                           + "; ".join(f"{t}: {n}" for t, n in notes.items()))
        corr = error_correlation(result.backtest, list(found), intervals["shrink"])
        flops = [r.flops for r in runs]
        return cls(source, found, float(np.log10(max(flops) / min(flops))), corr, last, tuple(runs), notes)

    @classmethod
    def default(cls, tasks=None) -> Reference:
        """The paper's ladder (module docstring); `tasks`: those of the paper's 8 to keep (default: all)."""
        from taskladder.synthetic.truth import TRUE_LAWS, step1_params
        from taskladder.synthetic.worlds import NOISE

        names = [t for t in DEFAULT["tasks"] if tasks is None or t in tasks]
        missing = [t for t in (tasks or []) if t not in DEFAULT["tasks"]]
        if not names:
            raise FitError(f"planner: the default reference holds the paper's tasks {list(DEFAULT['tasks'])}; "
                           f"none of {list(tasks)} is among them: give --from a ladder that measured them")
        if missing:
            log.warning("planner: the default reference holds the paper's tasks only; left out: %s (give --from a "
                        "ladder that measured them)", ", ".join(missing))
        found = {}
        for t in names:
            run_loss, run_acc, floor, growth, origins = DEFAULT["tasks"][t]
            found[t] = TaskModel(step1_params(t), np.array(TRUE_LAWS[t][1], float), NOISE[t][0], NOISE[t][1],
                                 run_loss, run_acc, ErrorModel(floor, growth, origins, 0, DEFAULT["max_reach"]))
        index = [list(DEFAULT["tasks"]).index(t) for t in names]
        corr = np.asarray(DEFAULT["correlation"], float)[np.ix_(index, index)]
        return cls("the default reference (the paper's ladder: Table 7 laws, the released logs' noise and backtests)",
                   found, DEFAULT["span"], corr, 5)

    def summary(self) -> pd.DataFrame:
        """One row per task: what the simulation draws from."""
        return pd.DataFrame([{"task": t, "run_loss_sd": m.run_loss_sd, "run_acc_sd": m.run_acc_sd,
                              "loss_sd": m.loss_sd, "acc_sd": m.acc_sd, "floor": m.error.floor,
                              "growth": m.error.growth, "origins": m.error.origins, "dof": m.error.dof}
                             for t, m in self.tasks.items()])


def _runs(metrics: pd.DataFrame) -> list[SimRun]:
    """The ladder's runs (by N, then D) with their checkpoints' tokens."""
    task = metrics["task"].iloc[0]
    return [SimRun(r.name, r.n, r.tokens, r.flops) for r in runs_of(metrics, task, ["acc"])]


def _line_sd(tokens: np.ndarray, values: np.ndarray) -> float:
    """The SD of the last LAST values around a straight line in log tokens (2 degrees of freedom used)."""
    y = values[-LAST:]
    x = np.log(np.maximum(tokens[-LAST:], 1.0))
    x, y = x - x.mean(), y - y.mean()
    slope = float((x * y).sum() / (x * x).sum()) if (x * x).sum() > 0 else 0.0
    return float(np.sqrt(((y - slope * x) ** 2).sum() / (len(y) - 2)))


def checkpoint_noise(metrics: pd.DataFrame, task: str) -> tuple[float, float]:
    """(SD of accuracy, relative SD of task loss) between checkpoints: the median over runs with 4 or more."""
    acc, loss = [], []
    for r in runs_of(metrics, task, ["acc", "task_loss"]):
        if len(r.steps) >= 4:
            acc.append(_line_sd(r.tokens, r.values["acc"]))
            loss.append(_line_sd(r.tokens, r.values["task_loss"]) / abs(np.mean(r.values["task_loss"][-LAST:])))
    return (float(np.median(acc)), float(np.median(loss))) if acc else (0.0, 0.0)


def run_noise(metrics: pd.DataFrame, task: str, p1: np.ndarray, p2: np.ndarray, acc_sd: float, loss_sd: float,
              last: int, delta: float = 1e-3, draws: int = RESIDUAL_DRAWS, seed: int = 0) -> tuple[float, float]:
    """(SD of log task loss, SD of accuracy at a given loss) of a run's final value around the laws beyond its
    checkpoint noise. Step 1's residuals are smaller than the noise that made them, as its fit absorbs some: by
    how much depends on the design and the objective (the Huber fit of log loss is near L1, whose residuals are
    not those of least squares: with 9 runs, sum r^2 / (n - 5) is 1.45 times the noise's variance; with 16, 1.19),
    so the residuals' sum of squares is divided by its expected value under the noise, found by refitting
    `draws` simulated ladders of the same runs from the same law (a parametric bootstrap). With no degree of
    freedom left, none is measured."""
    points = final_points(metrics, task, ["task_loss", "acc"], last)
    k = min(last, int(metrics[metrics["task"] == task].groupby("run").size().min()))
    seeds = points["seeds"].to_numpy(float)
    x = {"n": points["n"].to_numpy(float), "d": points["d"].to_numpy(float)}
    r1 = np.log(points["task_loss"].to_numpy(float)) - np.log(STEP1.value(p1, x))
    s1 = 0.0
    if len(points) > len(STEP1.params):
        observed = float(np.sum(seeds * r1 ** 2))
        s1 = observed / residual_factor(p1, x, seeds, np.sqrt(observed / (len(points) - len(STEP1.params))), delta,
                                        draws, seed)
    loss = points["task_loss"].to_numpy(float)
    r2 = points["acc"].to_numpy(float) - STEP2.value(p2, {"x": loss})
    s2 = float(np.sum(seeds * r2 ** 2) / len(points))
    return float(np.sqrt(max(s1 - loss_sd ** 2 / k, 0.0))), float(np.sqrt(max(s2 - acc_sd ** 2 / k, 0.0)))


def residual_factor(p1: np.ndarray, x: dict, seeds: np.ndarray, sigma: float, delta: float, draws: int,
                    seed: int = 0) -> float:
    """E[sum_i seeds_i r_i^2] / sigma^2 of step 1's fit (the workflow's objective and solver, warm-started at the
    law) on points drawn from the law with log noise of SD sigma (/ sqrt(seeds)): what the residuals' sum of
    squares is in units of the noise's variance."""
    sigma = max(float(sigma), 1e-4)
    rng = np.random.default_rng([seed, len(seeds)])
    law = STEP1.value(p1, x)
    y = law * np.exp(sigma / np.sqrt(seeds) * rng.standard_normal((draws, len(law))))
    wide = {k: np.broadcast_to(v, (draws, len(v))) for k, v in x.items()}
    sol = solve(STEP1, wide, y, np.broadcast_to(p1, (draws, len(p1))), objective="huber_log", delta=delta,
                max_iter=RESIDUAL_ITER)
    r = np.log(y) - np.log(STEP1.value(sol.params, wide))
    ok = np.isfinite(sol.objective)
    return float(np.mean(np.sum(seeds * r[ok] ** 2, axis=1)) / sigma ** 2) if ok.any() else float(len(seeds) - 5)


def error_correlation(backtest: pd.DataFrame, tasks: list[str], shrink: float) -> np.ndarray:
    """The correlation of the backtests' accuracy errors between tasks (over the held-out runs of every origin),
    shrunk toward none with weight origins / (origins + shrink), as the calibration shrinks a task's model."""
    eye = np.eye(len(tasks))
    if backtest.empty or len(tasks) < 2:
        return eye
    rows = backtest[backtest["task"].isin(tasks)].assign(error=backtest["pred"] - backtest["actual"])
    wide = rows.pivot_table(index=["origin", "run"], columns="task", values="error").reindex(columns=tasks)
    if len(wide) < 3:
        return eye
    corr = wide.corr(min_periods=3).to_numpy()
    corr = np.where(np.isfinite(corr), corr, 0.0)
    origins = rows["origin"].nunique()
    weight = origins / (origins + shrink)
    return nearest_correlation(weight * corr + (1 - weight) * eye)


def nearest_correlation(c: np.ndarray) -> np.ndarray:
    """`c` made positive semi-definite (eigenvalues clipped at a small floor) with a unit diagonal."""
    c = (c + c.T) / 2
    values, vectors = np.linalg.eigh(c)
    fixed = (vectors * np.maximum(values, 1e-6)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)


# Measured on the released ladder logs by Reference.from_metrics (two_step, the schema's fit and interval options):
# per task (run loss SD, run accuracy SD, misspecification floor, growth per decade of reach, origins); the
# correlation of backtest errors between tasks (in the order of `tasks`); the ladder's span; the farthest reach
# its backtests saw.
DEFAULT = {
    "tasks": {  # task: (run loss SD, run accuracy SD, floor, growth, origins)
        "mmlu": (0.00700, 0.00263, 0.00743, 0.01181, 16.714),
        "hellaswag": (0.00376, 0.00949, 0.00971, 0.01973, 16.714),
        "arc_challenge": (0.00718, 0.00898, 0.00953, 0.01544, 16.714),
        "arc_easy": (0.01847, 0.00955, 0.00792, 0.02180, 16.714),
        "piqa": (0.00471, 0.00506, 0.00836, 0.01217, 16.714),
        "csqa": (0.01593, 0.01124, 0.01047, 0.01181, 16.714),
        "socialiqa": (0.00890, 0.00528, 0.01326, 0.01403, 16.714),
        "openbookqa": (0.00940, 0.00938, 0.00918, 0.01369, 16.714),
    },
    "correlation": [
        [1.00, 0.28, 0.31, 0.28, 0.30, -0.26, -0.31, 0.30],
        [0.28, 1.00, 0.32, 0.39, 0.30, -0.00, -0.11, 0.20],
        [0.31, 0.32, 1.00, 0.37, 0.21, -0.16, -0.14, 0.31],
        [0.28, 0.39, 0.37, 1.00, 0.24, -0.11, -0.17, 0.22],
        [0.30, 0.30, 0.21, 0.24, 1.00, -0.06, -0.19, 0.27],
        [-0.26, -0.00, -0.16, -0.11, -0.06, 1.00, 0.37, -0.16],
        [-0.31, -0.11, -0.14, -0.17, -0.19, 0.37, 1.00, -0.19],
        [0.30, 0.20, 0.31, 0.22, 0.27, -0.16, -0.19, 1.00],
    ],
    "span": 2.5520,
    "max_reach": 1.6578,
}
