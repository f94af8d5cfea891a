"""A training job: the rung and options the plan gives it, run in this process or under torchrun."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch.distributed as dist

from taskladder.base.files import results_dir
from taskladder.corpus.inputs import read_manifest
from taskladder.train.ladder import Rung
from taskladder.train.loop import train_run
from taskladder.train.options import TrainOptions


def check_vocabulary(rung: Rung, corpus: str | Path) -> None:
    vocab = read_manifest(corpus)["vocab_size"]
    if vocab > rung.vocab_size:
        raise ValueError(f"{corpus}/manifest.json: tokenizer has {vocab} tokens, more than the model's "
                         f"{rung.vocab_size} embedding rows; set ladder.vocab_size >= {vocab}")


def train_from_config(config: dict, run: str, until: int | None = None, corpus: str | Path | None = None,
                      run_dir: str | Path | None = None, **overrides) -> Path:
    """Train run `run` of a validated config in this process (by hand, in tests)."""
    from taskladder.train.ladder import build

    results = results_dir(config["experiment"])
    corpus = Path(corpus) if corpus is not None else results / "corpus"
    rung = build(config)[run]
    check_vocabulary(rung, corpus)
    run_dir = Path(run_dir) if run_dir is not None else results / "checkpoints" / run
    return train_run(rung, corpus, run_dir, TrainOptions.from_config(config, **overrides), until=until)


def train_job(rung: dict, options: dict, corpus: str | Path, until: int, checkpoint: str | Path,
              log_path: str | Path | None = None) -> Path:
    """The workflow's training job: train `rung` (a `Rung.spec()`) with `options` (the `train` config
    keys and `seed`) up to checkpoint `until`, whose directory is `checkpoint`. With options `nproc` > 1
    it runs under torchrun (DDP, or FSDP with `fsdp`), logging to `log_path`."""
    spec = Rung.from_spec(rung)
    check_vocabulary(spec, corpus)
    run_dir = Path(checkpoint).parent
    nproc = options.get("nproc", 1)
    if nproc == 1:
        return train_run(spec, corpus, run_dir, TrainOptions.from_dict(options), until=until)
    job = {"rung": rung, "options": options, "corpus": str(corpus), "run_dir": str(run_dir), "until": until}
    launch(job, nproc, log_path)
    return Path(checkpoint)


def launch(job: dict, nproc: int, log_path: str | Path | None = None) -> None:
    """Run `python -m taskladder.train.launch JOB.json` in `nproc` processes under torchrun (one node)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(job))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "taskladder.train.launch", str(path)]
        with open(log_path or os.devnull, "a") as log:
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if code:
        raise ValueError(f"{job['rung']['name']}: torchrun with {nproc} processes exited with status {code}"
                         + (f"; see {log_path}" if log_path else ""))


def main(argv=None) -> int:
    """`python -m taskladder.train.launch JOB.json` (what torchrun starts; JOB: rung, options, corpus, run_dir, until)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m taskladder.train.launch")
    p.add_argument("job", help="JSON: {rung: Rung.spec(), options: train keys and seed, corpus, run_dir, until}")
    job = json.loads(Path(p.parse_args(argv).job).read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    train_run(Rung.from_spec(job["rung"]), job["corpus"], job["run_dir"], TrainOptions.from_dict(job["options"]),
              until=job.get("until"))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
