"""Which tasks a ladder can predict, and the flags a prediction carries."""
import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals

from taskladder.base.config import defaults
from taskladder.fit import predictability
from taskladder.fit.smoothing import Run


def _run(name, n, d, accs, losses=None):
    m = len(accs)
    losses = losses if losses is not None else [1.0] * m
    return Run(name, n, d, 6 * n * d, np.arange(1, m + 1), np.linspace(d / m, d, m),
               {"acc": np.asarray(accs, dtype=float), "task_loss": np.asarray(losses, dtype=float)})


def test_at_chance_is_within_two_noise_sds_of_chance():
    flat = [0.24, 0.26, 0.25, 0.27, 0.23, 0.26]  # SD over the last 10 (all 6): 0.0141
    assert predictability.at_chance([_run("a", 1, 10, flat)], "acc", 0.25, last=5)
    risen = [0.30, 0.35, 0.40, 0.42, 0.44, 0.45]
    assert not predictability.at_chance([_run("a", 1, 10, flat), _run("b", 2, 10, risen)], "acc", 0.25, last=5)
    # with 100 documents an accuracy at chance has a binomial SD of 0.043: 0.31 is not out of chance yet
    slight = [0.31] * 6
    assert not predictability.at_chance([_run("a", 1, 10, slight)], "acc", 0.25)
    assert predictability.at_chance([_run("a", 1, 10, slight)], "acc", 0.25, docs=100)


def test_measures_by_hand():
    runs = [_run("s-1", 1, 10, [0.3] * 10), _run("s-2", 1, 20, [0.4] * 10),
            _run("b-1", 2, 10, [0.5, 0.52] * 5), _run("b-2", 2, 20, [0.6, 0.64] * 5)]
    m = predictability.measures(runs, "piqa", 0.25, last=2)
    # signal: the longest run of each size, 0.4 and 0.62: (0.62 - 0.4) / 0.51
    # noise: the residual SD around a line in log tokens over the last 10 of the largest size's runs, relative
    def noise_of(accs, tokens):
        x = np.log(tokens)
        return np.sqrt(np.sum((accs - np.polyval(np.polyfit(x, accs, 1), x)) ** 2) / (len(accs) - 2)) / np.mean(accs)

    noise = np.mean([noise_of(r.values["acc"], r.tokens) for r in runs[2:]])
    assert noise == pytest.approx(np.mean([0.01 / 0.51, 0.02 / 0.62]), rel=0.2)  # alternating: about the SD
    assert m["snr"] == pytest.approx((0.22 / 0.51) / noise)
    # compute 60, 120, 120, 240 (ranks 1, 2.5, 2.5, 4) against accuracy ranks 1, 2, 3, 4
    assert m["monotone"] == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1])
    assert not m["at_chance"]
    assert m["sd10_acc"] == pytest.approx(0.02 / 0.62)


def test_a_run_still_learning_is_not_noise():
    """Five checkpoints rising along a line in log tokens, with small wiggles: the noise is the wiggles, not
    the rise (the plain SD of the five is 11 times larger)."""
    tokens = np.geomspace(20, 100, 5)
    accs = 0.30 + 0.05 * np.log(tokens / 20) + np.array([0.002, -0.002, 0.002, -0.002, 0.002])
    run = Run("r", 1, 100, 600, np.arange(1, 6), tokens, {"acc": accs})
    assert predictability._noise(run, "acc") < 0.003 < 0.025 < np.std(accs)
    assert not predictability.at_chance([run], "acc", 0.25, last=1)


