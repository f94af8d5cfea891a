"""Functional forms of the task scaling laws, each with its analytic Jacobian.

A law maps inputs (a dict of named arrays) and a parameter vector to predictions.
Parameters are the ones the optimizer sees (e.g. log A); `published` turns them into
the ones the paper prints (A). Every law carries its start point and bounds, so one
fitting routine (`taskladder.fit`) serves them all.

Laws are batched: parameters of shape (P,) with inputs of shape (n,) give values (n,) and a
Jacobian (n, P); a stack of parameter vectors (B, P) with inputs of shape (n,) or (B, n) gives
values (B, n) and a Jacobian (B, n, P), one row per parameter vector (the fitting routine runs
many starts and many resampled ladders at once this way).

    power_nd      L(N, D) = A / N^alpha + B / D^beta + E          (step 1, paper eq. 1)
    power_flops   L(C)    = A / C^alpha + E                       (step 1 from FLOPs, sec 6.1)
    sigmoid       Acc(L)  = a / (1 + exp(-k (L - L0))) + b        (step 2, paper eq. 2)
    log_sigmoid   Acc(CE) = 1 - a * log sigmoid(-k (CE - CE0)), a <= 0   (step 2 on TaskCE, sec 6.2)
    linear        Acc(L)  = w * L + c                             (FLP's step 2, Chen et al.)
    sigmoid_nd    Acc(N, D) = a / (1 + exp(-(A/N^alpha + B/D^beta + E))) + b  (single step, sec 6.4)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import expit, log_expit

Inputs = dict[str, np.ndarray]
INF = np.inf


@dataclass(frozen=True)
class Law:
    name: str
    inputs: tuple[str, ...]  # names of the input arrays, e.g. ("n", "d")
    params: tuple[str, ...]  # optimizer parameters, in order
    start: tuple[float, ...]
    bounds: tuple[tuple[float, float], ...]
    value: Callable[[np.ndarray, Inputs], np.ndarray]
    jacobian: Callable[[np.ndarray, Inputs], np.ndarray]  # shape (n_points, n_params)
    formula: str

    def __call__(self, p, x: Inputs) -> np.ndarray:
        return self.value(np.asarray(p, dtype=float), x)

    def published(self, p) -> dict[str, float]:
        """Optimizer parameters -> the paper's (``log_A`` becomes ``A = exp(log_A)``)."""
        return {(k[4:] if k.startswith("log_") else k): float(np.exp(v) if k.startswith("log_") else v)
                for k, v in zip(self.params, p)}

    def from_published(self, values: dict) -> np.ndarray:
        """The inverse of `published`: read parameters back from a fits table row."""
        return np.array([np.log(values[k[4:]]) if k.startswith("log_") else values[k] for k in self.params],
                        dtype=float)


def _columns(p):
    """The parameters as columns that broadcast against the inputs: p[..., i] with a trailing axis."""
    p = np.asarray(p, dtype=float)
    return [p[..., i, None] for i in range(p.shape[-1])]


def _stack(columns):
    """Jacobian columns -> (..., n, P), every column broadcast to the values' shape."""
    return np.stack(np.broadcast_arrays(*columns), axis=-1)


def _power_term(log_a, v, alpha):
    """A / v^alpha; a large exponent makes the term vanish (v^alpha overflows to inf, the term to 0)."""
    with np.errstate(over="ignore"):
        return np.exp(log_a) / v ** alpha


def _power_nd(p, x):
    log_a, log_b, alpha, beta, e = _columns(p)
    return _power_term(log_a, x["n"], alpha) + _power_term(log_b, x["d"], beta) + e


def _power_nd_jac(p, x):
    log_a, log_b, alpha, beta, _ = _columns(p)
    ta, tb = _power_term(log_a, x["n"], alpha), _power_term(log_b, x["d"], beta)
    ta, tb = np.broadcast_arrays(ta, tb)
    return _stack([ta, tb, -ta * np.log(x["n"]), -tb * np.log(x["d"]), np.ones_like(ta)])


power_nd = Law(
    name="power_nd",
    inputs=("n", "d"),
    params=("log_A", "log_B", "alpha", "beta", "E"),
    start=(3.0, 6.0, 0.1, 0.2, 1.0),
    bounds=((0, INF),) * 5,
    value=_power_nd,
    jacobian=_power_nd_jac,
    formula="L(N, D) = A / N^alpha + B / D^beta + E",
)


def _power_flops(p, x):
    log_a, alpha, e = _columns(p)
    return _power_term(log_a, x["flops"], alpha) + e


