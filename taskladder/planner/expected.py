"""How far off a candidate ladder's prediction of the target is expected to be.

A prediction's error has two sources, and the planner adds them:

1. Noise: the ladder's runs scatter around the laws (checkpoint noise, and run noise: one run's final value off
   the law by more than its checkpoints' noise explains), and the fit follows the scatter. This part depends on
   the candidate's design (how many runs, where in N and D, how many checkpoints, seeds), and is measured by
   simulation: the candidate's runs are drawn from the reference's laws and noise (`taskladder.planner.reference`)
   `draws` times, fitted, and each fit's chained prediction of the target compared with the laws' value there.
2. Misspecification: the laws are not the truth, and the farther a ladder extrapolates the farther the truth
   departs from them. Noise drawn from the laws cannot show this; the reference's backtests do: its error model
   (`taskladder.fit.calibration`) gives the error's scale at a reach r as s(r) = sqrt(floor^2 + (growth r)^2),
   with Student-t tails of its degrees of freedom. A candidate's reach at the target is its distance (decades of
   compute from its largest run to the target) scaled by the reference's span over its own, as the calibration
   reads a backtest at its origin's reach: a narrower ladder extrapolates worse at the same distance.

Per task and draw, error = noise error + s(reach) x a t-variate; the t-variates of the tasks are correlated as the
reference's backtest errors are (a Gaussian copula); they cost nothing, so there are MISSPECIFICATION_DRAWS of them,
each paired with the noise draws in turn. The draws are the same for every candidate (common random numbers: one
rung's noise is the same in every candidate that has it), so candidates differ by their design only.
The calibrated scale was measured on backtests whose fits had noise too, so for a candidate like the reference the
sum counts that noise twice: the expected error is conservative there, by at most sqrt(2) where noise dominates.

The expected error of a candidate is the mean over tasks of E|error|; its range, the central `level` share of
the draws' mean |error| over tasks; its interval width, the mean over tasks of the central `level` range of the
error (the width a calibrated interval at the target would need).

Two ways to get the noise part, the second checked against the first (tests/planner/test_plan.py):

- `brute_force`: each draw is a metrics table of the candidate's ladder (every checkpoint), fitted by the
  workflow's own `run_method` (the method's start and every multistart, step 1 and step 2) and chained at the
  target. Exact and slow: seconds per draw.
- `noise_draws` (what `taskladder plan` runs): step 1 is refitted on every draw of the runs' final values (the
  mean of their last `final_checkpoints` checkpoints), warm-started at the laws, with the workflow's objective and
  solver, all candidates, tasks and draws in a few batched solves; step 2, which is fitted on hundreds of smoothed
  checkpoints and nearly linear in their noise, is linearized: the sandwich covariance of its least-squares fit
  under the noise's covariance (checkpoint noise through the moving average, a run's shared accuracy offset, the
  loss noise as noise in x), with a parameter at a bound averaged over held and free (exact in the second moment
  for one bound). The step-2 error at the target is drawn from that normal.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import ndtr, stdtrit

from taskladder.fit.chain import target_inputs
from taskladder.fit.methods import run_method
from taskladder.fit.smoothing import first_kept
from taskladder.fit.solver import solve
from taskladder.planner.candidates import Candidate, SimRun, target_flops
from taskladder.planner.reference import STEP1, STEP2, Reference, TaskModel

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000  # step-1 refits per batched solve
MAX_ITER = 200  # as the prediction intervals' refits (taskladder.fit.intervals.refit_all)
MISSPECIFICATION_DRAWS = 4096  # t-variates per task; the noise draws are cycled through them


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng([p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts])


@lru_cache(maxsize=256)
def smoothing_matrix(m: int, drop: float, window: int) -> np.ndarray:
    """(kept, m): the step-2 points of a run's m checkpoints as a linear map (drop the first, trailing mean)."""
    k0 = first_kept(m, drop)
    out = np.zeros((m - k0, m))
    for i in range(m - k0):
        lo = max(0, i - window + 1)
        out[i, k0 + lo:k0 + i + 1] = 1.0 / (i - lo + 1)
    return out


def _sigmoid_slope(p2: np.ndarray, x: np.ndarray) -> np.ndarray:
    a, l0, k, _ = p2
    s = 1.0 / (1.0 + np.exp(-k * (x - l0)))
    return a * k * s * (1 - s)


