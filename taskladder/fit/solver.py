"""One fitting routine for every law and method.

Two objectives, as the paper uses them:

- ``huber_log``: sum_i w_i Huber_delta(log f(x_i) - log y_i) (step 1);
- ``squares``: sum_i w_i (f(x_i) - y_i)^2 (step 2).

Both are minimized by the same batched, bounded Levenberg-Marquardt method (`solve`):
Gauss-Newton steps on iteratively reweighted residuals (for Huber, the weight of a residual r
is min(1, delta / |r|)), damped until the objective decreases, with parameters at a bound held
there while the gradient pushes outward. It runs many problems at once, one row each: the
starts of one fit, or the resampled ladders of a prediction interval (`taskladder.fit.intervals`).

Why not scipy.optimize: its solvers call BLAS and LAPACK, whose kernels (OPENBLAS_CORETYPE)
and thread counts change the last bits of every step, and where an objective is flat or has
several minima those bits decide where the fit ends (the paper's TaskCE and single-step fits
moved by several points between machines). Here every operation is elementwise numpy or a sum
along one axis, and the small linear systems are solved by a Cholesky factorization written
out below, so a fit gives the same bits on every BLAS and thread count; points are put in a
canonical order by the callers (`taskladder.fit.smoothing`), so it does not depend on their order.

Which minimum: every fit starts from the method's start (the paper's) and from `multistart`
seeded random starts, and returns the lowest minimum any of them reached (the first such start
in that order on an exact tie). `starts_agree` says whether the method's own start reached it;
`minima` holds the other minima whose objective is within `minima_rtol` of the lowest: where
they predict differently, the prediction interval covers them (`taskladder.fit.intervals`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from taskladder.fit.laws import Inputs, Law

OBJECTIVES = ("huber_log", "squares")
TINY = 1e-300


@dataclass
class Solution:
    """The end of one optimizer run per row."""

    params: np.ndarray  # (B, P)
    objective: np.ndarray  # (B,)
    converged: np.ndarray  # (B,) stopped at a minimum (not by the iteration limit), objective finite
    iterations: np.ndarray  # (B,)


@dataclass
class FitResult:
    law: Law
    params: np.ndarray  # optimizer parameters, law.params order
    objective: float
    converged: bool
    n_points: int
    fit_error: float  # mean |f(x) - y| / |y| over the fitted points
    starts_agree: bool = True  # the method's start reached the selected minimum
    start_objective: float = np.nan  # where the method's start ended
    n_starts: int = 1
    minima: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)  # near-lowest minima (k, P)

    def __call__(self, x: Inputs) -> np.ndarray:
        return self.law(self.params, x)

    @property
    def published(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.law.published(self.params).items()}


def huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of residuals r and its derivative."""
    small = np.abs(r) <= delta
    loss = np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    grad = np.where(small, r, delta * np.sign(r))
    return loss, grad


def _residuals(law: Law, p, x, y, objective):
    """(residual, law value) per point; the residual is NaN where the law cannot be evaluated."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        f = law.value(p, x)
        if objective == "huber_log":
            r = np.where(f > 0, np.log(np.where(f > 0, f, 1.0)) - np.log(y), np.nan)
        else:
            r = f - y
    return r, f


def _objective(r, w, objective, delta):
    """sum_i w_i rho(r_i) per row; inf where any residual is not finite."""
    if objective == "huber_log":
        rho = huber(r, delta)[0]
    else:
        rho = r * r
    with np.errstate(invalid="ignore"):
        total = np.sum(w * rho, axis=-1)
    bad = ~np.all(np.isfinite(r) | (w == 0), axis=-1)
    return np.where(bad | ~np.isfinite(total), np.inf, total)


def _normal_equations(law, p, x, r, f, w, objective, delta):
    """Gradient g (B, P) of the objective and the Gauss-Newton matrix H (B, P, P) of the reweighted
    residuals, as sums along the points axis (no BLAS)."""
    with np.errstate(over="ignore", invalid="ignore"):
        jac = law.jacobian(p, x)  # (B, n, P)
        if objective == "huber_log":
            jac = jac / f[..., None]
            psi = huber(r, delta)[1]
            weight = w * np.minimum(1.0, delta / np.maximum(np.abs(r), TINY))  # psi(r) / r
        else:
            psi = 2 * r
            weight = 2 * w
    jac = np.ascontiguousarray(np.moveaxis(np.where(np.isfinite(jac), jac, 0.0), -1, -2))  # (B, P, n): sums along n
    psi = np.where(np.isfinite(psi), psi, 0.0)
    g = np.sum((w * psi)[..., None, :] * jac, axis=-1)
    weighted = weight[..., None, :] * jac
    params = jac.shape[-2]
    h = np.empty(g.shape + (params,))
    for i in range(params):  # the lower triangle's sums, mirrored
        for j in range(i + 1):
            h[..., i, j] = h[..., j, i] = np.sum(weighted[..., i, :] * jac[..., j, :], axis=-1)
    return g, h


def cholesky_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with a x = b for a batch of symmetric positive definite (B, P, P) `a` and (B, P) `b`.

    Written out (P is at most 7) so that the arithmetic is the same on every machine."""
    n = a.shape[-1]
    low = np.zeros_like(a)
    for j in range(n):
        d = a[:, j, j] - np.sum(low[:, j, :j] ** 2, axis=-1)
        low[:, j, j] = np.sqrt(np.maximum(d, TINY))
        for i in range(j + 1, n):
            low[:, i, j] = (a[:, i, j] - np.sum(low[:, i, :j] * low[:, j, :j], axis=-1)) / low[:, j, j]
    z = np.zeros_like(b)
    for i in range(n):
        z[:, i] = (b[:, i] - np.sum(low[:, i, :i] * z[:, :i], axis=-1)) / low[:, i, i]
    out = np.zeros_like(b)
    for i in reversed(range(n)):
        out[:, i] = (z[:, i] - np.sum(low[:, i + 1:, i] * out[:, i + 1:], axis=-1)) / low[:, i, i]
    return out


