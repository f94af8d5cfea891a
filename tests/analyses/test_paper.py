"""The paper's analyses (section 5): SD over the last checkpoints (variance), and the target's error as the ladder
grows by FLOPs, N or xC (compute against error); SD10 from the paper's raw logs."""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from taskladder.analyses import paper
from taskladder.base.config import load_config
from taskladder.fit.methods import fit_options
from taskladder.imports.entry import KNOWN_TASKS
from taskladder.imports.tables import read_olmo_ladder
from taskladder.synthetic.ladders import write_example
from taskladder.synthetic.truth import SIZES, TARGET


def _run(name, n, tokens, losses, accs):
    return pd.DataFrame({"run": name, "n": n, "step": np.arange(1, len(losses) + 1), "tokens": tokens,
                         "task": "piqa", "task_loss": losses, "acc": accs, "task_ce": 1.0, "lm_loss": 3.0})


def test_variance_by_hand():
    losses = [9.0] * 5 + [1.0, 2.0, 3.0, 4.0]
    accs = [0.1] * 5 + [0.5, 0.5, 0.7, 0.7]
    table = paper.variance(_run("big", 10, 100, losses, accs), "big", ["piqa"], last=4)
    row = table.iloc[0]
    assert row.loss_sd == pytest.approx(np.sqrt(1.25))  # population SD of 1, 2, 3, 4
    assert row.loss_rel_sd == pytest.approx(np.sqrt(1.25) / 2.5)
    assert row.acc_sd == pytest.approx(0.1) and row.acc_rel_sd == pytest.approx(0.1 / 0.6)
    with pytest.raises(ValueError, match="has 9 checkpoints of task 'piqa', need 10"):
        paper.variance(_run("big", 10, 100, losses, accs), "big", ["piqa"], last=10)
    with pytest.raises(ValueError, match="run 'small' is not in the metrics"):
        paper.variance(_run("big", 10, 100, losses, accs), "small", ["piqa"])


def test_high_variance_tasks_are_flagged():
    quiet = _run("r", 1, 1, [1.0, 1.0, 1.01, 1.0], [0.5, 0.5, 0.5, 0.51])
    noisy = _run("r", 1, 1, [1.0, 1.3, 0.8, 1.2], [0.5, 0.6, 0.4, 0.55]).assign(task="arc_easy")
    table = paper.variance(pd.concat([quiet, noisy]), "r", ["piqa", "arc_easy"], last=4).set_index("task")
    assert table.loc["arc_easy", "loss_rel_sd_high"] and not table.loc["piqa", "loss_rel_sd_high"]


def test_subsets_grow_by_flops_n_and_xc():
    runs = pd.DataFrame({"run": ["a1", "a2", "b1", "b2"], "n": [1, 1, 2, 2], "d": [20, 40, 40, 80],
                         "flops": [120, 240, 480, 960], "xc": [1.0, 2.0, 1.0, 2.0]})
    assert paper.ladder_subsets(runs, "flops")[1] == ["a1", "a2"]
    assert paper.ladder_subsets(runs, "n") == [["a1", "a2"], ["a1", "a2", "b1", "b2"]]
    assert paper.ladder_subsets(runs, "xc")[0] == ["a1", "b1"]
    with pytest.raises(ValueError, match="unknown ladder order"):
        paper.ladder_subsets(runs, "time")


def test_compute_vs_error_on_the_synthetic_ladder(tmp_path):
    write_example(tmp_path, seed=4)
    metrics = pd.concat([read_olmo_ladder(tmp_path / f"{s}-{x}xC.csv", f"{s}-{x}xC", n, KNOWN_TASKS)
                         for s, n in SIZES.items() for x in (1, 2, 5, 10)])
    name, n, d = TARGET
    target = {"n": n, "d": d, "metrics": read_olmo_ladder(tmp_path / f"{name}.csv", name, n, KNOWN_TASKS)}
    config = load_config(ROOT / "configs" / "synthetic.yaml", {"fit.multistart": 0})
    assert paper.largest_run(metrics) == "1B-10xC"
    table = paper.compute_vs_error(metrics, name, target, "two_step", config["methods"]["two_step"],
                                      ["piqa"], fit_options(config), config["intervals"],
                                   {"min_snr": 5.0, "min_monotone": 0.8}, orders=("n", "xc"))
    # one size (four runs) cannot fit step 1's five parameters, so each order starts at two groups
    assert table[table.order == "n"]["runs"].tolist() == [8, 12, 16]
    assert table[table.order == "xc"]["runs"].tolist() == [8, 12, 16]
    by_n = table[table.order == "n"]
    assert (np.diff(by_n["ladder_flops"].to_numpy()) > 0).all()
    assert by_n["compute_fraction"].iloc[-1] == pytest.approx(by_n["ladder_flops"].iloc[-1] / (6.0 * n * d))
    assert by_n["rel_error"].iloc[-1] < 0.03  # all of the ladder recovers the synthetic truth


def test_sd10_of_the_paper_logs_from_the_raw_columns(paper_logs):
    """SD_10 over the last 10 checkpoints of 1B-10xC, as the paper's variance script computes it (population
    SD of the raw logged values), straight from the CSV's columns; MMLU is the weighted mean of its groups."""
    path = paper_logs / "1B-10xC.csv"
    raw = pd.read_csv(path).sort_values("_step").tail(10)
    table = paper.variance(read_olmo_ladder(path, "1B-10xC", 1279395840, KNOWN_TASKS), "1B-10xC",
                              ["hellaswag", "boolq", "mmlu"], last=10).set_index("task")
    groups = {"stem": 0.215, "humanities": 0.335, "social_sciences": 0.219, "other": 0.231}
    columns = {
        "hellaswag": (raw["eval/downstream_bpb/hellaswag_val_rc_5shot_bpb"],
                      raw["eval/downstream/hellaswag_val_rc_5shot_len_norm"]),
        "boolq": (raw["eval/downstream_bpb/boolq_val_rc_5shot_bpb"], raw["eval/downstream/boolq_val_rc_5shot_acc"]),
        "mmlu": tuple(sum(w * raw[f"eval/{kind}/mmlu_{g}_test_rc_5shot_{metric}"] for g, w in groups.items())
                      for kind, metric in (("downstream_bpb", "bpb"), ("downstream", "len_norm"))),
    }
    for task, (loss, acc) in columns.items():
        assert table.loc[task, "loss_sd"] == pytest.approx(np.std(loss.to_numpy()), rel=1e-9)
        assert table.loc[task, "acc_rel_sd"] == pytest.approx(np.std(acc.to_numpy()) / acc.mean(), rel=1e-9)
    assert table.loc["boolq", "acc_rel_sd_high"]  # the paper's example of a noisy task


def test_largest_run_and_summary_with_colliding_row_labels():
    """Frames concatenated with their own row labels share labels; runs are found by position."""
    small = _run("small", 10, [100, 200, 300], [3.0, 2.0, 1.0], [0.3, 0.4, 0.5])
    big = _run("big", 20, [400, 600, 800], [2.0, 1.5, 1.0], [0.4, 0.5, 0.6])
    metrics = pd.concat([big, small])  # labels 0, 1, 2 appear twice: both final rows have label 2
    assert metrics.index.duplicated().any()
    assert paper.largest_run(metrics) == "big"
    summary = paper.run_summary(metrics).set_index("run")
    assert summary.loc["big", "d"] == 800 and summary.loc["small", "d"] == 300
    assert summary.loc["big", "flops"] == 6 * 20 * 800
