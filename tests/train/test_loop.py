"""The training loop: LR schedule, checkpoints that load with transformers, bitwise resume (also after SIGKILL),
the batch split over processes and micro-batches."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

from taskladder.base import files
from taskladder.base.config import validate
from taskladder.corpus import prepare
from taskladder.train import checkpoints, ladder, launch, loop

WORDS = "the a model ladder rung token train loss step scale law data small large predict task of to in and".split()


def make_config(tmp_path, steps_xc=0.1, **train_opts):
    src = tmp_path / "docs.jsonl"
    rng = np.random.default_rng(0)
    src.write_text("\n".join(json.dumps({"text": " ".join(rng.choice(WORDS, size=int(rng.integers(20, 80))))})
                             for _ in range(400)))
    return validate({
        "experiment": "t", "seed": 1,
        "corpus": {"sources": [{"kind": "jsonl", "path": str(src)}], "decontaminate_ngram": None,
                   "val_tokens": 256, "shard_tokens": 8192},
        "tokenizer": {"vocab_size": 300},
        "ladder": {"seq_len": 32, "xc": [steps_xc], "checkpoints_per_run": 3, "batch_multiple": 4,
                   "sizes": {"s": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_ratio": 8, "batch_seqs": 8}}},
        "train": {"threads": 1, "log_every": 5, **train_opts},
    })


@pytest.fixture(scope="module", name="setup")
def setup_fixture(tmp_path_factory):
    """(config, prepared corpus, folder) of a one-rung ladder; other train tests import it (by this name)."""
    tmp = tmp_path_factory.mktemp("train")
    cfg = make_config(tmp)
    prepare.prepare_corpus(cfg, tmp / "corpus")
    return cfg, tmp / "corpus", tmp


@pytest.fixture(scope="module", name="full_run")
def full_run_fixture(setup):
    """An uninterrupted run of the config's one rung."""
    cfg, corpus, tmp = setup
    return launch.train_from_config(cfg, ladder.build(cfg).rungs[0].name, corpus=corpus, run_dir=tmp / "a",
                                   progress=False)


def job_file(path, cfg, rung, corpus, run_dir):
    """What the workflow's training job hands each torchrun process (taskladder.train.launch)."""
    job = {"rung": rung.spec(), "options": {**cfg["train"], "seed": cfg["seed"], "progress": False},
           "corpus": str(corpus), "run_dir": str(run_dir)}
    path.write_text(json.dumps(job))
    return str(path)


def weights(path):
    return (Path(path) / "model.safetensors").read_bytes()


def test_lr_schedule():
    r = ladder.build(validate({"experiment": "t", "ladder": {
        "seq_len": 8, "vocab_size": 128, "xc": [1], "checkpoints_per_run": 1,
        "sizes": {"s": {"d_model": 8, "n_layers": 1, "n_heads": 1, "mlp_ratio": 8, "batch_seqs": 1, "lr": 1e-3,
                        "warmup": 10}}}})).rungs[0]
    assert loop.lr_at(1, r) == pytest.approx(1e-4) and loop.lr_at(10, r) == pytest.approx(1e-3)
    assert loop.lr_at(r.steps, r) == pytest.approx(1e-4)  # cosine ends at 10% of the peak
    lrs = [loop.lr_at(s, r) for s in range(10, r.steps + 1)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_checkpoints_load_with_transformers(setup, full_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg, corpus, tmp = setup
    rung = ladder.build(cfg).rungs[0]
    out = full_run
    assert out == tmp / "a" / f"step{rung.steps:07d}"
    assert checkpoints.complete_checkpoints(tmp / "a") == list(rung.checkpoints)
    info = json.loads((out / "taskladder.json").read_text())
    assert info == {**info, "run": rung.name, "n": rung.n, "step": rung.steps, "tokens": rung.tokens}
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert sum(p.numel() for p in model.parameters()) - model.lm_head.weight.numel() == rung.n
    losses = [float(line.split(",")[2]) for line in (out / "log.csv").read_text().splitlines()[1:]]
    assert len(losses) == rung.steps and losses[-1] < losses[0] - 0.5  # it learns
    ids = tok("the model", return_tensors="pt").input_ids
    assert torch.isfinite(model(ids).logits).all()
    # asking again for an existing checkpoint trains nothing
    t = os.path.getmtime(out / "model.safetensors")
    launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=tmp / "a", progress=False)
    assert os.path.getmtime(out / "model.safetensors") == t


def test_resume_is_bitwise_identical(setup, full_run):
    cfg, corpus, tmp = setup
    rung = ladder.build(cfg).rungs[0]
    a = full_run
    first = rung.checkpoints[0]
    launch.train_from_config(cfg, rung.name, until=first, corpus=corpus, run_dir=tmp / "seg", progress=False)
    assert checkpoints.complete_checkpoints(tmp / "seg") == [first]
    b = launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=tmp / "seg", progress=False)
    assert weights(a) == weights(b)
    assert (a / "log.csv").read_text() == (b / "log.csv").read_text()


