"""How often the intervals hold the truth, by distance: fit synthetic ladders of known, realistically wrong truth
(`taskladder.synthetic.worlds`) with the methods and their ensemble, predict targets 3x to 100x beyond them, and
compare each interval with the true accuracy there. The README's coverage table and its test come from here.

    python -m taskladder.synthetic.coverage --seeds 3 -o results/coverage

writes coverage.csv (every case) and ensemble_evidence.csv (the ensemble's weightings scored on each ladder's
longest-distance backtests) into the folder.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from taskladder.base.config import validate
from taskladder.fit.ensemble import EnsembleJob, combine, members, scales
from taskladder.fit.methods import run_method
from taskladder.synthetic.worlds import (
    KINDS,
    TASKS,
    bucket,
    targets,
    world,
    world_ladder,
)

log = logging.getLogger(__name__)
METHODS = ("two_step", "flops", "lm_loss", "single_step", "ensemble")


def config(methods=METHODS) -> dict:
    """The config the synthetic ladders are fitted with: the schema's defaults and `methods`."""
    return validate({"experiment": "coverage", "methods": {m: {} for m in methods}})


def one_ladder(kind: str, seed: int, methods=METHODS, tasks=TASKS, draws: int | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One ladder of `kind` (seed `seed`): per method, task and target its prediction, interval and the truth; and
    the ensemble's evidence (its weightings scored on the ladder's longest-distance backtests)."""
    from taskladder.fit.methods import fit_options

    rng = np.random.default_rng([seed, KINDS.index(kind)])
    worlds = {t: world(t, kind, rng) for t in tasks}
    metrics = world_ladder(worlds, seed=seed)
    cfg = config(methods)
    interval = cfg["intervals"] if draws is None else {**cfg["intervals"], "draws": draws}
    evidence = {k: cfg["flags"][k] for k in ("min_snr", "min_monotone")}
    spots = targets()
    fitted = [m for m in methods if "ensemble" not in cfg["methods"][m]]
    results = {m: run_method(m, cfg["methods"][m], metrics, {k: dict(v, metrics=None) for k, v in spots.items()},
                             list(tasks), fit_options(cfg), interval, evidence) for m in fitted}
    frames, evidence = [r.predictions for r in results.values()], []
    for name in [m for m in methods if m not in fitted]:
        job = EnsembleJob(name, cfg["methods"][name]["ensemble"], list(tasks), fit_options(cfg), interval)
        cat = lambda t: pd.concat([getattr(results[m], t) for m in members(cfg["methods"], name)  # noqa: E731
                                   if m in results], ignore_index=True)
        result, weights = combine(cat("predictions"), cat("backtest"), cat("draws"), scales(cat("calibration")),
                                  [m for m in members(cfg["methods"], name) if m in results], name, job.spec,
                                  interval, [])
        frames.append(result.predictions)
        evidence.append(weights[weights["kind"] == "evidence"].assign(kind_of_world=kind, seed=seed))
    p = pd.concat(frames, ignore_index=True)
    p["truth"] = [worlds[r.task].truth(r.n, r.d) for r in p.itertuples()]
    p["factor"] = p["target"].map({k: v["factor"] for k, v in spots.items()})
    p["bucket"] = p["factor"].map(bucket)
    p["covered"] = (p["truth"] >= p["pred_lo"]) & (p["truth"] <= p["pred_hi"])
    p["width"] = p["pred_hi"] - p["pred_lo"]
    p["error"] = p["pred_acc"] - p["truth"]
    table = p.assign(kind=kind, seed=seed)[["kind", "seed", "method", "task", "target", "factor", "bucket",
                                             "distance", "pred_acc", "pred_lo", "pred_hi", "truth", "error", "width",
                                             "covered", "note"]]
    return table, pd.concat(evidence, ignore_index=True) if evidence else pd.DataFrame()


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage, mean width and mean absolute error (points) per method and distance bucket."""
    ok = table[table["pred_acc"].notna()]
    return ok.groupby(["method", "bucket"]).agg(coverage=("covered", "mean"), width=("width", "mean"),
                                                abs_error=("error", lambda e: e.abs().mean()),
                                                cases=("covered", "size")).reset_index()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskladder.synthetic.coverage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="ladders per kind of world (default: %(default)s)")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("-o", "--out", help="a folder to write coverage.csv and ensemble_evidence.csv into")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from tqdm import tqdm

    ladders = [(k, s) for k in args.kinds for s in range(args.seeds)]
    parts = [one_ladder(k, s, args.methods) for k, s in tqdm(ladders, desc="synthetic ladders", unit="ladder")]
    table = pd.concat([t for t, _ in parts], ignore_index=True)
    if args.out:
        from pathlib import Path

        from taskladder.base.files import write_csv

        write_csv(table, Path(args.out) / "coverage.csv")
        write_csv(pd.concat([e for _, e in parts], ignore_index=True), Path(args.out) / "ensemble_evidence.csv")
    print(summary(table).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
