"""Synthetic ladders with known laws: the bundled example's run logs, ladders of checkpoints (seeds, groups), sweeps
of final models; every value where its law puts it."""

import numpy as np
import pandas as pd
import pytest

from taskladder.imports.tables import read_olmo_ladder
from taskladder.synthetic.ladders import (
    SWEEP_GROUPS,
    isoflop_truth,
    ladder_truth,
    sweep_truth,
    write_example,
)
from taskladder.synthetic.truth import (
    SIZES,
    TARGET,
    true_accuracy,
    true_task_loss,
)


def test_a_ladder_without_noise_is_its_laws():
    truth = ladder_truth(("piqa",), sizes={"190M": SIZES["190M"]}, multiples=(1, 2), checkpoints=3, noise=0.0)
    assert sorted(truth["run"].unique()) == ["190M-1xC", "190M-2xC"]
    assert truth.groupby("run").size().tolist() == [3, 3]
    np.testing.assert_allclose(truth["task_loss"], true_task_loss("piqa", truth["n"], truth["tokens"]), rtol=1e-12)
    np.testing.assert_allclose(truth["acc"], true_accuracy("piqa", truth["task_loss"]), rtol=1e-12)
    final = truth.groupby("run")["tokens"].max()
    assert final["190M-2xC"] == pytest.approx(2 * 20 * SIZES["190M"], rel=0.01)  # D = xC * 20 * N
    np.testing.assert_array_equal(truth["flops"], 6.0 * truth["n"] * truth["tokens"])


def test_seeds_and_groups_name_their_runs():
    truth = ladder_truth(("piqa",), sizes={"190M": SIZES["190M"]}, multiples=(1,), checkpoints=2, seeds=(0, 1),
                         groups=("web", "noisy"))
    assert sorted(truth["run"].unique()) == ["noisy-190M-1xC-s0", "noisy-190M-1xC-s1", "web-190M-1xC-s0",
                                             "web-190M-1xC-s1"]
    assert set(truth["seed"]) == {0, 1} and set(truth["group"]) == {"web", "noisy"}
    by_group = truth.groupby("group")["task_loss"].mean()
    assert by_group["web"] < by_group["noisy"]


def test_sweeps_are_one_final_model_per_run():
    sweep = sweep_truth()
    assert sweep.groupby(["run", "task"]).size().eq(1).all() and set(sweep["group"]) == set(SWEEP_GROUPS)
    assert sweep["run"].nunique() == 3 * (16 + 1)  # every recipe's ladder and its 3B model
    iso = isoflop_truth(("piqa",), budgets=(1e19,), per_budget=3, groups=("web",))
    np.testing.assert_allclose(iso["flops"], 1e19, rtol=1e-3)  # each at its budget


def test_the_example_is_a_ladder_of_olmo_ladder_logs(tmp_path):
    written = write_example(tmp_path, checkpoints=4)
    assert len(written) == 17 and written[-1].name == f"{TARGET[0]}.csv"
    run = read_olmo_ladder(written[0], "190M-1xC", SIZES["190M"], ["piqa"])
    assert len(run) == 4 and run["tokens"].is_monotonic_increasing
    target = read_olmo_ladder(written[-1], TARGET[0], TARGET[1], ["piqa"])
    assert len(target) == 1 and target["tokens"].iloc[0] == pytest.approx(TARGET[2], rel=1e-3)
    assert pd.read_csv(written[0]).equals(pd.read_csv(write_example(tmp_path / "again", checkpoints=4)[0]))
