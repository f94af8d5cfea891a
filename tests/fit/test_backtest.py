"""Backtests: the ladder's own largest runs predicted from its smaller ones, no target data read."""
import numpy as np
import pandas as pd
import pytest
from conftest import intervals
from test_intervals import OPTIONS, SIZES, TARGET, synthetic_ladder

from taskladder.base.config import paper_methods
from taskladder.fit.backtest import backtest_task, holdouts
from taskladder.fit.methods import run_method
from taskladder.fit.points import task_data
from taskladder.fit.smoothing import final_value


def test_rolling_origin_over_model_sizes():
    data = task_data("two_step", paper_methods()["two_step"], synthetic_ladder(["piqa"], seed=0), "piqa")
    folds = holdouts(data)
    assert [name for name, _, _ in folds] == ["2->3", "3->4"]  # the last leaves the largest size out
    for k, (_, fitted, held) in enumerate(folds, start=2):
        assert {data.ladder[i].n for i in fitted} == set(SIZES[:k])
        assert {data.ladder[i].n for i in held} == {SIZES[k]} and len(held) == 4


def test_held_out_runs_are_predicted_and_compared_with_their_final_value():
    metrics = synthetic_ladder(["piqa"], seed=0)
    method = paper_methods()["two_step"]
    data = task_data("two_step", method, metrics, "piqa")
    rows, draws = backtest_task("two_step", method, data, OPTIONS, draws=20, block=5, level=0.9)
    assert len(rows) == 8 and len(draws) == 8
    big = {r.name: r for r in data.ladder}
    for row in rows:
        assert row["actual"] == pytest.approx(float(final_value(big[row["run"]].values["acc"], 5)))
        assert abs(row["pred"] - row["actual"]) < 0.02  # a law-abiding ladder backtests well
        assert row["lo"] <= row["pred"] <= row["hi"]
        assert row["fitted_max_n"] < row["n"]


def test_backtests_read_no_target_data():
    """The same backtests whatever the targets are and whether they were measured."""
    metrics = synthetic_ladder(["piqa"], seed=0)
    method = paper_methods()["two_step"]
    bare = run_method("two_step", method, metrics, {}, ["piqa"], OPTIONS, intervals(draws=10))
    measured = metrics[metrics.run == metrics.run.iloc[-1]].assign(run="big")
    full = run_method("two_step", method, metrics, {"big": dict(TARGET, metrics=measured)}, ["piqa"], OPTIONS,
                      intervals(draws=10))
    np.testing.assert_array_equal(bare.backtest[["pred", "lo", "hi"]].to_numpy(), full.backtest[["pred", "lo", "hi"]].to_numpy())
    assert {"error", "covered"} <= set(full.backtest.columns)
    np.testing.assert_allclose(full.backtest["error"], full.backtest["pred"] - full.backtest["actual"])


def test_a_ladder_too_small_for_backtests_still_gets_its_figures(tmp_path):
    """Two model sizes leave nothing to backtest: the figures say so instead of failing the workflow."""
    import matplotlib.image

    from taskladder.report import analysis_figures
    empty = pd.DataFrame(columns=["method", "task", "run", "n", "d", "holdout", "pred", "lo", "hi", "actual"])
    analysis_figures.backtest_figure(empty, tmp_path / "backtest.png")
    no_groups = pd.DataFrame(columns=["method", "target", "task", "group", "source", "pred_acc", "rank"])
    analysis_figures.group_comparison_figure(no_groups, "two_step", tmp_path / "groups.png")
    for name in ("backtest.png", "groups.png"):
        assert matplotlib.image.imread(tmp_path / name).shape[1] > 100