def _power_flops_jac(p, x):
    log_a, alpha, _ = _columns(p)
    t = _power_term(log_a, x["flops"], alpha)
    return _stack([t, -t * np.log(x["flops"]), np.ones_like(t)])


power_flops = Law(
    name="power_flops",
    inputs=("flops",),
    params=("log_A", "alpha", "E"),
    start=(3.0, 0.1, 1.0),
    bounds=((0, INF),) * 3,
    value=_power_flops,
    jacobian=_power_flops_jac,
    formula="L(C) = A / C^alpha + E",
)


def _sigmoid(p, x):
    a, l0, k, b = _columns(p)
    return a * expit(k * (x["x"] - l0)) + b


def _sigmoid_jac(p, x):
    a, l0, k, _ = _columns(p)
    z = x["x"] - l0
    s = expit(k * z)
    ds = s * (1 - s)
    return _stack([s, -a * k * ds, a * z * ds, np.ones_like(s)])


sigmoid = Law(
    name="sigmoid",
    inputs=("x",),
    params=("a", "L0", "k", "b"),
    start=(-0.75, 0.9, 3.0, 1.0),  # a is replaced by (chance - 1) per task
    bounds=((-1, 0), (0, INF), (0, INF), (0, 1)),
    value=_sigmoid,
    jacobian=_sigmoid_jac,
    formula="Acc(L) = a / (1 + exp(-k (L - L0))) + b",
)


def _log_sigmoid(p, x):
    a, ce0, k = _columns(p)
    return 1 - a * log_expit(-k * (x["x"] - ce0))


def _log_sigmoid_jac(p, x):
    a, ce0, k = _columns(p)
    z = x["x"] - ce0
    ls = log_expit(-k * z)
    s = expit(k * z)  # d/du log sigmoid(u) = 1 - sigmoid(u) = sigmoid(-u); here u = -k z
    return _stack([-ls, -a * s * k, a * s * z])


def _linear(p, x):
    w, c = _columns(p)
    return w * x["x"] + c


def _linear_jac(p, x):
    w, _ = _columns(p)
    return _stack([x["x"] + 0 * w, np.ones_like(w)])


log_sigmoid = Law(
    name="log_sigmoid",
    inputs=("x",),
    params=("a", "CE0", "k"),
    start=(-0.1, 0.9, 3.0),
    bounds=((-INF, 0), (0, INF), (0, INF)),
    value=_log_sigmoid,
    jacobian=_log_sigmoid_jac,
    formula="Acc(CE) = 1 - a * log sigmoid(-k (CE - CE0))",
)


linear = Law(
    name="linear",
    inputs=("x",),
    params=("w", "c"),
    start=(-0.5, 1.0),
    bounds=((-INF, INF), (-INF, INF)),
    value=_linear,
    jacobian=_linear_jac,
    formula="Acc(L) = w * L + c",
)


def _sigmoid_nd(p, x):
    p = np.asarray(p, dtype=float)
    a, b = _columns(p)[5:]
    return a * expit(_power_nd(p[..., :5], x)) + b


def _sigmoid_nd_jac(p, x):
    p = np.asarray(p, dtype=float)
    a = _columns(p)[5]
    s = expit(_power_nd(p[..., :5], x))
    inner = _power_nd_jac(p[..., :5], x) * (a * s * (1 - s))[..., None]
    return np.concatenate([inner, _stack([s, np.ones_like(s)])], axis=-1)


sigmoid_nd = Law(
    name="sigmoid_nd",
    inputs=("n", "d"),
    params=("log_A", "log_B", "alpha", "beta", "E", "a", "b"),
    start=(3.0, 5.0, 0.2, 0.3, 0.0, -0.75, 1.0),  # a is replaced by (chance - 1) per task
    # the paper's: the power law's parameters >= 0 but E free (it sits inside the sigmoid)
    bounds=((0, INF), (0, INF), (0, INF), (0, INF), (-INF, INF), (-1, 0), (0, 1)),
    value=_sigmoid_nd,
    jacobian=_sigmoid_nd_jac,
    formula="Acc(N, D) = a / (1 + exp(-(A / N^alpha + B / D^beta + E))) + b",
)

LAWS = {law.name: law for law in (power_nd, power_flops, sigmoid, log_sigmoid, linear, sigmoid_nd)}


def get(name: str) -> Law:
    if name not in LAWS:
        raise KeyError(f"unknown law '{name}'; expected one of {sorted(LAWS)}")
    return LAWS[name]
