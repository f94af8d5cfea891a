"""Refits per second for prediction intervals: the batched refit (taskladder.fit.intervals.refit, every resampled
ladder of a task in one call) against a plain per-draw loop (scipy.optimize: L-BFGS-B for step 1's Huber
objective, curve_fit for step 2's least squares, as the paper fitted them), on the same resampled ladders,
warm-started at the same fit.

    python bench/fit_throughput.py [--draws 100] [--tasks mmlu,piqa] [--logs DIR]

Reads the paper's released ladder logs (default ../shared/olmo-ladder next to the checkout), else the bundled
synthetic ladder. Prints the time of both, the largest difference between their predictions, and last the ratio.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit, minimize

from taskladder.base.config import paper_methods
from taskladder.fit import intervals
from taskladder.fit.chain import chain, fit_points
from taskladder.fit.points import Sample, make_points, task_data
from taskladder.fit.solver import huber
from taskladder.imports.tables import read_olmo_ladder
from taskladder.synthetic.truth import SIZES

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = dict(final_checkpoints=5, target_checkpoints=5, drop_first=0.1, window=5, huber_delta=1e-3, multistart=16,
               seed=0)
TARGET = {"n": 6_887_575_552, "d": 3_945_065_873_408}


def ladder(logs: Path, tasks: list[str]) -> pd.DataFrame:
    return pd.concat([read_olmo_ladder(logs / f"{s}-{x}xC.csv", f"{s}-{x}xC", n, tasks)
                      for s, n in SIZES.items() for x in (1, 2, 5, 10)], ignore_index=True)


def loop_refit(law1, law2, fits, points, delta):
    """The plain way: one scipy fit per draw and step, warm-started at the fit."""
    p1, p2 = [], []
    for b in range(len(points.y1)):
        keep = points.w1[b] > 0
        x = {k: points.x1[k][keep] for k in law1.inputs}
        y, w = points.y1[b][keep], points.w1[b][keep]

        def objective(p):
            f = law1.value(p, x)
            if np.any(f <= 0):
                return np.inf, np.zeros_like(p)
            r = np.log(f) - np.log(y)
            loss, grad = huber(r, delta)
            return float(w @ loss), (w * grad / f) @ law1.jacobian(p, x)

        res = minimize(objective, fits["step1"].params, jac=True, method="L-BFGS-B", bounds=list(law1.bounds),
                       options={"ftol": 0.0, "gtol": 1e-10, "maxiter": 10_000})
        p1.append(res.x)
        keep2 = points.w2[b] > 0
        xx, yy, ww = points.x2[b][keep2], points.y2[b][keep2], points.w2[b][keep2]
        lower, upper = np.array(law2.bounds, dtype=float).T
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            p, _ = curve_fit(lambda t, *q: law2.value(np.array(q), {"x": xx}), xx, yy, p0=fits["step2"].params,
                             sigma=1 / np.sqrt(ww), bounds=(lower, upper),
                             jac=lambda t, *q: law2.jacobian(np.array(q), {"x": xx}), maxfev=10_000)
        p2.append(p)
    return np.array(p1), np.array(p2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--tasks", default="mmlu,piqa")
    parser.add_argument("--logs", type=Path, default=ROOT.parent / "shared" / "olmo-ladder")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    logs = args.logs if (args.logs / "1B-10xC.csv").exists() else ROOT / "examples" / "synthetic-ladder"
    metrics = ladder(logs, tasks)
    method = paper_methods()["two_step"]
    batched = plain = 0.0
    diff = 0.0
    for task in tasks:
        data = task_data("two_step", method, metrics, task)
        fits = fit_points("two_step", method, data, make_points(data, Sample.measured(data), method, OPTIONS), OPTIONS)
        points = make_points(data, intervals.resample(data, args.draws, 5, 0), method, OPTIONS)
        t0 = time.perf_counter()
        p1, p2, _ = intervals.refit(method, fits, points, OPTIONS)
        batched += time.perf_counter() - t0
        t0 = time.perf_counter()
        q1, q2 = loop_refit(fits["step1"].law, fits["step2"].law, fits, points, OPTIONS["huber_delta"])
        plain += time.perf_counter() - t0
        ours = chain(fits["step1"].law, p1, fits["step2"].law, p2, TARGET)[1]
        theirs = chain(fits["step1"].law, q1, fits["step2"].law, q2, TARGET)[1]
        diff = max(diff, float(np.median(np.abs(ours - theirs))))
        print(f"{task}: batched {batched:.2f}s, per-draw loop {plain:.2f}s (cumulative)", flush=True)
    refits = 2 * args.draws * len(tasks)
    print(f"{refits} refits ({args.draws} draws x {len(tasks)} tasks x 2 steps) on {logs.name}")
    print(f"batched: {batched:.2f}s ({refits / batched:.0f} refits/s); per-draw scipy loop: {plain:.2f}s "
          f"({refits / plain:.0f} refits/s); median |difference| of the chained predictions {diff:.2e}")
    print(f"speedup={plain / batched:.2f}")


if __name__ == "__main__":
    main()
