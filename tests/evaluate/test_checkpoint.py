"""Evaluating checkpoints: tables, aggregates, errors, the metrics table of a run, the Snakemake rules."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from taskladder.base.metrics_table import METRIC_COLUMNS, collect_metrics, read_metrics
from taskladder.evaluate.checkpoint import (
    EVAL_COLUMNS,
    CheckpointError,
    evaluate_checkpoint,
    load_checkpoint,
    task_requests,
    write_random_checkpoint,
)
from taskladder.evaluate.scoring import ScoringError
from taskladder.tasks.documents import Doc, Task, save_task
from taskladder.tasks.olmes import MMLU_GROUPS


def fake_task(name, n=4, shots="Question: two plus two?\nAnswer: four\n\n", metric="len_norm"):
    docs = [Doc(i, (f"{shots}Question: item {i}?\nAnswer:",) * 3, (" yes", " no", " maybe not"), i % 3)
            for i in range(n)]
    return Task(name, f"test:{name}", metric, 1, n, docs)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    ckpts = [write_random_checkpoint(root / "checkpoints" / "r" / f"step{s:07d}", run="r", step=s, seed=s,
                                     tokens=1000 * s, seq_len=128) for s in (0, 10)]
    names = [f"mmlu_{g}" for g in MMLU_GROUPS] + ["piqa", "piqa_mc"]
    paths = []
    for name in names:
        paths.append(root / "tasks" / f"{name}.jsonl")
        save_task(fake_task(name, metric="acc" if name.endswith("_mc") else "len_norm"), paths[-1])
    val = root / "val.npy"
    np.save(val, np.random.default_rng(0).integers(0, 50000, 600).astype(np.uint16))
    return root, ckpts, paths, val


def test_evaluate_checkpoint_table(experiment):
    root, ckpts, paths, val = experiment
    frame = evaluate_checkpoint(ckpts[1], paths, val_path=val, batch_tokens=256)
    assert list(frame.columns) == EVAL_COLUMNS
    assert set(frame["task"]) == {"mmlu", "piqa", "piqa_mc", *(f"mmlu_{g}" for g in MMLU_GROUPS)}
    assert (frame["run"] == "r").all() and (frame["step"] == 10).all() and (frame["tokens"] == 10000).all()
    assert frame[["task_loss", "acc", "task_ce", "lm_loss", "lm_bpb"]].notna().all().all()
    rows = frame.set_index("task")
    mmlu = sum(w * rows.loc[f"mmlu_{g}", "task_loss"] for g, w in MMLU_GROUPS.items())
    assert rows.loc["mmlu", "task_loss"] == pytest.approx(mmlu / sum(MMLU_GROUPS.values()))
    assert rows.loc["mmlu", "docs"] == 16
    assert 9 < rows.loc["piqa", "lm_loss"] < 12  # ~ ln(50k) for a random model


def test_collect_metrics_long_format(experiment, tmp_path):
    root, ckpts, paths, val = experiment
    evals = []
    for ckpt in ckpts:
        evals.append(tmp_path / f"{ckpt.name}.csv")
        evaluate_checkpoint(ckpt, paths[-2:], val_path=None).to_csv(evals[-1], index=False)
    frame = collect_metrics(evals[::-1], tmp_path / "metrics" / "r.csv")
    assert list(frame.columns[:len(METRIC_COLUMNS)]) == METRIC_COLUMNS and "acc_mc" in frame.columns
    assert list(frame["step"]) == [0, 0, 10, 10]
    piqa = frame[frame["task"] == "piqa"]
    mc = frame[frame["task"] == "piqa_mc"]
    assert list(piqa["acc_mc"]) == list(mc["acc"])
    assert len(read_metrics(tmp_path / "metrics" / "r.csv")) == 4  # lm_loss may be empty


def test_request_longer_than_context(experiment):
    root, ckpts, paths, val = experiment
    model, tokenizer, _ = load_checkpoint(ckpts[0], "cpu")
    long = fake_task("hellaswag", n=3, shots="A long example sentence.\n\n" * 40)
    with pytest.raises(ScoringError, match=r"hellaswag doc 0 choice 0: \d+ context \+ \d+ continuation tokens .* 128"):
        task_requests(long, tokenizer, 128, "error")
    requests, groups, truncated = task_requests(long, tokenizer, 128, "truncate")
    assert truncated == 3 and all(len(r.context) + len(r.continuation) - 1 == 128 for r in requests)


def test_checkpoint_that_fails_to_load(experiment, tmp_path):
    root, ckpts, paths, val = experiment
    with pytest.raises(CheckpointError, match="cannot read taskladder.json"):
        load_checkpoint(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(ckpts[0], broken)
    (broken / "model.safetensors").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match=r"broken: cannot load the model"):
        load_checkpoint(broken, "cpu")
    (broken / "taskladder.json").write_text(json.dumps({"run": "r"}))
    with pytest.raises(CheckpointError, match=r"missing key\(s\) \['n', 'step', 'tokens'\]"):
        load_checkpoint(broken, "cpu")


def evaluation_workflow(workdir: Path, group_size: int = 2) -> Path:
    """rules/evaluate.smk alone on two runs of three random checkpoints; returns the results folder."""
    results = workdir / "results" / "t"
    for run in ("a", "b"):
        for step in (0, 10, 20):
            write_random_checkpoint(results / "checkpoints" / run / f"step{step:07d}", run=run, step=step, seed=step,
                                    tokens=1000 * step, seq_len=256)
    (results / "corpus").mkdir(parents=True)
    np.save(results / "corpus" / "val.npy", np.random.default_rng(0).integers(0, 50000, 2000).astype(np.uint16))
    (workdir / "config.yaml").write_text(
        "experiment: t\nevaluation: {tasks: [mmlu, arc_easy, arc_easy_mc], limit: 8, num_shots: 1,\n"
        f"  overflow: truncate, group_size: {group_size}, lm_loss_tokens: 1024}}\n")
    (workdir / "Snakefile").write_text(f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from taskladder.base.config import validate
from taskladder.tasks.registry import plan
from taskladder.workflow.corpus import CorpusPlan
from taskladder.workflow.evaluation import EvalPlan
from taskladder.workflow.experiment import Experiment
from taskladder.workflow.fitting import FitPlan
from taskladder.workflow.imports import ImportPlan
from taskladder.workflow.layout import Layout
from taskladder.workflow.runs import Runs
from taskladder.workflow.training import TrainPlan
configfile: "config.yaml"
config = validate(config)
layout = Layout(Path("results/t"))
runs = Runs(imported={{}}, tables={{}}, external={{}}, trained=["a", "b"], targets={{}}, groups=[])
train = TrainPlan(config, layout, None, {{}}, {{"a": [0, 10, 20], "b": [0, 10, 20]}})
imports = ImportPlan(config, layout, runs)
EXP = Experiment(config=config, layout=layout, runs=runs, imports=imports, corpus=CorpusPlan(config, layout),
                 train=train, evaluation=EvalPlan(config, layout, train, plan(config["evaluation"])),
                 fits=FitPlan(config, layout, runs, imports, [], None, None))
include: {str(ROOT / "rules" / "evaluate.smk")!r}
rule all:
    input: EXP.imports.metrics_of(["a", "b"])
""")
    return results


