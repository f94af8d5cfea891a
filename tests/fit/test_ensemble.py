"""The ensemble: methods weighted on their backtests (stacking, pseudo-BMA or equal), combined draw by draw."""
import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals
from test_intervals import OPTIONS, TARGET, synthetic_ladder

from taskladder.base.config import paper_methods
from taskladder.fit import ensemble
from taskladder.fit.calibration import ErrorModel
from taskladder.fit.methods import run_method


def backtests(preds: dict[str, list], actual: list, origins: int = 4) -> pd.DataFrame:
    """Members' backtests of one task: `origins` origins predicting the runs (distance grows with the origin)."""
    rows = []
    for method, values in preds.items():
        for i, (pred, act) in enumerate(zip(values, actual)):
            rows.append({"method": method, "task": "piqa", "origin": f"o{i % origins}", "run": f"r{i}",
                         "distance": 0.5 + 0.25 * (i % origins), "fitted_span": 2.0, "ladder_span": 2.0,
                         "pred": pred, "actual": act, "actual_se": 0.0})
    return pd.DataFrame(rows)


def models(methods, scale: float = 0.02) -> dict:
    return {(m, "piqa"): ErrorModel(scale, 0.0, 4, 8, 1.25) for m in methods}


def test_least_squares_cancels_members_that_err_in_opposite_directions():
    """One member over-predicts, the other under-predicts by a little more: their weighted mean cancels the errors,
    where pseudo-BMA keeps the one a little closer."""
    rng = np.random.default_rng(0)
    actual = np.array(0.5 + 0.05 * rng.normal(size=40))
    bt = backtests({"high": list(actual + 0.03 + 0.002 * rng.normal(size=40)),
                    "low": list(actual - 0.036 + 0.002 * rng.normal(size=40))}, list(actual))
    order, rows, preds, dens = ensemble.densities(bt, ["high", "low"], models(["high", "low"], 0.01))
    least = ensemble.fit_weights(dens, preds, rows, "least_squares", 0)["piqa"]
    bma = ensemble.fit_weights(dens, preds, rows, "pseudo_bma", 0)["piqa"]
    assert order == ["high", "low"] and least.sum() == pytest.approx(1.0)
    assert least[0] == pytest.approx(0.036 / 0.066, abs=0.02)  # the weights that cancel the biases
    assert max(bma) > 0.9  # one winner
    mean = np.abs(preds @ least - rows["actual"]).mean()
    assert mean < 0.005 < np.abs(preds - rows["actual"].to_numpy()[:, None]).mean(axis=0).min()


def test_stacking_mixes_members_each_right_on_part_of_the_backtests():
    """Each member is right at half the origins and off at the others: only their mixture explains every actual."""
    actual = [0.5] * 16
    high = [0.5 if i % 4 < 2 else 0.56 for i in range(16)]
    low = [0.44 if i % 4 < 2 else 0.5 for i in range(16)]
    order, rows, preds, dens = ensemble.densities(backtests({"high": high, "low": low}, actual), ["high", "low"],
                                                  models(["high", "low"], 0.01))
    stack = ensemble.fit_weights(dens, preds, rows, "stacking", 0)["piqa"]
    assert stack[0] == pytest.approx(0.5, abs=0.01)


def test_weights_favour_the_member_right_and_sharp():
    actual = [0.50, 0.60, 0.70, 0.80] * 3
    bt = backtests({"good": [a + 0.005 for a in actual], "bad": [a + 0.1 for a in actual]}, actual)
    _, rows, preds, dens = ensemble.densities(bt, ["good", "bad"], models(["good", "bad"]))
    for scheme in ("stacking", "least_squares", "pseudo_bma"):
        w = ensemble.fit_weights(dens, preds, rows, scheme, 0)["piqa"]
        assert w[0] > 0.95, scheme
    assert ensemble.fit_weights(dens, preds, rows, "equal", 0)["piqa"].tolist() == [0.5, 0.5]


def test_the_evidence_scores_each_weighting_on_the_longest_distance_origin():
    rng = np.random.default_rng(1)
    actual = list(0.5 + 0.05 * rng.normal(size=24))
    bt = backtests({"a": list(np.array(actual) + 0.01), "b": list(np.array(actual) - 0.02)}, actual)
    order, rows, preds, dens = ensemble.densities(bt, ["a", "b"], models(["a", "b"]))
    proof = ensemble.evidence(dens, preds, rows, 0)
    assert set(proof["weighting"]) == set(ensemble.WEIGHTINGS)
    assert (proof["held_out_origin"] == "o3").all()  # the origin at the longest distance
    equal = proof.set_index("weighting").loc["equal"]
    assert equal["abs_error"] == pytest.approx(0.005, abs=1e-9)  # the mean of +0.01 and -0.02


def test_ensemble_combines_the_members_draw_by_draw():
    tasks = ["piqa", "hellaswag"]
    metrics = synthetic_ladder(tasks, seed=2)
    methods = paper_methods()
    members = {m: run_method(m, methods[m], metrics, {"big": TARGET}, tasks, OPTIONS, intervals(draws=30), EVIDENCE)
               for m in ("two_step", "flops")}
    cat = lambda t: pd.concat([getattr(r, t) for r in members.values()], ignore_index=True)  # noqa: E731
    spec = {"weighting": "stacking", "shrink": 4}
    result, weights = ensemble.combine(cat("predictions"), cat("backtest"), cat("draws"),
                                       ensemble.scales(cat("calibration")), list(members), "ensemble", spec,
                                       intervals(draws=30), [])
    p = result.predictions.set_index("task")
    w_all = weights[weights.kind == "weight"]
    for task in tasks:
        w = w_all[w_all.task == task].set_index("method")["weight"]
        expect = sum(w[m] * members[m].predictions.set_index("task").loc[task, "pred_acc"] for m in members)
        assert p.loc[task, "pred_acc"] == pytest.approx(expect)
        assert p.loc[task, "pred_lo"] <= p.loc[task, "pred_acc"] <= p.loc[task, "pred_hi"]
        draws = result.draws[result.draws.task == task].set_index("draw")["pred_acc"]
        mine = {m: members[m].draws[members[m].draws.task == task].set_index("draw")["pred_acc"] for m in members}
        np.testing.assert_allclose(draws, sum(w[m] * mine[m] for m in members))
    assert result.predictions["method"].eq("ensemble").all() and result.predictions["pred_loss"].isna().all()
    assert len(result.backtest) == len(members["two_step"].backtest) and result.backtest["covered"].notna().all()
    assert set(weights.loc[weights.kind == "evidence", "weighting"]) == set(ensemble.WEIGHTINGS)
