"""Prediction intervals: resample the ladder, refit both steps on every resample, calibrate on backtests.

A draw resamples the ladder in two ways at once (Besiroglu et al. 2024 resample the fitted points;
checkpoints of one run are not independent, so they are resampled in blocks):

- runs: within each model size, the size's runs get random weights that sum to the number of runs
  (the Bayesian bootstrap, Rubin 1981: a draw with replacement whose counts are smoothed, so no
  draw loses a run entirely; the ladder keeps its sizes, as its design does). Runs that differ
  only by seed are weighted the same way, so their spread enters the interval.
- checkpoints: each run's checkpoints are its trend plus its residuals, and the residuals are
  resampled in circular blocks of `block` consecutive checkpoints, the same blocks for every
  metric of the run (task loss and accuracy keep their joint noise). The trend is a local
  quadratic in log tokens over 8 blocks: it follows the steep start of a loss curve, and is wide
  enough that the residuals of one block do not cancel out.

Each draw's points are made and both steps refitted exactly as the fit's (`taskladder.fit.methods`),
warm-started at the fit, and chained at each target: every draw goes through step 1 *and* step 2.
The draws are the same for every method (they depend on the seed, the task and the runs only),
so methods can be combined draw by draw (`taskladder.fit.ensemble`).

The draws' central `level` range is the raw interval: the spread that noise in the ladder alone explains. The
calibrated interval (`taskladder.fit.methods`) widens it to what the backtests at the target's distance have shown
(`taskladder.fit.calibration`), and to cover the predictions of other minima within `fit.minima_rtol` of the lowest.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from taskladder.fit.batch import Problem, solve_all
from taskladder.fit.chain import chain
from taskladder.fit.points import Sample, TaskData, make_points
from taskladder.fit.smoothing import Run, final_value
from taskladder.fit.solver import FitResult, cholesky_solve

MIN_HALF_WIDTH = 1e-6  # a raw half-width below this counts as this (a draw-free or degenerate interval)
TREND_BLOCKS = 8  # the trend is fitted over this many blocks: residuals nearly independent within a block


def _seed(*parts) -> list[int]:
    return [int(p) if isinstance(p, (int, np.integer)) else zlib.crc32(str(p).encode()) for p in parts]


def trend_rows(x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(window indices (m, w), hat rows (m, w)) of the local quadratic trend against x: at each checkpoint a
    quadratic fitted by least squares to the `block` checkpoints around it (the window kept inside the run); the
    trend at checkpoint i is hat[i] @ values[window[i]]. The same for every metric of a run."""
    m = len(x)
    w = min(block, m)
    lo = np.minimum(np.maximum(np.arange(m) - w // 2, 0), m - w)
    window = lo[:, None] + np.arange(w)
    u = x[window] - x[:, None]
    basis = np.stack([np.ones_like(u), u, u * u], axis=1)  # (m, 3, w); the row of checkpoint i is (1, 0, 0)
    gram = np.stack([np.stack([np.sum(a * b, axis=-1) for b in basis.transpose(1, 0, 2)], axis=-1)
                     for a in basis.transpose(1, 0, 2)], axis=-2)
    coef = cholesky_solve(gram, np.tile([1.0, 0.0, 0.0], (m, 1)))
    hat = coef[:, 0, None] * basis[:, 0] + coef[:, 1, None] * basis[:, 1] + coef[:, 2, None] * basis[:, 2]
    return window, hat


def trend(values: np.ndarray, x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(trend, leverage) of a run's values against x (log tokens) (`trend_rows`). A curve as steep as the start
    of a loss curve is followed, so the residuals are the checkpoints' noise."""
    window, hat = trend_rows(x, block)
    return np.sum(hat * values[window], axis=-1), hat[np.arange(len(x)), np.arange(len(x)) - window[:, 0]]


def block_indices(m: int, block: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, m) checkpoint indices of a circular block bootstrap."""
    block = max(1, min(block, m))
    blocks = math.ceil(m / block)
    starts = rng.integers(0, m, size=(draws, blocks))
    idx = (starts[:, :, None] + np.arange(block)) % m
    return idx.reshape(draws, -1)[:, :m]


def resample_runs(runs: list[Run], draws: int, block: int, seed: list[int]) -> tuple[list[dict], np.ndarray]:
    """(values per run: column -> (draws, m), multiplicities (draws, runs)) of `draws` resampled ladders."""
    counts = np.zeros((draws, len(runs)))
    by_size: dict[float, list[int]] = {}
    for i, r in enumerate(runs):
        by_size.setdefault(r.n, []).append(i)
    rng = np.random.default_rng(seed + [0])
    for members in by_size.values():  # the Bayesian bootstrap (Rubin 1981) within each size
        counts[:, members] = len(members) * rng.dirichlet(np.ones(len(members)), size=draws)
    return [resample_checkpoints(r, draws, block, seed) for r in runs], counts


def resample_checkpoints(run: Run, draws: int, block: int, seed: list[int]) -> dict[str, np.ndarray]:
    """column -> (draws, m): the run's trend plus its residuals resampled in blocks (the same blocks for every
    column); a run with too few checkpoints to tell its noise from its curve stays as it is."""
    m = len(run.steps)
    if min(block, m) < 4:
        return {c: np.broadcast_to(v, (draws, m)) for c, v in run.values.items()}
    x = np.log(run.tokens) if np.all(run.tokens > 0) else np.arange(m, dtype=float)
    idx = block_indices(m, block, draws, np.random.default_rng(seed + _seed(run.name)))
    window, hat = trend_rows(x, TREND_BLOCKS * block)
    leverage = hat[np.arange(m), np.arange(m) - window[:, 0]]
    out = {}
    for c, v in run.values.items():
        smooth = np.sum(hat * v[window], axis=-1)
        out[c] = smooth + ((v - smooth) / np.sqrt(1 - leverage))[idx]  # residuals at their full size
    return out


def final_value_se(run: Run, column: str, last: int, block: int, seed: int, draws: int = 200) -> float:
    """The standard error of a run's final value (the mean of its last `last` checkpoints) from its own noise."""
    values = resample_checkpoints(run, draws, block, _seed(seed, "se"))[column]
    return float(np.std(final_value(values, last)))


def resample(data: TaskData, draws: int, block: int, seed: int) -> Sample:
    """`draws` resampled versions of a task's data; they depend on (seed, task, runs) only."""
    base = _seed(seed, data.task)
    ladder, ladder_counts = resample_runs(data.ladder, draws, block, base)
    if not data.separate:
        return Sample(ladder, ladder_counts, ladder, ladder_counts)
    step2, step2_counts = resample_runs(data.step2, draws, block, base + [1])
    return Sample(ladder, ladder_counts, step2, step2_counts)


def refit_all(method: dict, tasks: list[tuple], options: dict, max_iter: int = 200) -> list[tuple]:
    """Refit both steps on every row of each (fits, points) in `tasks`, warm-started at the fits, in one batched
    solve per step and shape: per item (step-1 params, step-2 params or None, ok)."""
    problems, owners = [], []
    for i, (fits, points) in enumerate(tasks):
        steps = [("step1", {k: points.x1[k] for k in fits["step1"].law.inputs}, points.y1, points.w1)]
        if "step2" in fits:
            steps.append(("step2", None, points.y2, points.w2))
        for step, x1, y, w in steps:
            fit = fits[step]
            for b in range(len(y)):
                x = x1 if x1 is not None else {"x": points.x2[b]}
                problems.append(Problem(fit.law, x, y[b], w[b], fit.params[None], method[step]["objective"]))
                owners.append((i, step))
    solved = solve_all(problems, options["huber_delta"], max_iter)
    params: dict = {}
    for (i, step), sol in zip(owners, solved):
        params.setdefault((i, step), []).append(sol)
    out = []
    for i, (fits, _) in enumerate(tasks):
        s1 = params[(i, "step1")]
        p1, ok = np.stack([s.params[0] for s in s1]), np.isfinite([s.objective[0] for s in s1])
        if "step2" not in fits:
            out.append((p1, None, ok))
            continue
        s2 = params[(i, "step2")]
        out.append((p1, np.stack([s.params[0] for s in s2]), ok & np.isfinite([s.objective[0] for s in s2])))
    return out


def draw_all(method: dict, tasks: dict[str, tuple], options: dict, targets: dict, draws: int,
             block: int) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """task -> target -> (intermediate, accuracy) of each of `draws` resampled ladders (NaN where a refit failed);
    `tasks`: task -> (its data, its fits)."""
    items = [(fits, make_points(data, resample(data, draws, block, options["seed"]), method, options))
             for data, fits in tasks.values()]
    out = {}
    for task, (data, fits), (p1, p2, ok) in zip(tasks, tasks.values(), refit_all(method, items, options)):
        law2 = fits["step2"].law if "step2" in fits else None
        out[task] = {}
        for name, target in targets.items():
            loss, acc = chain(fits["step1"].law, p1, law2, p2, target)
            out[task][name] = (np.where(ok, loss, np.nan), np.where(ok, acc, np.nan))
    return out


def minima_predictions(fits: dict[str, FitResult], target: dict) -> tuple[np.ndarray, np.ndarray]:
    """(intermediate, accuracy) at the target of every near-lowest minimum of either step (the other step
    at its fit): the spread of optimizer minima the interval covers."""
    f1, f2 = fits["step1"], fits.get("step2")
    law2, p2 = (f2.law, f2.params) if f2 else (None, None)
    sets = [chain(f1.law, p, law2, p2, target) for p in f1.minima]
    if f2 is not None:
        sets += [chain(f1.law, f1.params, law2, p, target) for p in f2.minima]
    if not sets:
        return np.empty(0), np.empty(0)
    return np.array([s[0] for s in sets], dtype=float), np.array([s[1] for s in sets], dtype=float)


def raw_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` range of the finite draws (NaN, NaN without any)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return np.nan, np.nan
    q = (1 - level) / 2
    lo, hi = np.quantile(draws, [q, 1 - q])
    return float(lo), float(hi)
