"""What a method fits: its columns, the metrics it needs on each kind of run, chance per task."""

import pytest

from taskladder.base.config import paper_methods
from taskladder.fit.points import chance, columns, method_options, needed_metrics


def test_each_paper_methods_columns_and_needs():
    methods = paper_methods()
    assert columns(methods["two_step"]) == ("task_loss", "acc", "task_loss")
    assert columns(methods["single_step"]) == (None, "acc", "acc")  # step 1 straight to accuracy
    assert needed_metrics(methods["two_step"]) == ["task_loss", "acc"]
    assert needed_metrics(methods["taskce"]) == ["task_ce", "acc"]
    assert needed_metrics(methods["lm_loss"]) == ["lm_loss", "acc"]
    assert needed_metrics(methods["single_step"]) == ["acc"]
    mc = {**methods["two_step"], "accuracy": "acc_mc",  # step 2 on the runs it names (paper appendix B.2):
          "step2": {**methods["two_step"]["step2"], "runs": ["7B-4T-170k-450k"]}}  # the ladder: step 1's only
    assert needed_metrics(mc, ladder=True) == ["task_loss"] and needed_metrics(mc, ladder=False) == ["task_loss",
                                                                                                    "acc_mc"]


def test_chance_and_a_methods_own_options():
    assert chance("piqa") == 0.5 and chance("csqa") == 0.2 and chance("mine") == 0.25
    assert chance("piqa", {"piqa": 0.4}) == 0.4
    assert method_options({"fit": {"window": 1}}, {"window": 5, "drop_first": 0.1}) == {"window": 1,
                                                                                          "drop_first": 0.1}
    assert method_options({}, {"window": 5}) == {"window": 5}


@pytest.mark.parametrize("name", ["two_step", "flops", "taskce", "lm_loss", "single_step", "flp"])
def test_every_paper_method_predicts_rc_accuracy(name):
    assert columns(paper_methods()[name])[1] == "acc"