SNAKEMAKE = [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "-q"]


@pytest.fixture(scope="module")
def clean_evaluation(tmp_path_factory) -> Path:
    """rules/evaluate.smk run once, uninterrupted, in jobs of 3 checkpoints; returns its results folder."""
    workdir = tmp_path_factory.mktemp("clean")
    results = evaluation_workflow(workdir, group_size=3)
    subprocess.run(SNAKEMAKE, cwd=workdir, check=True)
    return results


@pytest.mark.slow
def test_evaluate_rules_end_to_end(clean_evaluation):
    """rules/evaluate.smk on two runs of random checkpoints: tasks -> per-checkpoint tables -> metrics/{run}.csv."""
    for run in ("a", "b"):
        frame = read_metrics(clean_evaluation / "metrics" / f"{run}.csv")
        assert sorted(frame["step"].unique()) == [0, 10, 20]
        assert set(frame["task"]) >= {"mmlu", "arc_easy", "arc_easy_mc"}
        assert frame["acc_mc"].notna().sum() == 3
    chunk = pd.read_csv(clean_evaluation / "evals" / "a" / "step0000000-0000020.csv")  # group_size 3: steps 0-20
    assert len(chunk) == 21 and (chunk["step"] == 10).sum() == 7


@pytest.mark.slow
def test_sigkill_evaluation_job_then_rerun(tmp_path, clean_evaluation):
    """SIGKILL an evaluation job after it evaluated one of its three checkpoints: the rerun redoes the
    job, and every table equals an uninterrupted run's."""
    import psutil

    killed, clean = evaluation_workflow(tmp_path / "killed", group_size=3), clean_evaluation
    proc = subprocess.Popen(SNAKEMAKE, cwd=tmp_path / "killed", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "logs" / "evaluate" / "a" / "step0000000-0000020.log"
    deadline = time.time() + 300
    while not (log.exists() and "evaluated" in log.read_text()) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    jobs = [c for c in psutil.Process(proc.pid).children(recursive=True)
            if any("evaluate_checkpoint" in part for part in c.cmdline())]
    assert "evaluated" in log.read_text() and jobs, "no evaluation job was caught mid-run"
    for job in jobs:
        job.kill()
    proc.wait()
    assert proc.returncode != 0 and not (killed / "metrics" / "a.csv").exists()
    subprocess.run([*SNAKEMAKE, "--rerun-incomplete"], cwd=tmp_path / "killed", check=True)
    for table in sorted((clean / "evals").rglob("*.csv")) + sorted((clean / "metrics").glob("*.csv")):
        ours = pd.read_csv(killed / table.relative_to(clean)).drop(columns="seconds")
        pd.testing.assert_frame_equal(ours, pd.read_csv(table).drop(columns="seconds"))
