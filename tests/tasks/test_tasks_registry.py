"""Which tasks a config evaluates and how each is built: names checked with hints, aggregates expanded."""

import pytest

from taskladder.tasks import olmes, registry
from taskladder.tasks.documents import TaskError


def test_unknown_names_raise_with_hints():
    with pytest.raises(TaskError, match=r"hellaswagg.*close matches.*'hellaswag'"):
        registry.check_names(["hellaswagg"])
    with pytest.raises(TaskError, match="num_shots"):
        olmes.build_olmes("piqa", num_shots=6)


def test_plan_expands_aggregates_and_rejects_collisions():
    evaluation = {"tasks": ["mmlu", "arc_easy"], "lm_eval_tasks": ["sciq", {"task": "arc_easy", "name": "lm_arc"}]}
    plan = registry.plan(evaluation)
    assert list(plan) == ["mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other", "arc_easy", "sciq",
                          "lm_arc"]
    assert plan["lm_arc"] == {"source": "lm_eval", "task": "arc_easy"}
    with pytest.raises(TaskError, match="also an OLMES task name"):
        registry.plan({"tasks": ["arc_easy"], "lm_eval_tasks": ["arc_easy"]})
