"""The plan of training: each run's job holds its own spec and the options that change its weights; the order of
jobs; what a checkpoint's readers depend on in either train.job mode."""

import copy
from types import SimpleNamespace

from test_experiment import planned

from taskladder.base.config import RUNTIME_KEYS


def test_a_training_job_changes_only_with_what_changes_its_weights(monkeypatch):
    smoke = planned("smoke", monkeypatch)
    w = SimpleNamespace(run="s2-0.1xC", step="0000043")
    job = smoke.train.job(w)
    assert job["rung"] == smoke.train.ladder["s2-0.1xC"].spec() and job["options"]["seed"] == 0
    assert not set(job["options"]) & set(RUNTIME_KEYS["train"])
    train = copy.deepcopy(smoke.config["train"])
    runtime = planned("smoke", train={**train, "nproc": 4, "threads": 2, "log_every": 1, "keep_checkpoints": "final"})
    assert runtime.train.job(w) == job
    assert planned("smoke", train={**train, "weight_decay": 0.0}).train.job(w) != job
    assert planned("smoke", seed=1).train.job(w) != job


def test_the_biggest_runs_train_first(monkeypatch):
    train = planned("smoke", monkeypatch).train
    priorities = {run: train.priority(SimpleNamespace(run=run)) for run in train.runs}
    assert min(priorities.values()) == 1  # every training job before any evaluation (priority 0)
    assert max(priorities, key=priorities.get) == max(train.runs, key=lambda r: train.ladder[r].flops)
    assert train.threads == 1 and train.runs[-1] == "t1-0.1xC"  # the rungs, then the targets


def test_a_job_per_run_or_per_checkpoint(monkeypatch):
    per_run = planned("smoke", monkeypatch).train
    steps = per_run.checkpoints["s1-0.1xC"]
    w = SimpleNamespace(run="s1-0.1xC", step=f"{steps[2]:07d}")
    assert per_run.previous_checkpoint(w) == []
    assert per_run.checkpoint_input("s1-0.1xC", steps[0]) == per_run.layout.checkpoint("s1-0.1xC", steps[-1])
    train = {**per_run.config["train"], "job": "checkpoint"}
    per_checkpoint = planned("smoke", train=train).train
    assert per_checkpoint.previous_checkpoint(w) == [per_run.layout.checkpoint("s1-0.1xC", steps[1])]
    assert per_checkpoint.previous_checkpoint(SimpleNamespace(run="s1-0.1xC", step=f"{steps[0]:07d}")) == []
    assert per_checkpoint.checkpoint_input("s1-0.1xC", steps[0]) == per_run.layout.checkpoint("s1-0.1xC", steps[0])
    assert per_run.final_checkpoints[0] == per_run.layout.checkpoint("s1-0.1xC", steps[-1])


def test_released_flags_only_with_keep_checkpoints_final(monkeypatch):
    smoke = planned("smoke", monkeypatch)
    assert smoke.train.released == []
    final = planned("smoke", train={**smoke.config["train"], "keep_checkpoints": "final"}).train
    assert final.released == [smoke.layout.released(r) for r in smoke.train.runs]
