"""The workflow's training job: the corpus's vocabulary checked against the rung, one process or several under
torchrun, and a job killed under Snakemake rerun to an uninterrupted run's weights."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT
from test_loop import make_config, setup_fixture, weights  # noqa: F401 (fixture setup)

from taskladder.base import files
from taskladder.train import checkpoints, ladder, launch


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
    # six rungs: the workflow refuses to start a ladder with fewer runs than step 1 has parameters (5)
    cfg["ladder"]["xc"] = [0.4, 0.5, 0.6]
    cfg["ladder"]["sizes"]["s2"] = {**cfg["ladder"]["sizes"]["s"], "n_layers": 2}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    rung = ladder.build(cfg).rungs[0]
    run_dir = tmp_path / "results" / "t" / "checkpoints" / rung.name
    last = files.checkpoint_dir(run_dir, rung.steps).relative_to(tmp_path)  # that rung only: the others are not needed
    snake = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--cores", "1",
             str(last), "--configfile", "config.yaml"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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


def test_a_corpus_with_more_tokens_than_the_model_has_rows_is_refused(tmp_path):
    rung = ladder.build(make_config(tmp_path)).rungs[0]
    (tmp_path / "manifest.json").write_text(json.dumps({"vocab_size": rung.vocab_size}))
    launch.check_vocabulary(rung, tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"vocab_size": rung.vocab_size + 1}))
    with pytest.raises(ValueError, match=f"more than the model's {rung.vocab_size} embedding rows; set "
                                         f"ladder.vocab_size >= {rung.vocab_size + 1}"):
        launch.check_vocabulary(rung, tmp_path)
