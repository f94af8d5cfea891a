"""The Snakemake workflow, run as a user runs it."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT
from test_predict import FIGURE2, assert_matches_table7

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


def test_bad_config_fails_before_any_job(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["targets"]["7B-4T"].pop("d")
    config["olmo_ladder_dir"] = str(ROOT / "examples" / "synthetic-ladder")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "--configfile", str(path), check=False)
    assert proc.returncode != 0
    assert "targets.7B-4T: missing d" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


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
    changed = planned_jobs(tmp_path, *args, "fit={window: 7}")
    assert changed == {"fit_method": 1, "figures_method": 1, "tables": 1, "all": 1}


@pytest.mark.slow
def test_default_workflow(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    snakemake(tmp_path, "--configfile", str(ROOT / "config.yaml"))
    predictions = pd.read_csv(tmp_path / "results" / "synthetic" / "predictions.csv")
    assert len(predictions) == 8 and predictions["abs_error"].max() < 0.03
