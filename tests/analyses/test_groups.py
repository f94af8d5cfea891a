"""Ranking groups (data recipes) by predicted accuracy, and decision accuracy, on hand-computed cases."""
import math

import pandas as pd
import pytest

from taskladder.analyses.groups import decision_accuracy, group_comparison, rank_groups


@pytest.mark.parametrize("predicted, actual, expected", [
    ([0.5, 0.6, 0.7], [0.52, 0.61, 0.69], (1.0, 3)),  # every pair in order
    ([0.5, 0.7, 0.6], [0.5, 0.6, 0.7], (2 / 3, 3)),  # (b, c) swapped: 2 of 3 pairs right
    ([4, 3, 2, 1], [1, 2, 3, 4], (0.0, 6)),  # all 6 pairs reversed
    ([0.4, 0.6, 0.8], [0.5, 0.5, 0.7], (1.0, 2)),  # (a, b) tied in actual: no order to get right, left out
    ([0.6, 0.6, 0.8], [0.5, 0.6, 0.7], (2 / 3, 3)),  # (a, b) tied in prediction: counted wrong
    ([0.5, 0.6, float("nan")], [0.6, 0.5, 0.9], (0.0, 1)),  # c has no prediction: only (a, b), reversed
    ([0.5, 0.6, 0.7], [float("nan")] * 3, (float("nan"), 0)),  # no actuals
])
def test_decision_accuracy(predicted, actual, expected):
    share, pairs = decision_accuracy(predicted, actual)
    assert pairs == expected[1]
    assert share == pytest.approx(expected[0], nan_ok=True)


def predictions(**extra):
    frame = pd.DataFrame({"method": "two_step", "target": ["7B"] * 3 + ["13B"] * 3, "task": "piqa",
                          "group": ["a", "b", "c"] * 2, "pred_acc": [0.50, 0.70, 0.60, 0.55, 0.55, 0.75]})
    return frame.assign(**extra)


def test_rank_groups_best_first_per_target():
    ranked = rank_groups(predictions())
    seven = ranked[ranked["target"] == "7B"]
    assert seven["group"].tolist() == ["b", "c", "a"] and seven["rank"].tolist() == [1, 2, 3]
    thirteen = ranked[ranked["target"] == "13B"]  # a and b tie: same rank, in name order
    assert thirteen["group"].tolist() == ["c", "a", "b"] and thirteen["rank"].tolist() == [1, 2, 2]
    assert "pred_lo" not in ranked.columns and "actual_rank" not in ranked.columns


def test_intervals_say_whether_they_order_the_groups():
    ranked = rank_groups(predictions(pred_lo=[0.45, 0.66, 0.55, 0.5, 0.5, 0.7],
                                     pred_hi=[0.55, 0.74, 0.65, 0.6, 0.6, 0.8]))
    seven = ranked[ranked["target"] == "7B"]
    # b [0.66, 0.74] lies above c [0.55, 0.65]; c [0.55, 0.65] overlaps a [0.45, 0.55] only at its edge: not above
    assert seven["above_next"].tolist()[:2] == [True, False] and pd.isna(seven["above_next"].iloc[2])
    assert seven[["pred_lo", "pred_hi"]].iloc[0].tolist() == [0.66, 0.74]


def test_group_comparison_reports_decision_accuracy_per_target():
    compared = group_comparison(predictions(actual_acc=[0.52, 0.61, 0.69, 0.5, 0.6, 0.7]))
    seven = compared[compared["target"] == "7B"]
    # predicted b > c > a, actual c > b > a: (b, c) wrong, (b, a) and (c, a) right
    assert seven["actual_rank"].tolist() == [2, 1, 3]
    assert seven["decision_accuracy"].iloc[0] == pytest.approx(2 / 3) and seven["pairs"].iloc[0] == 3
    thirteen = compared[compared["target"] == "13B"]
    # predicted c > a = b, actual c > b > a: (c, a) and (c, b) right, the tie (a, b) wrong
    assert thirteen["decision_accuracy"].iloc[0] == pytest.approx(2 / 3)
    no_actuals = group_comparison(predictions())
    assert no_actuals["decision_accuracy"].isna().all() and no_actuals["pairs"].eq(0).all()


def test_bad_predictions():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['group'\]"):
        rank_groups(predictions().drop(columns="group"))
    with pytest.raises(ValueError, match="group 'a' appears twice for method 'two_step', target '7B', task 'piqa'"):
        rank_groups(pd.concat([predictions(), predictions().iloc[:1]]))
    assert math.isnan(decision_accuracy([], [])[0])
