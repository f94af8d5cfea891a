"""Figures of the analyses: backtests, variance, compute against error, the group comparison."""

import pandas as pd
from test_figures import is_png, method_fixture  # noqa: F401 (fixture method)

from taskladder.analyses import paper
from taskladder.report import analysis_figures


def test_backtest_and_variance_figures(method, tmp_path):
    result, ladder = method
    analysis_figures.backtest_figure(result.backtest, tmp_path / "backtest.png")
    table = paper.variance(ladder, paper.largest_run(ladder), ["piqa", "hellaswag"], last=5)
    analysis_figures.variance_figure(table, tmp_path / "variance.png")
    assert is_png(tmp_path / "backtest.png") and is_png(tmp_path / "variance.png")


def test_compute_vs_error_and_group_comparison_figures(tmp_path):
    cve = pd.DataFrame({"order": "flops", "task": ["piqa"] * 3, "compute_fraction": [0.001, 0.004, 0.01],
                        "rel_error": [0.08, 0.04, 0.02]})
    analysis_figures.compute_vs_error_figure(cve, "flops", tmp_path / "cve.png")
    table = pd.DataFrame({"method": "two_step", "source": "target", "target": "3B", "task": "piqa",
                          "group": ["web", "curated"], "rank": [2, 1], "pred_acc": [0.70, 0.74],
                          "pred_lo": [0.68, 0.72], "pred_hi": [0.72, 0.76], "actual_acc": [0.71, 0.75],
                          "above_next": [False, True], "decision_accuracy": 1.0, "pairs": 1})
    analysis_figures.group_comparison_figure(table, "two_step", tmp_path / "groups.png")
    assert is_png(tmp_path / "cve.png") and is_png(tmp_path / "groups.png")
