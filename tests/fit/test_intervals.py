"""Prediction intervals: resampling, calibration, and the intervals a method's predictions carry."""
import numpy as np
import pandas as pd
import pytest
from conftest import intervals as interval_options

from taskladder.base.config import paper_methods
from taskladder.fit import intervals
from taskladder.fit.methods import run_method
from taskladder.fit.points import task_data
from taskladder.synthetic.truth import TRUE_LAWS, true_accuracy, true_task_loss

SIZES = (190_354_176, 371_262_464, 758_220_288, 1_279_395_840)
TARGET = {"n": 6_887_575_552, "d": 3_945_065_873_408}
OPTIONS = dict(final_checkpoints=5, target_checkpoints=5, drop_first=0.1, window=5, huber_delta=1e-3, multistart=4,
               seed=0)


def synthetic_ladder(tasks, seed: int, checkpoints: int = 10, noise: float = 0.004) -> pd.DataFrame:
    """The paper's ladder shape with task loss and accuracy from the paper's laws (Table 7) plus noise of a
    known size at every checkpoint."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in SIZES:
        for xc in (1, 2, 5, 10):
            steps = np.arange(1, checkpoints + 1)
            tokens = xc * 20 * n * steps / checkpoints
            for task in tasks:
                loss = true_task_loss(task, n, tokens) + rng.normal(0, noise, checkpoints)
                acc = true_accuracy(task, loss) + rng.normal(0, noise, checkpoints)
                rows.append(pd.DataFrame({"run": f"{n}-{xc}xC", "n": n, "step": steps, "tokens": tokens, "task": task,
                                          "task_loss": loss, "acc": acc, "task_ce": np.nan, "lm_loss": np.nan}))
    return pd.concat(rows, ignore_index=True)


def test_calibration_factor_is_the_conformal_quantile():
    z = np.arange(1, 20, dtype=float)  # 19 cases: ceil(20 * 0.9) = 18th smallest
    assert intervals.calibration_factor(z, 0.9) == 18.0
    assert intervals.calibration_factor([0.5, 2.0, np.nan], 0.9) == 2.0  # too few: the largest
    assert np.isnan(intervals.calibration_factor([], 0.9))


def test_z_score_uses_the_side_of_the_actual():
    np.testing.assert_allclose(intervals.z_score([0.5, 0.5], [0.4, 0.4], [0.7, 0.7], [0.8, 0.3]), [1.5, 2.0])


def test_calibrated_scales_both_sides_and_clips():
    lo, hi = intervals.calibrated([0.5], [0.4], [0.7], 2.0, (0, 1))
    np.testing.assert_allclose([lo[0], hi[0]], [0.3, 0.9])
    lo, hi = intervals.calibrated([0.5], [0.4], [0.7], 3.0, (0, 1))
    np.testing.assert_allclose([lo[0], hi[0]], [0.2, 1.0])
    lo, hi = intervals.calibrated([0.5], [0.4], [0.7], np.nan)  # no backtest: the raw interval
    np.testing.assert_allclose([lo[0], hi[0]], [0.4, 0.7])


def test_block_indices_are_runs_of_consecutive_checkpoints():
    idx = intervals.block_indices(10, 4, 50, np.random.default_rng(0))
    assert idx.shape == (50, 10)
    steps = np.diff(idx[:, :4], axis=1) % 10  # within a block: consecutive, wrapping around
    assert (steps == 1).all()


def test_resamples_keep_every_size_and_are_the_same_for_every_method():
    metrics = synthetic_ladder(["piqa"], seed=0)
    methods = paper_methods()
    a = intervals.resample(task_data("two_step", methods["two_step"], metrics, "piqa"), 30, 5, seed=1)
    b = intervals.resample(task_data("flops", methods["flops"], metrics, "piqa"), 30, 5, seed=1)
    np.testing.assert_array_equal(a.ladder_counts, b.ladder_counts)
    np.testing.assert_array_equal(a.ladder[3]["task_loss"], b.ladder[3]["task_loss"])
    for size in range(4):  # 4 runs per size; each size keeps a total weight of 4 in every draw
        np.testing.assert_allclose(a.ladder_counts[:, 4 * size:4 * size + 4].sum(axis=1), 4.0)
    assert a.ladder_counts.std() > 0.1  # and the runs' weights vary
    other = intervals.resample(task_data("two_step", methods["two_step"], metrics, "piqa"), 30, 5, seed=2)
    assert not np.array_equal(other.ladder_counts, a.ladder_counts)


def test_intervals_contain_the_prediction_and_cover_the_spread_of_minima():
    metrics = synthetic_ladder(["piqa", "hellaswag"], seed=1)
    result = run_method("two_step", paper_methods()["two_step"], metrics, {"big": TARGET}, ["piqa", "hellaswag"],
                        OPTIONS, interval_options(draws=40))
    p = result.predictions
    assert ((p.pred_lo < p.pred_acc) & (p.pred_acc < p.pred_hi) & (p.pred_lo >= 0) & (p.pred_hi <= 1)).all()
    assert ((p.loss_lo < p.pred_loss) & (p.pred_loss < p.loss_hi)).all()
    assert set(result.draws.columns) >= {"task", "target", "holdout", "draw", "pred_acc"}
    target_draws = result.draws[result.draws.holdout.isna() | (result.draws.holdout == "")]
    assert len(target_draws) == 2 * 40
    assert result.calibration.cases[0] == 8  # calibrated on 2 tasks x the holdout fitted on 3 sizes x 4 runs


def test_no_draws_means_no_intervals():
    metrics = synthetic_ladder(["piqa"], seed=1)
    result = run_method("two_step", paper_methods()["two_step"], metrics, {"big": TARGET}, ["piqa"], OPTIONS,
                        interval_options(draws=0))
    assert result.predictions[["pred_lo", "pred_hi", "loss_lo", "loss_hi"]].isna().all().all()
    assert result.backtest.empty


@pytest.mark.slow
def test_90_percent_intervals_cover_the_truth_of_synthetic_ladders():
    """On ladders generated from known laws with noise of a known size, the calibrated 90% intervals of
    two_step cover the true accuracy at the 7B-4T target in 85-95% of 200 repetitions."""
    tasks = ["piqa", "hellaswag"]
    hits, widths = [], []
    for rep in range(100):
        result = run_method("two_step", paper_methods()["two_step"], synthetic_ladder(tasks, seed=100 + rep),
                            {"big": TARGET}, tasks, OPTIONS, interval_options(draws=100))
        for row in result.predictions.itertuples():
            truth = true_accuracy(row.task, true_task_loss(row.task, TARGET["n"], TARGET["d"]))[0]
            hits.append(row.pred_lo <= truth <= row.pred_hi)
            widths.append(row.pred_hi - row.pred_lo)
    print(f"\ncoverage {np.mean(hits):.3f} of {len(hits)}, mean width {100 * np.mean(widths):.2f} points")
    assert len(hits) == 200
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)
    assert set(tasks) <= set(TRUE_LAWS)
