"""Many fits in one solve: the tasks of a method, the origins of its backtests, the resampled ladders of its
intervals. Each `Problem` is one law fitted to one set of points from a few starts; problems of the same law,
objective and shape are stacked into one batched `solve` (each start a row), in chunks that bound the memory.
A row's arithmetic does not depend on the other rows, so a problem's fit is the same bits whether it is solved
alone or with others, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from taskladder.fit.laws import Law
from taskladder.fit.solver import FitResult, Solution, select, solve

MAX_ELEMENTS = 2_000_000  # rows x points x parameters of one chunk: about 16 MB per Jacobian


@dataclass
class Problem:
    law: Law
    x: dict[str, np.ndarray]  # inputs, (n,) each
    y: np.ndarray  # (n,)
    w: np.ndarray  # (n,); a point of weight 0 is not in the problem
    starts: np.ndarray  # (S, P): the first is the method's start
    objective: str

    @property
    def key(self) -> tuple:
        return self.law.name, self.objective, len(self.y), self.starts.shape


def _stacked(problems: list[Problem], rows: int) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """The problems' inputs, outputs, weights and starts as the rows of one solve (inputs shared where every problem
    has the same)."""
    first = problems[0]
    x = {}
    for k in first.law.inputs:
        values = [p.x[k] for p in problems]
        same = all(v is values[0] or np.array_equal(v, values[0]) for v in values[1:])
        x[k] = values[0] if same else np.repeat(np.stack(values), rows, axis=0)
    y = np.repeat(np.stack([p.y for p in problems]), rows, axis=0)
    w = np.repeat(np.stack([p.w for p in problems]), rows, axis=0)
    starts = np.concatenate([p.starts for p in problems])
    return x, y, w, starts


def _chunks(indices: list[int], rows: int, n: int, params: int):
    size = max(1, MAX_ELEMENTS // max(1, rows * n * params))
    for i in range(0, len(indices), size):
        yield indices[i:i + size]


def solve_all(problems: list[Problem], delta: float, max_iter: int = 1000) -> list[Solution]:
    """Every problem's solutions from each of its starts (rows in the order of its starts)."""
    out: list[Solution | None] = [None] * len(problems)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(p.key, []).append(i)
    for (_, objective, n, (rows, params)), indices in groups.items():
        for chunk in _chunks(indices, rows, n, params):
            mine = [problems[i] for i in chunk]
            x, y, w, starts = _stacked(mine, rows)
            sol = solve(mine[0].law, x, y, starts, objective=objective, delta=delta, weights=w, max_iter=max_iter)
            for j, i in enumerate(chunk):
                part = slice(j * rows, (j + 1) * rows)
                out[i] = Solution(sol.params[part], sol.objective[part], sol.converged[part], sol.iterations[part])
    return out


def fit_all(problems: list[Problem], delta: float, minima_rtol: float, max_iter: int = 1000,
            rtol_agree: float = 1e-6) -> list[FitResult]:
    """Every problem's fit: the lowest minimum of its starts (`taskladder.fit.solver.select`)."""
    solutions = solve_all(problems, delta, max_iter)
    return [select(p.law, s, p.x, p.y, p.w, rtol_agree, minima_rtol) for p, s in zip(problems, solutions)]
