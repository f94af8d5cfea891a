"""One fitting routine for every law and method.

Two objectives, as the paper uses them:

- ``huber_log``: sum_i Huber_delta(log f(x_i) - log y_i), minimized by L-BFGS-B with the
  analytic gradient and tight tolerances (ftol = 0, gtol = 1e-10). Stopping early gives a
  visibly different step-1 fit, so convergence is checked, not assumed.
- ``squares``: sum_i (f(x_i) - y_i)^2, minimized by scipy's ``curve_fit`` (trust-region
  reflective under bounds) with the analytic Jacobian.

Every fit is also started from `multistart` other points; if any of them reaches a lower
objective than the primary start, the result says so (``starts_agree = False``) instead of
silently returning a local minimum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit, minimize

from taskladder.laws import Inputs, Law

OBJECTIVES = ("huber_log", "squares")


@dataclass
class FitResult:
    law: Law
    params: np.ndarray  # optimizer parameters, law.params order
    objective: float
    converged: bool
    message: str
    n_points: int
    fit_error: float  # mean |f(x) - y| / |y| over the fitted points
    starts_agree: bool = True
    best_start_objective: float = np.nan
    n_starts: int = 1
    covariance: np.ndarray | None = field(default=None, repr=False)

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


def huber_log_objective(law: Law, x: Inputs, y: np.ndarray, delta: float):
    """Return f(p) -> (objective, gradient) for sum Huber(log f - log y)."""
    log_y = np.log(y)

    def fun(p):
        with np.errstate(over="ignore", invalid="ignore"):
            pred = law.value(p, x)
        if np.any(pred <= 0):
            return np.inf, np.zeros_like(p)
        loss, dloss = huber(np.log(pred) - log_y, delta)
        with np.errstate(over="ignore", invalid="ignore"):
            grad = (dloss / pred) @ law.jacobian(p, x)
        if not (np.isfinite(loss.sum()) and np.all(np.isfinite(grad))):
            return np.inf, np.zeros_like(p)
        return float(loss.sum()), grad

    return fun


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
    if n < len(law.params):
        raise ValueError(f"law {law.name}: {n} points cannot determine {len(law.params)} parameters")
    if objective == "huber_log" and np.any(y <= 0):
        raise ValueError(f"law {law.name}: huber_log needs positive targets, found min {y.min():g}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective '{objective}'; expected one of {OBJECTIVES}")


def _solve(law, x, y, objective, start, delta, maxiter):
    """One optimizer run from `start`. Returns (params, objective, converged, message, cov)."""
    lower, upper = np.array(law.bounds, dtype=float).T
    start = np.clip(np.asarray(start, dtype=float), lower, upper)
    if objective == "huber_log":
        fun = huber_log_objective(law, x, y, delta)
        res = minimize(fun, start, jac=True, method="L-BFGS-B", bounds=list(law.bounds),
                       options={"ftol": 0.0, "gtol": 1e-10, "maxiter": maxiter, "maxfun": 10 * maxiter})
        # ABNORMAL line-search exits at a point where the projected gradient is ~0 are minima too
        pg = _projected_gradient(res.x, res.jac, lower, upper)
        converged = bool(res.success or np.max(np.abs(pg)) < 1e-6)
        return res.x, float(res.fun), converged, str(res.message), None

    f = lambda xx, *p: law.value(np.array(p), x)  # noqa: E731  (curve_fit's calling convention)
    jac = lambda xx, *p: law.jacobian(np.array(p), x)  # noqa: E731
    bounded = np.isfinite(lower).any() or np.isfinite(upper).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            p, cov, info, message, ier = curve_fit(
                f, np.arange(len(y)), y, p0=start, jac=jac, bounds=(lower, upper) if bounded else (-np.inf, np.inf),
                full_output=True, maxfev=maxiter,
            )
        except RuntimeError as e:  # curve_fit raises when it runs out of evaluations
            return start, np.inf, False, str(e), None
    resid = law.value(p, x) - y
    return p, float(resid @ resid), ier in (1, 2, 3, 4), str(message), cov


def _projected_gradient(p, g, lower, upper):
    g = np.asarray(g, dtype=float).copy()
    g[(p <= lower) & (g > 0)] = 0.0
    g[(p >= upper) & (g < 0)] = 0.0
    return g


def multistart_points(law: Law, start, n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` random starts: uniform within a parameter's bounds where both are finite, otherwise
    around `start` (log-scale parameters shifted by +-2, others scaled by a factor in [1/4, 4])."""
    rng = np.random.default_rng(seed)
    lower, upper = np.array(law.bounds, dtype=float).T
    start = np.asarray(start, dtype=float)
    boxed = np.isfinite(lower) & np.isfinite(upper)
    shifted = np.array([name.startswith("log_") for name in law.params]) | (start == 0)
    points = []
    for _ in range(n):
        p = np.where(shifted, start + rng.uniform(-2, 2, start.size),
                     start * np.exp(rng.uniform(np.log(0.25), np.log(4.0), start.size)))
        p = np.where(boxed, rng.uniform(np.where(boxed, lower, 0), np.where(boxed, upper, 1)), p)
        points.append(np.clip(p, lower, upper))
    return points


def fit_law(
    law: Law,
    x: Inputs,
    y,
    objective: str = "squares",
    start=None,
    delta: float = 1e-3,
    multistart: int = 0,
    seed: int = 0,
    maxiter: int = 100_000,
    rtol_agree: float = 1e-6,
    use_best_start: bool = False,
) -> FitResult:
    """Fit `law` to points (x, y) from `start` (default: the law's), checking `multistart` other starts.

    The result is the fit from `start` (the paper's procedure) unless `use_best_start`, in which
    case it is the lowest objective any start reached. Either way `starts_agree` says whether
    some start found a lower minimum than `start` did.
    """
    y = np.asarray(y, dtype=float)
    x = {k: np.asarray(v, dtype=float) for k, v in x.items()}
    _check_inputs(law, x, y, objective)
    start = law.start if start is None else start
    primary = _solve(law, x, y, objective, start, delta, maxiter)
    best = primary
    for s in multistart_points(law, start, multistart, seed):
        run = _solve(law, x, y, objective, s, delta, maxiter)
        if run[1] < best[1]:
            best = run
    agree = not (best[1] < primary[1] - rtol_agree * max(abs(primary[1]), 1e-12) - 1e-15)
    p, obj, converged, message, cov = best if use_best_start else primary

    pred = law.value(p, x)
    fit_error = float(np.mean(np.abs(pred - y) / np.abs(y))) if np.all(y != 0) else float(np.mean(np.abs(pred - y)))
    return FitResult(law=law, params=p, objective=obj, converged=converged, message=message,
                     n_points=len(y), fit_error=fit_error, starts_agree=agree,
                     best_start_objective=best[1], n_starts=1 + multistart, covariance=cov)
