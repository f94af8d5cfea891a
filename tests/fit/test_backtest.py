"""Backtests at every distance the ladder allows: fitted on part of the ladder, predicting the rest; no target data."""
import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals
from test_intervals import OPTIONS, TARGET, synthetic_ladder

from taskladder.base.config import paper_methods
from taskladder.fit.backtest import backtest_tasks, ladder_span, origins
from taskladder.fit.chain import fit_points
from taskladder.fit.methods import run_method
from taskladder.fit.points import Sample, make_points, task_data
from taskladder.fit.smoothing import final_value

TWO_STEP = paper_methods()["two_step"]


def _data(task="piqa", seed=0):
    return task_data("two_step", TWO_STEP, synthetic_ladder([task], seed=seed), task)


def test_origins_by_size_and_by_compute_each_fitted_set_once():
    data = _data()
    every = origins(data)  # no requirement: every origin the ladder allows
    sizes = [o for o in every if o.kind == "sizes"]
    assert [o.sizes(data) for o in sizes] == [2, 3]  # the k smallest sizes, k = 2 .. sizes - 1
    for o in sizes:
        fitted = {r.n for r, f in zip(data.ladder, o.fitted) if f}
        assert all(data.ladder[i].n > max(fitted) for i in o.held)  # every larger run is predicted
    compute = [o for o in every if o.kind == "compute"]
    assert compute and len({o.fitted for o in every}) == len(every)
    for o in compute:  # below a fraction of the largest run's compute, and predicting all above it
        assert max(r.flops for r, f in zip(data.ladder, o.fitted) if f) < min(data.ladder[i].flops for i in o.held)


def test_origins_that_do_not_resemble_the_ladder_are_left_out():
    data = _data()
    kept = origins(data, min_sizes=3, min_share=0.5)
    assert kept and all(o.sizes(data) >= 3 and o.span(data) >= 0.5 * ladder_span(data) for o in kept)
    assert len(kept) < len(origins(data))
    assert origins(data, min_sizes=9) == origins(data)  # none qualifies: every origin that can be fitted


def test_held_out_runs_are_predicted_at_their_distance_and_compared_with_their_final_value():
    data = _data()
    fit = fit_points("two_step", TWO_STEP, data, make_points(data, Sample.measured(data), TWO_STEP, OPTIONS), OPTIONS)
    rows = backtest_tasks("two_step", TWO_STEP, {"piqa": (data, fit)}, OPTIONS, intervals(), lambda run, c: 0.0)
    assert rows and {r["origin"] for r in rows} == {o.name for o in origins(data, 3, 0.5)}
    runs = {r.name: r for r in data.ladder}
    for row in rows:
        run = runs[row["run"]]
        assert row["actual"] == pytest.approx(float(final_value(run.values["acc"], OPTIONS["final_checkpoints"])))
        if row["kind"] == "compute":  # beyond every fitted run's compute
            assert row["distance"] > 0
        else:  # beyond every fitted size (a small multiple of a larger size may need less compute)
            assert row["fitted_max_n"] < row["n"]
        assert abs(row["pred"] - row["actual"]) < 0.03  # a law-abiding ladder backtests well
    top = {o.name: o.max_flops(data) for o in origins(data, 3, 0.5)}
    for row in rows:  # decades of compute beyond the origin's largest fitted run
        assert row["distance"] == pytest.approx(np.log10(runs[row["run"]].flops / top[row["origin"]]))


def test_backtests_read_no_target_data():
    """The same backtests whatever the targets are and whether they were measured."""
    metrics = synthetic_ladder(["piqa"], seed=0)
    bare = run_method("two_step", TWO_STEP, metrics, {}, ["piqa"], OPTIONS, intervals(draws=10), EVIDENCE)
    measured = metrics[metrics.run == metrics.run.iloc[-1]].assign(run="big")
    full = run_method("two_step", TWO_STEP, metrics, {"big": dict(TARGET, metrics=measured)}, ["piqa"], OPTIONS,
                      intervals(draws=10), EVIDENCE)
    np.testing.assert_array_equal(bare.backtest[["pred", "lo", "hi"]].to_numpy(),
                                  full.backtest[["pred", "lo", "hi"]].to_numpy())
    np.testing.assert_allclose(full.backtest["error"], full.backtest["pred"] - full.backtest["actual"])
    assert full.backtest["covered"].isin([True, False]).all()




def test_a_ladder_too_small_for_backtests_still_gets_its_figures(tmp_path):
    """Two model sizes leave nothing to backtest: the figures say so instead of failing the workflow."""
    import matplotlib.image

    from taskladder.report import analysis_figures
    empty = pd.DataFrame(columns=["method", "task", "run", "n", "d", "origin", "distance", "pred", "lo", "hi",
                                  "actual"])
    analysis_figures.backtest_figure(empty, tmp_path / "backtest.png")
    no_groups = pd.DataFrame(columns=["method", "target", "task", "group", "source", "pred_acc", "rank"])
    analysis_figures.group_comparison_figure(no_groups, "two_step", tmp_path / "groups.png")
    for name in ("backtest.png", "groups.png"):
        assert matplotlib.image.imread(tmp_path / name).shape[1] > 100
