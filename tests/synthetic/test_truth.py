"""The known laws synthetic ladders are drawn from: the paper's Table 7, and recipes whose laws differ."""

import numpy as np
import pytest

from taskladder.synthetic.truth import (
    GROUPS,
    TRUE_LAWS,
    step1_params,
    true_accuracy,
    true_task_loss,
)


def test_task_loss_is_the_papers_step1_law():
    a, alpha, b, beta, e = TRUE_LAWS["piqa"][0]
    n, d = 1e9, 2e10
    assert true_task_loss("piqa", n, d)[0] == pytest.approx(a / n**alpha + b / d**beta + e, rel=1e-12)


def test_accuracy_is_the_papers_step2_law():
    a, l0, k, b = TRUE_LAWS["hellaswag"][1]
    loss = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(true_accuracy("hellaswag", loss), a / (1 + np.exp(-k * (loss - l0))) + b, rtol=1e-12)
    assert np.all(np.diff(true_accuracy("hellaswag", loss)) < 0)  # lower loss, higher accuracy


def test_recipes_shift_the_loss_in_their_order():
    losses = {g: true_task_loss("arc_easy", 1e9, 2e10, g)[0] for g in GROUPS}
    assert losses["curated"] < losses["web"] < losses["noisy"]
    assert losses["web"] == true_task_loss("arc_easy", 1e9, 2e10)[0]  # web is the paper's law
    np.testing.assert_allclose(step1_params("piqa", "noisy")[[0, 2, 3]], step1_params("piqa")[[0, 2, 3]])
