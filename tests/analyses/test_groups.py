"""Ranking groups (data recipes) by predicted accuracy, and decision accuracy, on hand-computed cases."""
import math

import pandas as pd
import pytest

from taskladder.analyses.groups import (
    RANKING_COLUMNS,
    decision_accuracy,
    group_comparison,
    group_ranking,
    rank_groups,
)


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


# ---- the answer: group_ranking ------------------------------------------------------------------------------------

def one_cell(pred, flags=None, groups=("a", "b", "c"), **extra):
    """Predictions of one method, target and task for `groups`."""
    frame = pd.DataFrame({"method": "two_step", "target": "7B", "task": "piqa", "group": list(groups),
                          "pred_acc": pred, "flags": flags or [""] * len(groups), "n": 7e9, "d": 1e12})
    return frame.assign(**extra)


def draws_of(values: dict, method="two_step", target="7B", task="piqa") -> pd.DataFrame:
    """Draws table from {group: [draw 0, draw 1, ...]}."""
    return pd.DataFrame([{"method": method, "target": target, "task": task, "group": g, "draw": i, "pred_acc": v}
                         for g, vs in values.items() for i, v in enumerate(vs)])


def test_group_ranking_names_the_winner_its_margin_and_its_share_of_draws():
    draws = draws_of({"a": [0.50, 0.52, 0.49, 0.51], "b": [0.70, 0.66, 0.71, 0.58],
                      "c": [0.60, 0.67, 0.61, 0.62]})
    ranking = group_ranking(one_cell([0.50, 0.70, 0.62]), draws)
    row = ranking.iloc[0]
    assert (row["winner"], row["runner_up"]) == ("b", "c")
    assert row["margin_points"] == pytest.approx(8.0) and row["winner_acc"] == pytest.approx(0.70)
    # draw by draw: b above both others in draws 0 and 2 (draw 1: c 0.67 > b 0.66; draw 3: c 0.62 > b 0.58)
    assert row["win_share"] == pytest.approx(0.5) and row["draws"] == 4 and row["ranked"] == 3
    assert row["note"] == "" and row["left_out"] == ""
    assert list(ranking.columns) == RANKING_COLUMNS


def test_a_draw_a_group_lacks_is_left_out_and_no_draws_leave_the_share_unknown():
    draws = draws_of({"a": [0.5, 0.5, 0.5], "b": [0.7, float("nan"), 0.4]})
    row = group_ranking(one_cell([0.5, 0.7], groups=("a", "b")), draws).iloc[0]
    assert row["draws"] == 2 and row["win_share"] == pytest.approx(0.5)
    bare = group_ranking(one_cell([0.5, 0.7], groups=("a", "b"))).iloc[0]
    assert bare["winner"] == "b" and math.isnan(bare["win_share"]) and bare["draws"] == 0
    assert bare["note"] == "no draws to compare"


def test_a_tie_at_the_top_has_no_winner():
    row = group_ranking(one_cell([0.70, 0.70, 0.60]), draws_of({"a": [0.7], "b": [0.69], "c": [0.6]})).iloc[0]
    assert row["winner"] == "" and row["margin_points"] == 0 and math.isnan(row["win_share"])
    assert row["note"] == "tie: a, b at 70.0%"


def test_a_group_at_chance_is_left_out_with_a_note_never_the_winner():
    # c is at chance (no prediction); d was not fitted but kept a number; e shows no trend, its number only a bound:
    # none is ranked, even where its draws lie above every other group's
    predictions = one_cell([0.50, 0.70, float("nan"), 0.90, 0.95],
                           ["", "", "at_chance", "noisy;not_fitted", "bounded;non_monotone"],
                           groups=("a", "b", "c", "d", "e"))
    draws = draws_of({"a": [0.5, 0.5], "b": [0.7, 0.4], "c": [0.99, 0.99], "d": [0.95, 0.95], "e": [0.9, 0.9]})
    row = group_ranking(predictions, draws).iloc[0]
    assert (row["winner"], row["runner_up"], row["ranked"]) == ("b", "a", 2)
    assert row["win_share"] == pytest.approx(0.5) and row["left_out"] == "c, d, e"
    assert row["note"] == "left out: c (at_chance), d (not_fitted), e (bounded)" and row["winner_flags"] == ""
    flagged = group_ranking(one_cell([0.5, 0.7], ["", "wide_interval;noisy"], groups=("a", "b"))).iloc[0]
    assert flagged["winner"] == "b" and flagged["winner_flags"] == "wide_interval;noisy"
    alone = group_ranking(one_cell([0.5, float("nan")], ["", "at_chance"], groups=("a", "c"))).iloc[0]
    assert alone["winner"] == "" and alone["ranked"] == 1
    assert alone["note"] == "only a can be ranked; left out: c (at_chance)"
    nobody = group_ranking(one_cell([float("nan")], ["at_chance"], groups=("c",))).iloc[0]
    assert nobody["winner"] == "" and nobody["note"] == "no group can be ranked; left out: c (at_chance)"


def test_group_ranking_carries_decision_accuracy_at_the_target_and_on_backtests():
    predictions = pd.concat([one_cell([0.5, 0.7, 0.6], actual_acc=[0.52, 0.61, 0.69]),
                             one_cell([0.4, 0.5, 0.45]).assign(target="13B", n=13e9)], ignore_index=True)
    backtest = pd.concat([  # two cells of the ladder's largest size: 3 of 3 pairs right, then 2 of 3 ((b, c) wrong)
        one_cell([0.3, 0.4, 0.35], actual_acc=[0.31, 0.41, 0.36]).assign(target="N=1, D=10"),
        one_cell([0.3, 0.4, 0.35], actual_acc=[0.30, 0.36, 0.41]).assign(target="N=1, D=20")])
    compared = pd.concat([group_comparison(predictions).assign(source="target"),
                          group_comparison(backtest).assign(source="backtest")], ignore_index=True)
    ranking = group_ranking(predictions, None, compared).set_index("target")
    assert ranking.index.tolist() == ["7B", "13B"]  # targets by compute
    assert ranking.loc["7B", "decision_accuracy"] == pytest.approx(2 / 3) and ranking.loc["7B", "pairs"] == 3
    assert math.isnan(ranking.loc["13B", "decision_accuracy"]) and ranking.loc["13B", "pairs"] == 0
    assert ranking["backtest_decision_accuracy"].tolist() == pytest.approx([5 / 6] * 2)
    assert ranking["backtest_pairs"].tolist() == [6, 6]


def test_bad_draws():
    draws = draws_of({"a": [0.5], "b": [0.7]})
    with pytest.raises(ValueError, match="draw 0 of group 'a' appears twice for method 'two_step', target '7B'"):
        group_ranking(one_cell([0.5, 0.7], groups=("a", "b")), pd.concat([draws, draws.iloc[:1]]))
    with pytest.raises(ValueError, match=r"draws: missing column\(s\) \['draw'\]"):
        group_ranking(one_cell([0.5, 0.7], groups=("a", "b")), draws.drop(columns="draw"))
