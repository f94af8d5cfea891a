"""Where every file of an experiment goes."""

from pathlib import Path

import pytest

from taskladder.workflow.layout import Layout


def test_corpus_tasks_checkpoints_evaluations_metrics():
    layout = Layout(Path("results/x"))
    assert layout.corpus == {"index": "results/x/corpus/decontamination.npz", "tokenizer": "results/x/corpus/tokenizer",
                             "manifest": "results/x/corpus/manifest.json", "val": "results/x/corpus/val.npy",
                             "heldout": "results/x/corpus/heldout.jsonl"}
    assert layout.task_file("piqa") == "results/x/tasks/piqa.jsonl"
    assert layout.checkpoint("190M-1xC", 908) == "results/x/checkpoints/190M-1xC/step0000908"
    assert layout.checkpoint("{run}", "{step}") == "results/x/checkpoints/{run}/step{step}"  # the rules' wildcards
    assert layout.released("r") == "results/x/checkpoints/r/released.txt"
    assert layout.evals("r", "step0000010-0000020") == "results/x/evals/r/step0000010-0000020.csv"
    assert layout.metrics("r") == "results/x/metrics/r.csv"
    assert layout.table_metrics("sweep") == "results/x/metrics/sweep.csv"
    assert layout.table_metrics("sweep", "web") == "results/x/metrics/sweep/web.csv"
    assert layout.log("train/r") == "results/x/logs/train/r.log"


def test_methods_figures_and_summaries_without_groups():
    layout = Layout(Path("results/x"), figure_format="pdf")
    tables = layout.method_tables("two_step", ensemble=False)
    assert tables["fits"] == "results/x/methods/two_step/fits.csv" and "weights" not in tables
    assert {"predictions", "points", "backtest", "draws", "calibration"} <= set(tables)
    ensemble = layout.method_tables("ensemble", ensemble=True)
    assert ensemble["weights"] == "results/x/methods/ensemble/weights.csv" and "fits" not in ensemble
    assert layout.figures("two_step", ensemble=False) == {f: f"results/x/figures/two_step/{f}.pdf"
                                                          for f in ("step1", "step2", "chained")}
    assert layout.figures("ensemble", ensemble=True) == {"members": "results/x/figures/ensemble/members.pdf"}
    assert layout.table("fits") == "results/x/fits.csv" and layout.report_page == "results/x/report.rst"
    assert layout.analysis("variance") == "results/x/analyses/variance.csv"
    assert layout.analysis_figure("backtest") == "results/x/analyses/backtest.pdf"
    assert layout.in_group("fit/two_step") == "fit/two_step"


def test_with_groups_every_method_has_a_folder_per_group():
    layout = Layout(Path("results/x"), groups=("web", "curated"))
    assert layout.method_tables("two_step", False, "web")["fits"] == "results/x/methods/two_step/web/fits.csv"
    assert layout.figure("two_step", "step1", "{group}") == "results/x/figures/two_step/{group}/step1.png"
    assert layout.in_group("fit/two_step") == "fit/two_step/{group}"
    with pytest.raises(ValueError, match=r"the experiment has groups \['web', 'curated'\]; name one"):
        layout.method_tables("two_step", False)