def test_spearman_by_hand():
    assert predictability.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert predictability.spearman([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-1.0)
    assert np.isnan(predictability.spearman([1, 1, 1], [1, 2, 3]))


def test_flags_name_every_reason():
    predictions = pd.DataFrame({"method": ["a", "b", "a", "b"], "task": ["piqa", "piqa", "csqa", "csqa"],
                                "target": "big", "pred_acc": [0.71, 0.79, 0.50, 0.51],
                                "pred_lo": [0.6, 0.79, 0.49, 0.20], "pred_hi": [0.8, 0.81, 0.51, 0.60],
                                "distance": [1.2, 1.2, 1.6, -3.0], "note": ""})
    measured = pd.DataFrame({"task": ["piqa", "csqa"], "at_chance": [False, True], "snr": [10.0, 2.0],
                             "monotone": [0.95, 0.1]})
    backtest = pd.DataFrame({"method": ["a", "b"], "task": ["piqa", "piqa"], "pred": [0.5, 0.5], "actual": [0.49, 0.40]})
    fits = pd.DataFrame({"method": ["a"], "task": ["csqa"], "converged": [False]})
    # a's error models reach 1.0 decade (and 0.9 for its model of every task); b has none: not calibrated
    calibration = pd.DataFrame({"method": ["a", "a", "b"], "task": ["piqa", "(all tasks)", "(all tasks)"],
                                "value": "acc", "floor": [0.01, 0.01, np.nan], "max_distance": [1.0, 0.9, np.nan]})
    flags = predictability.flags(predictions, measured, backtest, fits, calibration, ["a", "b"], defaults("flags"),
                                 smallest=-2.5)
    # no ensemble: the consensus is the median, 0.75 for piqa: each method is 0.04 away
    assert flags[0] == "wide_interval"  # width 0.2; 1.2 decades is within 1.0 + the margin of 0.5
    assert flags[1] == "backtest_error;uncalibrated"
    assert flags[2] == "at_chance;noisy;non_monotone;not_converged;far_extrapolation"  # 1.6 > 0.9 + 0.5
    assert flags[3] == "at_chance;noisy;non_monotone;uncalibrated;below_ladder;wide_interval"
    noted = predictions.assign(note=["method a, task piqa: step 1 has 2 ladder point(s)", "bounded to [0.2, 0.6]: ...",
                                     "at chance on the ladder: not predictable at this scale", ""])
    flags = predictability.flags(noted, measured, backtest, fits, calibration, ["a", "b"], defaults("flags"))
    assert flags[0].startswith("not_fitted") and "bounded" in flags[1] and "not_fitted" not in flags[2]
    # with an ensemble at 0.785 (weights 0.1, 0.9): a is 0.075 from it, b 0.005; its members 0.012 on average
    ensemble = pd.DataFrame({"method": "ensemble", "task": ["piqa"], "target": "big", "pred_acc": [0.785],
                             "pred_lo": [0.78], "pred_hi": [0.80], "distance": [1.2], "note": ""})
    with_ens = pd.concat([predictions, ensemble], ignore_index=True)
    weights = pd.DataFrame({"task": "piqa", "method": ["a", "b"], "weight": [0.1, 0.9]})
    dis = predictability.disagreement(with_ens, ["a", "b"], weights)
    np.testing.assert_allclose(dis[[0, 1, 4]], [0.075, 0.005, 0.1 * 0.075 + 0.9 * 0.005])
    flags = predictability.flags(with_ens, measured, backtest, fits, calibration, ["a", "b"], defaults("flags"),
                                 weights=weights)
    assert flags[0] == "methods_disagree;wide_interval" and flags[4] == "uncalibrated"
    table = predictability.table(measured.to_dict("records"), backtest, with_ens, ["a", "b"], defaults("flags"),
                                 weights=weights)
    assert table.set_index("task").loc["piqa", "disagreement"] == pytest.approx(0.012)
    assert table.set_index("task").loc["piqa", "flag"] == "backtest_error"


def test_an_experiment_without_targets_still_gets_its_tables():
    """No target to predict: predictions.csv is empty but has the contract's columns; the rest is written."""
    from test_intervals import OPTIONS, synthetic_ladder

    from taskladder.analyses import summary
    from taskladder.base.config import defaults, paper_methods
    from taskladder.fit.methods import PREDICTION_COLUMNS, run_method

    metrics = synthetic_ladder(["piqa"], seed=0)
    result = run_method("two_step", paper_methods()["two_step"], metrics, {}, ["piqa"], OPTIONS, intervals(draws=10),
                        EVIDENCE)
    out = summary.summary({"two_step": {k: getattr(result, k) for k in ("fits", "predictions", "backtest", "calibration")}},
                         metrics, {"two_step": paper_methods()["two_step"]}, ["piqa"], OPTIONS,
                          defaults("flags"))
    assert out["predictions"].empty and list(out["predictions"].columns) == [*PREDICTION_COLUMNS, "flags"]
    assert len(out["backtest"]) == len(result.backtest) > 0 and len(out["predictability"]) == 1
