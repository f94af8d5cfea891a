"""The Snakemake workflow, run as a user runs it."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT
from test_predict import FIGURE2, assert_matches_table7

TASKS = ["mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa", "csqa", "socialiqa", "openbookqa"]
# paper Table 6: chained relative errors (%) for 7B-4T
TABLE6 = {
    "two_step": [1.3, 1.4, 16.9, 9.4, 1.0, 4.2, 2.0, 10.6],
    "taskce": [18.3, 7.2, 21.3, 5.4, 3.1, 2.6, 0.7, 7.1],
    "lm_loss": [2.2, 4.5, 1.4, 1.2, 0.7, 5.8, 6.2, 2.0],
    "single_step": [5.6, 0.5, 21.7, 6.1, 0.7, 5.1, 5.4, 9.0],
}
# The single-step objective has several local minima. For HellaSwag the paper's run reached a lower
# one than L-BFGS-B does from the same start here (a floating-point path difference); the fit is
# flagged (starts_agree = False) and test_predict checks that the lowest minimum gives the paper's cell.
TABLE6_PATH_DEPENDENT = {("single_step", "hellaswag")}
TABLE5_FLOPS = [4.3, 2.1, 2.4, 5.3, 2.0, 12.5, 5.7, 0.5]

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", *args],
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (empty when there is nothing to do)."""
    out = snakemake(workdir, "--dry-run", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.slow
def test_paper_import_workflow(tmp_path, paper_logs):
    args = ["--configfile", str(ROOT / "configs" / "olmo-paper-import.yaml"), "--config", f"olmo_ladder_dir={paper_logs}"]
    snakemake(tmp_path, *args)
    results = tmp_path / "results" / "olmo-paper"
    predictions = pd.read_csv(results / "predictions.csv")
    two_step = predictions[(predictions.method == "two_step") & (predictions.target == "7B-4T")].set_index("task")
    for task, published in FIGURE2.items():
        assert abs(100 * two_step.loc[task, "pred_acc"] - published) <= 0.2, task
    assert_matches_table7(pd.read_csv(results / "fits.csv"))
    for fig in ("step1", "step2", "chained"):
        assert (results / "figures" / "two_step" / f"{fig}.png").stat().st_size > 10_000

    assert planned_jobs(tmp_path, *args) == {}  # a second identical run does nothing
    fit_jobs = len(yaml.safe_load((ROOT / "configs" / "olmo-paper-import.yaml").read_text())["methods"])
    changed = planned_jobs(tmp_path, *args, "fit={window: 7}")  # every method, not the import
    assert changed == {"fit_method": fit_jobs, "figures_method": fit_jobs, "tables": 1, "compute_vs_error": 1,
                       "all": 1}
    # one method's option reruns that method only (and the tables that gather every method)
    assert planned_jobs(tmp_path, *args, "methods={taskce: {fit: {window: 2}}}") == {
        "fit_method": 1, "figures_method": 1, "tables": 1, "all": 1}
    assert planned_jobs(tmp_path, "method_taskce", *args) == {}

    # paper Table 6 (chained relative errors, 7B-4T) and Table 5 (step-1 errors of the FLOPs input)
    rel = predictions[predictions.target == "7B-4T"].assign(rel=lambda f: 100 * f.rel_error)
    table = rel.pivot(index="method", columns="task", values="rel")
    fits = pd.read_csv(results / "fits.csv").set_index(["method", "task", "step"])
    for method, cells in TABLE6.items():
        for task, published in zip(TASKS, cells):
            if (method, task) in TABLE6_PATH_DEPENDENT:
                assert not fits.loc[(method, task, "step1"), "starts_agree"], (method, task)
                continue
            assert abs(table.loc[method, task] - published) <= 0.5, (method, task, table.loc[method, task])
    flops = rel[rel.method == "flops"].set_index("task")
    step1 = 100 * (flops.pred_loss - flops.actual_loss).abs() / flops.actual_loss
    for task, published in zip(TASKS, TABLE5_FLOPS):
        assert abs(step1[task] - published) <= 0.5, task
    mc = rel[(rel.method == "mc_format") & (rel.task == "mmlu")].iloc[0]
    assert abs(100 * mc.abs_error - 0.3) <= 0.5  # appendix B.2: MC-format MMLU, 0.3 points
    assert set(rel[rel.method == "flp"].task) == set(TASKS)

    variance = pd.read_csv(results / "analyses" / "variance.csv")
    assert variance["run"].unique().tolist() == ["1B-10xC"] and len(variance) == 10
    cve = pd.read_csv(results / "analyses" / "compute_vs_error.csv")
    full = cve[(cve.order == "flops") & (cve.runs == 16)].set_index("task")
    np.testing.assert_allclose(full["rel_error"], two_step["rel_error"].loc[full.index], rtol=1e-6)


@pytest.mark.slow
def test_synthetic_workflow(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = ROOT / "configs" / "synthetic.yaml"
    snakemake(tmp_path, "--configfile", str(config))
    results = tmp_path / "results" / "synthetic"
    predictions = pd.read_csv(results / "predictions.csv")
    two_step = predictions[predictions.method == "two_step"]
    assert len(two_step) == 8 and two_step["abs_error"].max() < 0.03
    assert set(predictions.method) == set(yaml.safe_load(config.read_text())["methods"])
    assert (results / "analyses" / "variance.csv").exists() and (results / "analyses" / "compute_vs_error.csv").exists()


@pytest.mark.slow
def test_smoke_workflow_trains_evaluates_and_fits(tmp_path):
    """The whole product on a toy ladder: corpus, training, evaluation of every checkpoint, fits."""
    config = ROOT / "configs" / "smoke.yaml"
    args = ["--configfile", str(config), "--config", "train={keep_checkpoints: final}"]
    snakemake(tmp_path, *args)
    results = tmp_path / "results" / "smoke"
    spec = yaml.safe_load(config.read_text())
    from taskladder.config import load_config
    from taskladder.ladder import build

    ladder = build(load_config(config))
    for run in ladder.runs:  # every checkpoint of every rung and target was evaluated
        metrics = pd.read_csv(results / "metrics" / f"{run.name}.csv")
        assert sorted(metrics["step"].unique()) == list(run.checkpoints), run.name
        assert set(metrics["task"]) >= set(spec["fit"]["tasks"])
        assert metrics[["task_loss", "acc", "task_ce", "lm_loss"]].notna().all().all()
    predictions = pd.read_csv(results / "predictions.csv")
    assert set(predictions.target) == {t.name for t in ladder.targets}
    assert predictions["actual_acc"].notna().all() and predictions["pred_acc"].between(0, 1).all()
    # the engine's numbers on a trained checkpoint equal olmo_eval's ICLMetric (issue: parity on trained weights)
    from taskladder.evaluate import load_checkpoint
    from test_metrics import check_parity

    final = tmp_path / "results" / "smoke" / "checkpoints" / "s3-0.2xC" / f"step{ladder['s3-0.2xC'].steps:07d}"
    trained = load_checkpoint(final, "cpu") + (final,)
    for task in ("arc_easy", "piqa"):
        check_parity(task, trained, limit=8, ctx_len=256)

    for run in ladder.runs:  # keep_checkpoints: final kept the last checkpoint of each run, after evaluation
        kept = sorted(p.name for p in (results / "checkpoints" / run.name).iterdir())
        assert kept == ["released.txt", f"step{run.steps:07d}"], run.name

    assert planned_jobs(tmp_path, *args) == {}
    # a fitting option reruns fits only: no training, no evaluation
    changed = planned_jobs(tmp_path, *args, "fit={window: 3}")
    assert "fit_method" in changed
    assert set(changed) <= {"fit_method", "figures_method", "tables", "compute_vs_error", "all"}
