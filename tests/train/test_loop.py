"""Training: LR schedule, checkpoint layout, bitwise resume (also after SIGKILL), DDP = 1 process."""

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
import yaml
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


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    cfg = make_config(tmp)
    prepare.prepare_corpus(cfg, tmp / "corpus")
    return cfg, tmp / "corpus", tmp


@pytest.fixture(scope="module")
def full_run(setup):
    """An uninterrupted run of the config's one rung."""
    cfg, corpus, tmp = setup
    return launch.train_from_config(cfg, ladder.build(cfg).rungs[0].name, corpus=corpus, run_dir=tmp / "a",
                                   progress=False)


def job_file(path, cfg, rung, corpus, run_dir):
    """What the workflow's training job hands each torchrun process (taskladder.train.main)."""
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


def test_keep_checkpoints_weights_then_final(setup, full_run):
    """`weights` keeps every checkpoint's weights but only the newest optimizer state, and trains the
    same weights; `final` then deletes the intermediate checkpoints, idempotently."""
    cfg, corpus, tmp = setup
    rung = ladder.build(cfg).rungs[0]
    run_dir = tmp / "kept"
    launch.train_from_config(cfg, rung.name, until=rung.checkpoints[0], corpus=corpus, run_dir=run_dir,
                            progress=False, keep_checkpoints="weights")
    with pytest.raises(ValueError, match="the run is not finished"):
        checkpoints.release_checkpoints(run_dir, "final")
    final = launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=run_dir, progress=False,
                                    keep_checkpoints="weights")
    assert weights(final) == weights(full_run)
    assert checkpoints.complete_checkpoints(run_dir) == list(rung.checkpoints)
    assert checkpoints.complete_checkpoints(run_dir, resumable=True) == [rung.steps]
    for step in rung.checkpoints:  # every checkpoint still loads
        assert (files.checkpoint_dir(run_dir, step) / "model.safetensors").exists()
    assert checkpoints.release_checkpoints(run_dir, "weights") == []
    assert checkpoints.release_checkpoints(run_dir, "final") == list(rung.checkpoints[:-1])
    assert checkpoints.complete_checkpoints(run_dir) == [rung.steps] and weights(final) == weights(full_run)
    assert checkpoints.release_checkpoints(run_dir, "final") == []


def test_rejects_a_step_that_is_not_a_checkpoint(setup):
    cfg, corpus, tmp = setup
    with pytest.raises(ValueError, match="not a checkpoint step"):
        launch.train_from_config(cfg, ladder.build(cfg).rungs[0].name, until=1, corpus=corpus, run_dir=tmp / "x")


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(setup):
    cfg, corpus, tmp = setup
    rung = ladder.build(cfg).rungs[0]
    os.environ["OMP_NUM_THREADS"] = "1"
    for nproc, out in ((1, "one"), (2, "two")):  # the workflow's training job, torchrun for nproc 2
        options = {**cfg["train"], "seed": cfg["seed"], "nproc": nproc, "progress": False}
        launch.train_job(rung.spec(), options, corpus, rung.steps, files.checkpoint_dir(tmp / out, rung.steps))

    def curve(out):
        lines = (files.checkpoint_dir(tmp / out, rung.steps) / "log.csv").read_text().splitlines()[1:]
        return np.array([float(x.split(",")[2]) for x in lines])

    one, two = curve("one"), curve("two")
    assert len(one) == len(two) == rung.steps
    np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)


def _descendants(pid):
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _is_training(process) -> bool:
    try:
        return any("train_rung" in part or "taskladder.train" in part for part in process.cmdline())
    except Exception:  # exited meanwhile
        return False


@pytest.mark.slow
@pytest.mark.parametrize("job", ["run", "checkpoint"])
def test_snakemake_sigkill_then_rerun(tmp_path, job):
    """SIGKILL the training job mid-run; rerunning snakemake keeps every finished checkpoint and
    ends with the weights of an uninterrupted run."""
    cfg = make_config(tmp_path, steps_xc=0.4, job=job)
    cfg["ladder"]["checkpoints_per_run"] = 6
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snake = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--cores", "1",
             "train_all", "--configfile", "config.yaml"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rung = ladder.build(cfg).rungs[0]
    run_dir = tmp_path / "results" / "t" / "checkpoints" / rung.name
    proc = subprocess.Popen(snake, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(checkpoints.complete_checkpoints(run_dir)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if job == "checkpoint":
        # kill the job of checkpoint 3, not the one of checkpoint 2 while it exits: Snakemake deletes the
        # output of a job killed after its checkpoint was renamed into place (a rerun retrains it identically)
        written = os.path.getmtime(files.checkpoint_dir(run_dir, checkpoints.complete_checkpoints(run_dir)[1]))
        while time.time() < deadline:
            jobs = [c for c in _descendants(proc.pid) if _is_training(c)]
            if jobs and all(c.create_time() > written for c in jobs):
                break
            time.sleep(0.05)
    for child in _descendants(proc.pid):  # the training job, not snakemake itself
        if _is_training(child):
            child.kill()
    proc.wait()
    kept = checkpoints.complete_checkpoints(run_dir)
    assert 2 <= len(kept) and kept[-1] < rung.steps, "the job was not killed mid-run"
    before = {s: weights(files.checkpoint_dir(run_dir, s)) for s in kept}
    subprocess.run(snake, cwd=tmp_path, env=env, check=True, capture_output=True)
    assert checkpoints.complete_checkpoints(run_dir) == list(rung.checkpoints)
    for s, w in before.items():
        assert weights(files.checkpoint_dir(run_dir, s)) == w
    corpus = tmp_path / "results" / "t" / "corpus"
    full = launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=tmp_path / "uninterrupted", progress=False)
    assert weights(files.checkpoint_dir(run_dir, rung.steps)) == weights(full)
