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

Each draw's points are made and both steps refitted exactly as the fit's (`taskladder.predict`),
warm-started at the fit, and chained at each target: every draw goes through step 1 *and* step 2.
The draws are the same for every method (they depend on the seed, the task and the runs only),
so methods can be combined draw by draw (`taskladder.ensemble`).

Calibration. The raw interval is the central `level` range of the draws. On the backtests
(`taskladder.backtest`), each held-out run gives z = |actual - pred| / (the raw half-width on the
actual's side, combined with the actual's own measurement noise); the calibration factor c is the
conformal quantile of the z (the ceil((k + 1) * level)-th smallest of k), and a calibrated interval
is the raw one with both sides scaled by c: c > 1 where the draws alone were too narrow on held-out
runs, c < 1 where too wide. The holdouts used are those fitted on at least 3 model sizes (all of
them where there are none): with 2 sizes the N exponent rests on two points, and those holdouts
measure the instability of an under-determined fit rather than the error of a ladder's
extrapolation. Where the fit's objective has other minima within `fit.minima_rtol` of the lowest,
the interval is widened to cover their predictions too.
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist

import numpy as np

from taskladder.fit.chain import chain
from taskladder.fit.points import Points, Sample, TaskData, make_points
from taskladder.fit.smoothing import Run, final_value
from taskladder.fit.solver import FitResult, cholesky_solve, solve

MIN_HALF_WIDTH = 1e-6  # a raw half-width below this counts as this (a draw-free or degenerate interval)
TREND_BLOCKS = 8  # the trend is fitted over this many blocks: residuals nearly independent within a block


def _seed(*parts) -> list[int]:
    return [int(p) if isinstance(p, (int, np.integer)) else zlib.crc32(str(p).encode()) for p in parts]


def trend(values: np.ndarray, x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(trend, leverage) of a run's values against x (log tokens): at each checkpoint a quadratic fitted by
    least squares to the `block` checkpoints around it (the window kept inside the run). A curve as steep
    as the start of a loss curve is followed, so the residuals are the checkpoints' noise."""
    m, w = len(values), min(block, len(values))
    smoothed, leverage = np.empty(m), np.empty(m)
    for i in range(m):
        lo = min(max(i - w // 2, 0), m - w)
        u = x[lo:lo + w] - x[i]
        basis = np.stack([np.ones(w), u, u * u])  # (3, w); the row of checkpoint i is (1, 0, 0)
        gram = np.array([[np.sum(a * b) for b in basis] for a in basis])
        coef = cholesky_solve(gram[None], np.array([[1.0, 0.0, 0.0]]))[0]
        hat = np.sum(coef[:, None] * basis, axis=0)  # checkpoint i's row of the window's hat matrix
        smoothed[i], leverage[i] = np.sum(hat * values[lo:lo + w]), hat[i - lo]
    return smoothed, leverage


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
    out = {}
    for c, v in run.values.items():
        smooth, leverage = trend(v, x, TREND_BLOCKS * block)
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


def refit(method: dict, fits: dict[str, FitResult], points: Points, options: dict,
          max_iter: int = 200) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Refit both steps on every row of `points`, warm-started at `fits`: (step-1 params, step-2 params, ok)."""
    f1 = fits["step1"]
    delta = options["huber_delta"]
    x1 = {k: points.x1[k] for k in f1.law.inputs}
    s1 = solve(f1.law, x1, points.y1, np.tile(f1.params, (len(points.y1), 1)), weights=points.w1,
               objective=method["step1"].get("objective", "huber_log"), delta=delta, max_iter=max_iter)
    ok = np.isfinite(s1.objective)
    if "step2" not in fits:
        return s1.params, None, ok
    f2 = fits["step2"]
    s2 = solve(f2.law, {"x": points.x2}, points.y2, np.tile(f2.params, (len(points.y2), 1)), weights=points.w2,
               objective=method["step2"].get("objective", "squares"), delta=delta, max_iter=max_iter)
    return s1.params, s2.params, ok & np.isfinite(s2.objective)


def draw_predictions(method: dict, fits: dict[str, FitResult], data: TaskData, options: dict, targets: dict,
                     draws: int, block: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """target -> (intermediate, accuracy) of each of `draws` resampled ladders (NaN where a refit failed)."""
    sample = resample(data, draws, block, options["seed"])
    p1, p2, ok = refit(method, fits, make_points(data, sample, method, options), options)
    law2 = fits["step2"].law if "step2" in fits else None
    out = {}
    for name, target in targets.items():
        loss, acc = chain(fits["step1"].law, p1, law2, p2, target)
        out[name] = (np.where(ok, loss, np.nan), np.where(ok, acc, np.nan))
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


def z_score(pred, lo, hi, actual, actual_se=0.0, level: float = 0.9) -> np.ndarray:
    """|actual - pred| in units of the raw half-width on the actual's side, combined with the actual's own
    measurement noise (its standard error times the level's normal quantile): the z of a held-out run
    whose actual is a noisy mean of checkpoints is not inflated by that noise."""
    pred, lo, hi, actual, se = (np.asarray(a, dtype=float) for a in (pred, lo, hi, actual, actual_se))
    side = np.where(actual >= pred, hi - pred, pred - lo)
    noise = noise_half_width(se, level)
    return np.abs(actual - pred) / np.maximum(np.sqrt(side ** 2 + noise ** 2), MIN_HALF_WIDTH)


def calibration_factor(z, level: float) -> float:
    """The conformal quantile of backtest z-scores: the ceil((k + 1) * level)-th smallest of the k finite
    ones (the largest where there are too few); NaN without any."""
    z = np.sort(np.asarray(z, dtype=float)[np.isfinite(z)])
    if not len(z):
        return np.nan
    rank = math.ceil((len(z) + 1) * level)
    return float(z[min(rank, len(z)) - 1])


def calibrated(pred, lo, hi, factor: float, bounds=(-np.inf, np.inf), noise=0.0) -> tuple[np.ndarray, np.ndarray]:
    """The raw interval with both sides scaled by `factor` (kept as they are where the factor is NaN), each
    side combined in quadrature with `noise` (the half-width of a measurement's own noise, for an interval
    that is to hold a measured value rather than the true one)."""
    pred, lo, hi, noise = (np.asarray(a, dtype=float) for a in (pred, lo, hi, noise))
    if not np.isfinite(factor):
        factor = 1.0
    noise = np.nan_to_num(noise)
    lo = pred - np.hypot(factor * np.maximum(pred - lo, 0), noise)
    hi = pred + np.hypot(factor * np.maximum(hi - pred, 0), noise)
    return np.clip(lo, *bounds), np.clip(hi, *bounds)


def noise_half_width(se, level: float):
    """The half-width of a measurement's noise at `level` from its standard error."""
    return NormalDist().inv_cdf((1 + level) / 2) * np.nan_to_num(np.asarray(se, dtype=float))