def step2_sd(model: TaskModel, runs, target_loss: float, options: dict) -> float:
    """The SD of the step-2 fit's accuracy at `target_loss` from the noise of the runs' checkpoints (linearized
    least squares, with the anchor point (0, 1) where the fit has it; module docstring)."""
    p2 = model.step2
    lower, upper = np.array(STEP2.bounds, float).T
    active = np.flatnonzero((p2 - lower < 1e-6) | (upper - p2 < 1e-6))
    P = len(p2)
    jtj, meat = np.zeros((P, P)), np.zeros((P, P))
    for r in runs:
        loss = model.loss(np.full(len(r.tokens), r.n), r.tokens)
        s = smoothing_matrix(len(r.tokens), options["drop_first"], options["window"])
        x = s @ loss
        jac = STEP2.jacobian(p2, {"x": x})
        jtj += jac.T @ jac
        acc = s.T @ jac  # i.i.d. checkpoint noise of accuracy, through the moving average
        loss_noise = (s.T @ (jac * _sigmoid_slope(p2, x)[:, None])) * (model.loss_sd * loss)[:, None]
        shared = jac.sum(axis=0)
        meat += model.acc_sd ** 2 * acc.T @ acc + loss_noise.T @ loss_noise + model.run_acc_sd ** 2 * np.outer(
            shared, shared)
    anchor = STEP2.jacobian(p2, {"x": np.zeros(1)})
    jtj += anchor.T @ anchor
    h = STEP2.jacobian(p2, {"x": np.array([target_loss])})[0]
    variances = []
    for held in range(2 ** len(active)):  # each parameter at a bound held there or free
        free = np.ones(P, dtype=bool)
        free[[a for i, a in enumerate(active) if held >> i & 1]] = False
        inv = np.linalg.pinv(jtj[np.ix_(free, free)])
        cov = inv @ meat[np.ix_(free, free)] @ inv
        variances.append(float(h[free] @ cov @ h[free]))
    return float(np.sqrt(max(np.mean(variances), 0.0)))


def _cells(runs) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Runs that share (N, D) are one step-1 point: (members of each cell, its N, its D)."""
    cells: dict = {}
    for i, r in enumerate(runs):
        cells.setdefault((r.n, r.d), []).append(i)
    keys = list(cells)
    return list(cells.values()), np.array([k[0] for k in keys]), np.array([k[1] for k in keys])


def _final_draws(model: TaskModel, run: SimRun, task: str, draws: int, last: int, seed: int) -> np.ndarray:
    """(draws,) of a run's final task loss: the mean of its last `last` checkpoints, each the law's value with
    the run's offset and its own checkpoint noise. The same for a run of the same name in any candidate."""
    rng = _rng(seed, "final", task, run.name, int(run.n), int(run.d))
    tokens = run.tokens[-last:]
    law = model.loss(np.full(len(tokens), run.n), tokens)
    offset = np.exp(model.run_loss_sd * rng.standard_normal((draws, 1)))
    noise = 1 + model.loss_sd * rng.standard_normal((draws, len(tokens)))
    return np.mean(law * offset * noise, axis=1)


def noise_draws(reference: Reference, candidates: list[Candidate], target: dict, options: dict, draws: int,
                seed: int = 0, progress=None) -> np.ndarray:
    """(candidates, tasks, draws): each draw's error of the chained prediction at the target from noise alone (the
    fast path of the module docstring); NaN where a refit failed."""
    return noise_draws_at(reference, candidates, [target], options, draws, seed, progress)[:, :, 0]


