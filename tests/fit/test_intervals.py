"""Prediction intervals: resampling, calibration, and the intervals a method's predictions carry."""
import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE
from conftest import intervals as interval_options

from taskladder.base.config import paper_methods, validate
from taskladder.fit import intervals
from taskladder.fit.methods import fit_options, run_method
from taskladder.fit.points import task_data
from taskladder.synthetic.truth import true_accuracy, true_task_loss

SIZES = (190_354_176, 371_262_464, 758_220_288, 1_279_395_840)
TARGET = {"n": 6_887_575_552, "d": 3_945_065_873_408}
OPTIONS = fit_options(validate({"experiment": "test"})) | {"multistart": 4}  # the schema's defaults, fewer starts


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




def test_intervals_contain_the_prediction_and_widen_with_distance():
    metrics = synthetic_ladder(["piqa", "hellaswag"], seed=1)
    near = {"n": 2.6e9, "d": 5.2e11}  # ~4x the ladder's largest run
    result = run_method("two_step", paper_methods()["two_step"], metrics, {"big": TARGET, "near": near},
                        ["piqa", "hellaswag"], OPTIONS, interval_options(draws=40), EVIDENCE)
    p = result.predictions
    assert ((p.pred_lo < p.pred_acc) & (p.pred_acc < p.pred_hi) & (p.pred_lo >= 0) & (p.pred_hi <= 1)).all()
    assert ((p.loss_lo < p.pred_loss) & (p.pred_loss < p.loss_hi)).all()
    width = (p.pred_hi - p.pred_lo).groupby([p.task, p.target]).first()
    for task in ("piqa", "hellaswag"):
        assert width[(task, "big")] > width[(task, "near")]  # farther out, wider
    big = p[p.target == "big"].iloc[0]
    assert big.distance == pytest.approx(np.log10(6 * TARGET["n"] * TARGET["d"] / (6 * SIZES[-1] * 200 * SIZES[-1])))
    assert set(result.draws.columns) >= {"task", "target", "draw", "pred_acc"} and len(result.draws) == 2 * 2 * 40
    acc = result.calibration[result.calibration.value == "acc"].set_index("task")
    assert set(acc.index) == {"piqa", "hellaswag", "(all tasks)"} and (acc["floor"] > 0).all()


def test_no_draws_means_no_intervals():
    metrics = synthetic_ladder(["piqa"], seed=1)
    result = run_method("two_step", paper_methods()["two_step"], metrics, {"big": TARGET}, ["piqa"], OPTIONS,
                        interval_options(draws=0), EVIDENCE)
    assert result.predictions[["pred_lo", "pred_hi", "loss_lo", "loss_hi"]].isna().all().all()
    assert result.backtest.empty