def solve(law: Law, x: Inputs, y, starts, *, objective: str = "squares", delta: float = 1e-3, weights=None,
          max_iter: int = 1000, ftol: float = 1e-14, stall: int = 25, stall_rtol: float = 1e-12) -> Solution:
    """Minimize the objective from each row of `starts` (B, P); a row of `x`/`y`/`weights` of shape (B, n)
    is that row's problem, shape (n,) is shared by all rows.

    A row stops, converged, when a step that decreases its objective no longer exists (the damping
    grows past 1e16), when the relative decrease of an accepted step falls below `ftol` twice in a
    row, or when `stall` iterations together lower it by less than `stall_rtol` relative (a flat
    valley, along which the fit could crawl forever without changing what it predicts)."""
    lower, upper = np.array(law.bounds, dtype=float).T
    p = np.clip(np.atleast_2d(np.asarray(starts, dtype=float)), lower, upper)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    rows = p.shape[0]
    r, f = _residuals(law, p, x, y, objective)
    obj = _objective(r, w, objective, delta)
    lam = np.full(rows, 1e-3)
    calm = np.zeros(rows, dtype=int)  # consecutive accepted steps with a negligible decrease
    done = np.zeros(rows, dtype=bool)
    converged = np.zeros(rows, dtype=bool)
    iterations = np.zeros(rows, dtype=int)
    g, h = _normal_equations(law, p, x, r, f, w, objective, delta)
    saved = obj.copy()  # the objective `stall` iterations ago
    eye = np.eye(p.shape[1])
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(~done & np.isfinite(obj))  # the rows still moving; the others are left as they are
        if not len(act):
            break
        iterations[act] += 1
        pa, ga, ha, obj_a, lam_a = p[act], g[act], h[act], obj[act], lam[act]
        # parameters at a bound whose gradient pushes outward stay there
        held = ((pa <= lower) & (ga > 0)) | ((pa >= upper) & (ga < 0))
        scale = np.maximum(np.diagonal(ha, axis1=1, axis2=2), 1e-12 * np.max(np.abs(ha), axis=(1, 2))[:, None] + TINY)
        a = ha + (lam_a[:, None] * scale)[:, :, None] * eye
        a = np.where(held[:, :, None] | held[:, None, :], 0.0, a) + held[:, :, None] * eye
        step = cholesky_solve(a, -np.where(held, 0.0, ga))
        trial = np.clip(pa + step, lower, upper)
        y_a, w_a = _row_values(y, act), _row_values(w, act)
        r_t, f_t = _residuals(law, trial, _rows(x, act), y_a, objective)
        obj_t = _objective(r_t, w_a, objective, delta)
        better = obj_t < obj_a
        with np.errstate(invalid="ignore"):  # inf - inf where a start is outside the law's domain
            negligible = better & (obj_a - obj_t <= ftol * np.abs(obj_a))
        calm[act] = np.where(better, np.where(negligible, calm[act] + 1, 0), calm[act])
        won = act[better]
        p[won], r[won], f[won], obj[won] = trial[better], r_t[better], f_t[better], obj_t[better]
        lam[act] = np.where(better, np.maximum(lam_a / 3, 1e-12), np.minimum(lam_a * 4, 1e20))
        stalled = (lam[act] > 1e16) | (calm[act] >= 2)
        if it % stall == 0:
            with np.errstate(invalid="ignore"):
                stalled |= saved[act] - obj[act] <= stall_rtol * np.abs(saved[act])
            saved = obj.copy()
        converged[act[stalled]] = True
        done[act[stalled]] = True
        if len(won):
            g[won], h[won] = _normal_equations(law, p[won], _rows(x, won), r[won], f[won], _row_values(w, won),
                                               objective, delta)
    converged &= np.isfinite(obj)
    return Solution(params=p, objective=obj, converged=converged, iterations=iterations)