def noise_draws_at(reference: Reference, candidates: list[Candidate], targets: list[dict], options: dict,
                   draws: int, seed: int = 0, progress=None) -> np.ndarray:
    """(candidates, tasks, targets, draws): `noise_draws` at each of several targets (one refit per draw serves
    them all)."""
    tasks = list(reference.tasks)
    last = reference.final_checkpoints
    inputs = [target_inputs(t) for t in targets]
    x_targets = {k: np.concatenate([x[k] for x in inputs]) for k in ("n", "d")}
    out = np.full((len(candidates), len(tasks), len(targets), draws), np.nan)
    groups: dict[int, list] = {}  # cells -> (candidate, task, n, d, y)
    for c, cand in enumerate(candidates):
        members, n, d = _cells(cand.runs)
        for t, task in enumerate(tasks):
            model = reference.tasks[task]
            finals = np.stack([_final_draws(model, r, task, draws, last, seed) for r in cand.runs], axis=1)
            y = np.stack([finals[:, m].mean(axis=1) for m in members], axis=1)
            groups.setdefault(len(n), []).append((c, t, n, d, y))
    done, total = 0, sum(len(v) for v in groups.values())
    per_chunk = max(1, CHUNK_ROWS // draws)
    for items in groups.values():
        for start in range(0, len(items), per_chunk):
            chunk = items[start:start + per_chunk]
            n = np.concatenate([np.broadcast_to(i[2], (draws, len(i[2]))) for i in chunk])
            d = np.concatenate([np.broadcast_to(i[3], (draws, len(i[3]))) for i in chunk])
            y = np.concatenate([i[4] for i in chunk])
            starts = np.concatenate([np.broadcast_to(reference.tasks[tasks[i[1]]].step1, (draws, 5)) for i in chunk])
            sol = solve(STEP1, {"n": n, "d": d}, y, starts, objective="huber_log", delta=options["huber_delta"],
                        max_iter=MAX_ITER)
            loss = STEP1.value(sol.params, x_targets)  # (rows, targets)
            loss = np.where(np.isfinite(sol.objective)[:, None], loss, np.nan)
            for j, (c, t, *_) in enumerate(chunk):
                model = reference.tasks[tasks[t]]
                out[c, t] = model.accuracy(loss[j * draws:(j + 1) * draws].T)
            done += len(chunk)
            if progress:
                progress(done, total)
    rng = _rng(seed, "step2")
    z = rng.standard_normal((len(tasks), draws))
    for t, task in enumerate(tasks):
        model = reference.tasks[task]
        true_loss = model.loss(x_targets["n"], x_targets["d"])
        true_acc = model.accuracy(true_loss)
        for c, cand in enumerate(candidates):
            sd = np.array([step2_sd(model, cand.runs, float(x), options) for x in true_loss])
            out[c, t] += sd[:, None] * z[t][None] - true_acc[:, None]
    return out


def misspecification_draws(reference: Reference, draws: int, seed: int = 0) -> np.ndarray:
    """(tasks, draws) of standardized misspecification errors: Student-t of each task's error-model degrees of
    freedom, correlated between tasks as the reference's backtest errors are (a Gaussian copula)."""
    rng = _rng(seed, "misspecification")
    tasks = list(reference.tasks)
    chol = np.linalg.cholesky(reference.correlation + 1e-12 * np.eye(len(tasks)))
    z = chol @ rng.standard_normal((len(tasks), draws))
    dof = np.array([reference.tasks[t].error.dof for t in tasks])[:, None]
    return stdtrit(dof, ndtr(z))


def reach(reference: Reference, candidate: Candidate, target: dict) -> float:
    """The candidate's reach at the target in the reference's terms: its distance x the reference's span / its own."""
    return candidate.distance(target_flops(target)) * reference.span / candidate.span


@dataclass
class Expected:
    """Per candidate (rows of `summary`) and per candidate and task (`tasks`) what the draws give."""

    summary: pd.DataFrame
    tasks: pd.DataFrame
    errors: np.ndarray  # (candidates, tasks, draws): every draw's total error


def expected_errors(reference: Reference, candidates: list[Candidate], target: dict, options: dict, draws: int,
                    level: float = 0.9, seed: int = 0, noise: np.ndarray | None = None, progress=None) -> Expected:
    """The expected error at the target of each candidate (module docstring). `noise`: the noise draws where
    already made (e.g. by `brute_force`), else the fast path's."""
    tasks = list(reference.tasks)
    if noise is None:
        noise = noise_draws(reference, candidates, target, options, draws, seed, progress)
    count = max(MISSPECIFICATION_DRAWS, noise.shape[2])  # cheap: many, each paired with a noise draw in turn
    m = misspecification_draws(reference, count, seed)
    flops = target_flops(target)
    scale = np.array([[reference.tasks[t].error.scale(reach(reference, c, target)) for t in tasks]
                      for c in candidates])  # (candidates, tasks)
    errors = noise[:, :, np.arange(count) % noise.shape[2]] + scale[:, :, None] * m[None]
    q = [(1 - level) / 2, (1 + level) / 2]
    absolute = np.abs(errors)
    mean_abs = np.nanmean(absolute, axis=2)  # (candidates, tasks)
    per_draw = np.nanmean(absolute, axis=1)  # (candidates, draws): the mean |error| over tasks
    lo, hi = np.nanquantile(per_draw, q, axis=1)
    width = np.diff(np.nanquantile(errors, q, axis=2), axis=0)[0]  # (candidates, tasks)
    summary = pd.DataFrame({
        "distance": [c.distance(flops) for c in candidates],
        "reach": [reach(reference, c, target) for c in candidates],
        "expected_error": mean_abs.mean(axis=1), "error_lo": lo, "error_hi": hi,
        "interval_width": width.mean(axis=1),
        "noise_error": np.nanmean(np.abs(noise), axis=(1, 2)),
        "misspecification": scale.mean(axis=1),
        "failed_draws": np.mean(~np.isfinite(noise), axis=(1, 2)),
    })
    rows = [{"candidate": c, "task": t, "expected_error": mean_abs[c, i], "interval_width": width[c, i],
             "noise_rms": float(np.sqrt(np.nanmean(noise[c, i] ** 2))), "noise_bias": float(np.nanmean(noise[c, i])),
             "misspecification": scale[c, i]} for c in range(len(candidates)) for i, t in enumerate(tasks)]
    return Expected(summary, pd.DataFrame(rows), errors)


# ---- brute force: simulated metrics tables, fitted by the workflow ---------------------------------------------

def simulate_metrics(reference: Reference, runs, draws: int, seed: int = 0) -> list[pd.DataFrame]:
    """`draws` long metrics tables of a ladder of `runs`, drawn from the reference's laws and noise: per run a
    shared offset of its task loss (and of its accuracy at a given loss), per checkpoint its own noise; accuracy
    follows the run's true loss."""
    rng = _rng(seed, "simulate")
    tables: list[list[pd.DataFrame]] = [[] for _ in range(draws)]
    for task, model in reference.tasks.items():
        for r in runs:
            m = len(r.tokens)
            law = model.loss(np.full(m, r.n), r.tokens)
            true = law[None] * np.exp(model.run_loss_sd * rng.standard_normal((draws, 1)))
            loss = true * (1 + model.loss_sd * rng.standard_normal((draws, m)))
            acc = (model.accuracy(true) + model.run_acc_sd * rng.standard_normal((draws, 1))
                   + model.acc_sd * rng.standard_normal((draws, m)))
            for b in range(draws):
                tables[b].append(pd.DataFrame({"run": r.name, "n": r.n, "step": np.arange(1, m + 1), "tokens": r.tokens,
                                               "task": task, "task_loss": loss[b], "acc": np.clip(acc[b], 0, 1),
                                               "task_ce": np.nan, "lm_loss": np.nan}))
    return [pd.concat(t, ignore_index=True) for t in tables]


def brute_force(reference: Reference, runs, target: dict, method: dict, options: dict, evidence: dict, draws: int,
                seed: int = 0) -> np.ndarray:
    """(tasks, draws): each simulated ladder's error at the target (prediction - the laws' value), fitted by
    `run_method` as the workflow fits (no intervals)."""
    tasks = list(reference.tasks)
    x = target_inputs(target)
    truth = {t: float(m.accuracy(m.loss(x["n"], x["d"]))[0]) for t, m in reference.tasks.items()}
    out = np.full((len(tasks), draws), np.nan)
    spec = {"target": {"n": target["n"], "d": target["d"], "flops": target.get("flops"), "metrics": None}}
    interval = {"draws": 0, "level": 0.9, "block": 5, "calibration_sizes": 3, "calibration_span": 0.5, "shrink": 4}
    for b, metrics in enumerate(simulate_metrics(reference, runs, draws, seed)):
        pred = run_method("two_step", method, metrics, spec, tasks, options, interval, evidence).predictions
        for i, t in enumerate(tasks):
            out[i, b] = float(pred.loc[pred["task"] == t, "pred_acc"].iloc[0]) - truth[t]
    return out