def test_sigkill_mid_run_then_rerun_loses_nothing(setup):
    cfg, corpus, tmp = setup
    cfg = {**cfg, "ladder": {**cfg["ladder"], "xc": [0.4], "checkpoints_per_run": 6}}
    rung = ladder.build(cfg).rungs[0]
    cmd = [sys.executable, "-m", "taskladder.train.launch", job_file(tmp / "kill.json", cfg, rung, corpus, tmp / "killed")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not checkpoints.complete_checkpoints(tmp / "killed") and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = checkpoints.complete_checkpoints(tmp / "killed")
    assert kept and kept[-1] < rung.steps, "the run was not killed mid-run"
    before = {s: weights(files.checkpoint_dir(tmp / "killed", s)) for s in kept}
    launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=tmp / "killed", progress=False)  # the rerun
    assert checkpoints.complete_checkpoints(tmp / "killed") == list(rung.checkpoints)
    assert not list((tmp / "killed").glob(".step*"))  # no temporary left behind
    for s, w in before.items():  # finished checkpoints kept as they were
        assert weights(files.checkpoint_dir(tmp / "killed", s)) == w
    full = launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=tmp / "uninterrupted", progress=False)
    assert weights(files.checkpoint_dir(tmp / "killed", rung.steps)) == weights(full)


def test_rejects_a_step_that_is_not_a_checkpoint(setup):
    cfg, corpus, tmp = setup
    with pytest.raises(ValueError, match="not a checkpoint step"):
        launch.train_from_config(cfg, ladder.build(cfg).rungs[0].name, until=1, corpus=corpus, run_dir=tmp / "x")


def test_the_batch_splits_over_processes_and_micro_batches(tmp_path):
    rung = ladder.build(make_config(tmp_path)).rungs[0]  # batch of 8 sequences
    assert loop.split_batch(rung, 1, None) == (8, 8) and loop.split_batch(rung, 2, None) == (4, 4)
    assert loop.split_batch(rung, 2, 2) == (4, 2) and loop.split_batch(rung, 1, 16) == (8, 8)
    with pytest.raises(ValueError, match="batch of 8 sequences does not split over 3 processes"):
        loop.split_batch(rung, 3, None)
    with pytest.raises(ValueError, match="local batch 4 is not a multiple of train.micro_batch 3"):
        loop.split_batch(rung, 2, 3)


def test_micro_batches_make_the_same_step_as_one_batch(tmp_path):
    from contextlib import nullcontext

    from taskladder.train.model import build_model
    from taskladder.train.options import TrainOptions

    rung = ladder.build(make_config(tmp_path)).rungs[0]
    x = torch.randint(0, rung.vocab_size, (4, rung.seq_len), generator=torch.Generator().manual_seed(0))
    steps = []
    for batches in ([x], [x[:2], x[2:]], [x[:1], x[1:2], x[2:3], x[3:]]):
        model = build_model(rung, seed=0)
        optimizer = loop.make_optimizer(model, rung, TrainOptions())
        loss, grad_norm = loop.train_step(model, optimizer, iter(batches), len(batches), 1.0, nullcontext())
        steps.append((float(loss), grad_norm, torch.cat([p.detach().flatten() for p in model.parameters()])))
    for loss, grad_norm, params in steps[1:]:
        assert loss == pytest.approx(steps[0][0], rel=1e-6) and grad_norm == pytest.approx(steps[0][1], rel=1e-5)
        torch.testing.assert_close(params, steps[0][2], rtol=0, atol=1e-6)
    assert not torch.equal(steps[0][2], torch.cat([p.flatten() for p in build_model(rung, seed=0).parameters()]))