def _rows(x: Inputs, keep: np.ndarray) -> Inputs:
    """The inputs of the kept rows (inputs shared by every row stay as they are)."""
    return {k: (v[keep] if np.ndim(v) == 2 else v) for k, v in x.items()}


def _row_values(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The outputs or weights of the kept rows (shared ones stay as they are)."""
    return values[keep] if values.ndim == 2 else values


def _check_inputs(law: Law, x: Inputs, y: np.ndarray, objective: str) -> None:
    missing = [k for k in law.inputs if k not in x]
    if missing:
        raise ValueError(f"law {law.name} needs inputs {list(law.inputs)}; missing {missing}")
    n = len(y)
    for k in law.inputs:
        if len(x[k]) != n:
            raise ValueError(f"law {law.name}: input '{k}' has {len(x[k])} points, targets have {n}")
    if not np.all(np.isfinite(y)) or any(not np.all(np.isfinite(x[k])) for k in law.inputs):
        raise ValueError(f"law {law.name}: fit points contain NaN or infinite values")
    if n <= len(law.params):
        raise ValueError(f"law {law.name}: {n} points cannot determine {len(law.params)} parameters "
                         f"(more points than parameters are needed)")
    if objective == "huber_log" and np.any(y <= 0):
        raise ValueError(f"law {law.name}: huber_log needs positive targets, found min {y.min():g}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective '{objective}'; expected one of {OBJECTIVES}")


def multistart_points(law: Law, start, n: int, seed: int = 0) -> np.ndarray:
    """`n` random starts (n, P): uniform within a parameter's bounds where both are finite, otherwise
    around `start` (log-scale parameters shifted by +-2, others scaled by a factor in [1/4, 4])."""
    rng = np.random.default_rng(seed)
    lower, upper = np.array(law.bounds, dtype=float).T
    start = np.asarray(start, dtype=float)
    boxed = np.isfinite(lower) & np.isfinite(upper)
    shifted = np.array([name.startswith("log_") for name in law.params]) | (start == 0)
    points = np.empty((n, start.size))
    for i in range(n):
        p = np.where(shifted, start + rng.uniform(-2, 2, start.size),
                     start * np.exp(rng.uniform(np.log(0.25), np.log(4.0), start.size)))
        p = np.where(boxed, rng.uniform(np.where(boxed, lower, 0), np.where(boxed, upper, 1)), p)
        points[i] = np.clip(p, lower, upper)
    return points


def select(law: Law, sol: Solution, x: Inputs, y: np.ndarray, w: np.ndarray | None, rtol_agree: float,
            minima_rtol: float) -> FitResult:
    """The fit of one problem from the solutions of its starts (rows of `sol`, the method's start first): the
    lowest minimum (the first such start on an exact tie), and the other minima within `minima_rtol` of it."""
    best = int(np.argmin(sol.objective))
    lowest = sol.objective[best]
    tol = lambda rtol: rtol * max(abs(lowest), 1e-12) + 1e-15  # noqa: E731
    near = np.flatnonzero(sol.converged & (sol.objective <= lowest + tol(minima_rtol)))
    p = sol.params[best]
    pred = law.value(p, x)
    if w is not None:
        pred, y = pred[w > 0], y[w > 0]
    fit_error = float(np.mean(np.abs(pred - y) / np.abs(y))) if np.all(y != 0) else float(np.mean(np.abs(pred - y)))
    return FitResult(law=law, params=p, objective=float(lowest), converged=bool(sol.converged[best]),
                     n_points=len(y), fit_error=fit_error,
                     starts_agree=bool(sol.objective[0] <= lowest + tol(rtol_agree)),
                     start_objective=float(sol.objective[0]), n_starts=len(sol.objective), minima=sol.params[near])


def fit_law(
    law: Law,
    x: Inputs,
    y,
    objective: str = "squares",
    start=None,
    delta: float = 1e-3,
    multistart: int = 0,
    seed: int = 0,
    max_iter: int = 1000,
    rtol_agree: float = 1e-6,
    minima_rtol: float = 1e-3,
) -> FitResult:
    """Fit `law` to points (x, y) from `start` (default: the law's) and `multistart` random starts;
    the lowest minimum wins (see the module's docstring)."""
    y = np.asarray(y, dtype=float)
    x = {k: np.asarray(v, dtype=float) for k, v in x.items()}
    _check_inputs(law, x, y, objective)
    start = np.asarray(law.start if start is None else start, dtype=float)
    starts = np.vstack([start[None], multistart_points(law, start, multistart, seed)])
    sol = solve(law, x, y, starts, objective=objective, delta=delta, max_iter=max_iter)
    return select(law, sol, x, y, None, rtol_agree, minima_rtol)
