"""Calibration by distance: the backtests' error scale modelled against extrapolation distance."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from taskladder.fit import calibration
from taskladder.fit.calibration import ErrorModel


def errors_at(floor, growth, distances, rng, per_origin=4):
    """Backtest rows whose errors are Normal(0, floor^2 + (growth d)^2), `per_origin` rows per origin."""
    d = np.repeat(distances, per_origin)
    e = rng.normal(0, np.sqrt(floor ** 2 + (growth * d) ** 2))
    origin = np.repeat([f"o{i}" for i in range(len(distances))], per_origin)
    return d, e, origin


def test_the_scale_model_recovers_a_known_floor_and_growth():
    rng = np.random.default_rng(0)
    d, e, origin = errors_at(0.01, 0.03, rng.uniform(0, 2, 3000), rng)
    model = calibration.fit_model(d, e, origin)
    assert model.floor == pytest.approx(0.01, rel=0.15) and model.growth == pytest.approx(0.03, rel=0.1)
    assert model.max_distance == pytest.approx(d.max()) and model.cases == len(e)
    d, e, origin = errors_at(0.02, 0.0, rng.uniform(0, 2, 3000), rng)  # errors that do not grow
    flat = calibration.fit_model(d, e, origin)
    assert flat.growth < 0.003 and flat.floor == pytest.approx(0.02, rel=0.1)


def test_each_origin_weighs_as_one():
    """An origin predicting many runs counts as much as one predicting a few (its runs share one fit)."""
    d = np.array([1.0] * 50 + [1.0])
    e = np.array([0.1] * 50 + [0.01])
    weighted = calibration.fit_model(d, e, np.array(["big"] * 50 + ["small"]))
    plain = calibration.fit_model(d, e, np.arange(51).astype(str))
    assert weighted.scale(1.0) < plain.scale(1.0)
    assert weighted.scale(1.0) == pytest.approx(np.sqrt((0.1 ** 2 + 0.01 ** 2) / 2), rel=1e-6)


def test_half_width_is_a_student_t_quantile_of_the_scale():
    model = ErrorModel(floor=0.01, growth=0.02, origins=6, cases=24, max_distance=1.5)
    assert model.dof == 4
    assert model.half_width(2.0, 0.9) == pytest.approx(student_t.ppf(0.95, 4) * np.sqrt(0.01 ** 2 + 0.04 ** 2))
    assert model.half_width(-1.0, 0.9) == pytest.approx(student_t.ppf(0.95, 4) * 0.01)  # below the ladder: the floor
    assert np.isnan(calibration.NO_MODEL.half_width(1.0, 0.9))


def test_a_task_borrows_its_methods_model_by_its_number_of_origins():
    own, pooled = ErrorModel(0.01, 0.01, 2, 8, 1.0), ErrorModel(0.03, 0.05, 20, 80, 1.2)
    mixed = calibration.shrunk(own, pooled, shrink=2)
    assert mixed.floor == pytest.approx(np.sqrt((0.01 ** 2 + 0.03 ** 2) / 2))
    assert mixed.growth == pytest.approx(np.sqrt((0.01 ** 2 + 0.05 ** 2) / 2))
    assert mixed.origins == 2 + 20 * 2 / 4 and mixed.max_distance == 1.2  # its own, and half the method's
    assert calibration.shrunk(calibration.NO_MODEL, pooled, 2).floor == pooled.floor


def backtest_table(rng, tasks=("a", "b"), origins=5, runs=4) -> pd.DataFrame:
    rows = []
    for task in tasks:
        for o in range(origins):
            for r in range(runs):
                d = 0.2 * (o + 1) + 0.1 * r
                actual = 0.5 + 0.1 * rng.normal()
                rows.append({"task": task, "origin": f"o{o}", "run": f"r{r}", "distance": d, "fitted_sizes": 3,
                             "fitted_span": 2.0, "ladder_span": 2.0, "actual_se": 0.0, "actual_loss_se": 0.0,
                             "pred": actual + rng.normal(0, 0.01 + 0.02 * d), "actual": actual,
                             "pred_loss": 1.0 + rng.normal(0, 0.01), "actual_loss": 1.0})
    return pd.DataFrame(rows)


def test_backtest_intervals_come_from_models_that_never_saw_their_origin():
    rng = np.random.default_rng(1)
    bt = backtest_table(rng)
    first = calibration.calibrate_backtest(bt, 0.9, [], 3, 4)
    assert (first["lo"] <= first["pred"]).all() and (first["pred"] <= first["hi"]).all()
    assert first["covered"].mean() > 0.6
    wild = bt.copy()
    mine = wild["origin"] == "o4"
    wild.loc[mine, "actual"] = wild.loc[mine, "pred"] + 0.5  # that origin's errors: huge
    second = calibration.calibrate_backtest(wild, 0.9, [], 3, 4)
    np.testing.assert_allclose(second.loc[mine, ["lo", "hi"]], first.loc[mine, ["lo", "hi"]])  # not seen by its own
    assert (second.loc[~mine, "hi"] - second.loc[~mine, "lo"]).mean() > (first.loc[~mine, "hi"] -
                                                                        first.loc[~mine, "lo"]).mean()
    assert not second.loc[mine, "covered"].any()


def test_tasks_at_chance_are_left_out_of_the_methods_model():
    rng = np.random.default_rng(2)
    bt = backtest_table(rng, tasks=("a", "b", "noise"))
    noisy = bt["task"] == "noise"
    bt.loc[noisy, "actual"] = bt.loc[noisy, "pred"] + rng.normal(0, 0.3, noisy.sum())
    with_noise = calibration.task_models(bt, [], 3, 4)
    without = calibration.task_models(bt, ["noise"], 3, 4)
    assert without[""].scale(1.0) < with_noise[""].scale(1.0) / 3
    assert without["a"].scale(1.0) < with_noise["a"].scale(1.0)


def test_an_origin_fitted_on_a_narrower_ladder_is_read_at_its_reach_and_noise_is_not_error():
    """A backtest from half the ladder's span counts as twice as far out; the held-out actual's own noise is
    taken out of the scale (the model is of the error against the true accuracy)."""
    bt = pd.DataFrame({"distance": [0.5], "fitted_span": [1.0], "ladder_span": [2.0]})
    assert calibration.reach(bt)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    d, e, origin = errors_at(0.01, 0.0, np.zeros(3000), rng)
    noisy = e + rng.normal(0, 0.02, len(e))
    assert calibration.fit_model(d, noisy, origin, 0.02).floor == pytest.approx(0.01, rel=0.2)
    assert calibration.fit_model(d, noisy, origin).floor == pytest.approx(np.hypot(0.01, 0.02), rel=0.1)
