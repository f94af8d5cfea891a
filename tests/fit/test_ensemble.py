"""The ensemble: methods weighted by their held-out log score, combined draw by draw."""
import numpy as np
import pandas as pd
import pytest
from conftest import intervals
from test_intervals import OPTIONS, TARGET, synthetic_ladder

from taskladder.base.config import paper_methods
from taskladder.fit import ensemble
from taskladder.fit.methods import run_method


def _backtest(method, task, preds, actuals, half):
    return pd.DataFrame({"method": method, "task": task, "holdout": "3->4", "run": [f"r{i}" for i in range(len(preds))],
                         "pred": preds, "lo": np.array(preds) - half, "hi": np.array(preds) + half, "actual": actuals})


def test_log_score_by_hand():
    # a 90% interval of half-width 1.6449 is a normal of SD 1
    assert ensemble.log_score(0.0, -1.6448536, 1.6448536, 1.0, 0.9) == pytest.approx(-0.5 - 0.5 * np.log(2 * np.pi))


def test_weights_favour_the_method_right_and_sharp_on_held_out_runs():
    actual = [0.50, 0.60, 0.70, 0.80]
    bt = pd.concat([_backtest("good", "piqa", [0.51, 0.59, 0.71, 0.79], actual, 0.03),
                    _backtest("vague", "piqa", [0.51, 0.59, 0.71, 0.79], actual, 0.30),  # right but vague
                    _backtest("bad", "piqa", [0.60, 0.70, 0.60, 0.70], actual, 0.03)])  # sharp and wrong
    w = ensemble.weights(bt, ["good", "vague", "bad"], level=0.9, shrink=0).set_index("method")["weight"]
    assert w.sum() == pytest.approx(1.0)
    assert w["good"] > 0.9 and w["bad"] < 1e-6 and w["vague"] < w["good"]
    only = ensemble.weights(bt, ["vague", "bad"], level=0.9, shrink=0).set_index("method")["weight"]
    assert only["vague"] > 0.99  # among the rest, the honest one


def test_ensemble_combines_the_members_draw_by_draw():
    tasks = ["piqa", "hellaswag"]
    metrics = synthetic_ladder(tasks, seed=2)
    methods = paper_methods()
    members = {m: run_method(m, methods[m], metrics, {"big": TARGET}, tasks, OPTIONS, intervals(draws=30))
               for m in ("two_step", "flops")}
    cat = lambda t: pd.concat([getattr(r, t) for r in members.values()], ignore_index=True)  # noqa: E731
    result, weights = ensemble.combine(cat("predictions"), cat("backtest"), cat("draws"), list(members), 0.9,
                                       "ensemble", 4, (), 3)
    p = result.predictions.set_index("task")
    for task in tasks:
        w = weights[weights.task == task].set_index("method")["weight"]
        expect = sum(w[m] * members[m].predictions.set_index("task").loc[task, "pred_acc"] for m in members)
        assert p.loc[task, "pred_acc"] == pytest.approx(expect)
        assert p.loc[task, "pred_lo"] <= p.loc[task, "pred_acc"] <= p.loc[task, "pred_hi"]
    assert result.predictions["method"].eq("ensemble").all() and result.predictions["pred_loss"].isna().all()
    assert len(result.backtest) == 2 * 8 and result.backtest["covered"].notna().all()
    assert result.calibration["cases"][0] == 8  # the holdout fitted on 3 sizes, 2 tasks
