"""Both steps chained at a target, and a target's measured value."""

import numpy as np
import pandas as pd
import pytest

from taskladder.fit import laws
from taskladder.fit.chain import actual, chain, target_inputs
from taskladder.synthetic.truth import (
    TRUE_LAWS,
    step1_params,
    true_accuracy,
    true_task_loss,
)


def test_chaining_the_true_laws_gives_the_truth():
    target = {"n": 7e9, "d": 4e12}
    step2 = np.array(TRUE_LAWS["piqa"][1])
    loss, acc = chain(laws.power_nd, step1_params("piqa"), laws.sigmoid, step2, target)
    assert loss[()] == pytest.approx(true_task_loss("piqa", 7e9, 4e12)[0], rel=1e-12)
    assert acc[()] == pytest.approx(true_accuracy("piqa", loss)[0], rel=1e-12)
    batch = np.stack([step1_params("piqa"), step1_params("piqa", "noisy")])
    losses, _ = chain(laws.power_nd, batch, laws.sigmoid, np.stack([step2, step2]), target)
    assert losses.shape == (2,) and losses[0] < losses[1]  # a batch of parameter vectors, row by row


def test_a_single_step_method_has_no_intermediate():
    params, target = np.array(laws.sigmoid_nd.start, dtype=float), {"n": 1e9, "d": 1e10}
    inter, acc = chain(laws.sigmoid_nd, params, None, None, target)
    assert np.isnan(inter) and acc == pytest.approx(laws.sigmoid_nd.value(params, target_inputs(target))[0])


def test_the_target_flops_are_logged_or_6nd():
    assert target_inputs({"n": 2.0, "d": 10.0})["flops"][0] == 120.0
    assert target_inputs({"n": 2.0, "d": 10.0, "flops": 500.0})["flops"][0] == 500.0


def test_a_targets_actual_is_the_mean_of_its_last_rows():
    rows = pd.DataFrame({"task": ["piqa"] * 4 + ["csqa"], "step": [4, 1, 3, 2, 1], "acc": [0.4, 0.1, 0.3, 0.2, 0.9]})
    assert actual(rows, "piqa", "acc", 2) == pytest.approx(0.35)  # steps 3 and 4, whatever the row order
    assert np.isnan(actual(rows, "boolq", "acc", 2)) and np.isnan(actual(None, "piqa", "acc", 2))
    assert np.isnan(actual(rows, "piqa", None, 2)) and np.isnan(actual(rows, "piqa", "task_loss", 2))
