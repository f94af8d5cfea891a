"""Train one run (rung or target) of the ladder, resumably, writing `save_pretrained` checkpoints.

    results/{experiment}/checkpoints/{run}/step{step:07d}/
        config.json, model.safetensors, tokenizer files   (AutoModelForCausalLM / AutoTokenizer load it)
        taskladder.json    {"run", "n", "step", "tokens", ...}
        train_state.pt     optimizer, RNG and data position (= step) for resuming
        log.csv            step, tokens, loss, lr, grad_norm of every step so far

``train.keep_checkpoints`` bounds the disk a run takes: ``all`` keeps everything; ``weights``
deletes a checkpoint's train_state.pt (the optimizer's two moments: twice the weights) once a
later checkpoint of the run is complete, since only the newest is needed to resume; ``final``
also deletes the intermediate checkpoints once the run's metrics are written
(`release_checkpoints`, called by the workflow), keeping the final one.

A checkpoint directory is written under a temporary name and renamed when complete, so a
killed job never leaves a checkpoint that looks finished. `train_run(..., until=k)` resumes
from the newest complete checkpoint at or before step k and trains to step k, saving every
scheduled checkpoint on the way. The data order is a function of (seed, step), there is no
dropout, and the optimizer state is saved exactly, so a resumed run ends with the same
weights as an uninterrupted one (bitwise on CPU with the same thread count).

Snakemake side (rules/train.smk, `train_job`): with ``train.job: run`` one job per run trains to its
last step (a rerun after a kill continues from the newest checkpoint); with ``train.job: checkpoint``
job k trains checkpoint k from checkpoint k-1, so the evaluation of checkpoint k can start
while the run trains on. Either way a finished checkpoint is never deleted. With ``train.nproc`` > 1
the job starts its processes with torchrun (`launch`), each running ``python -m taskladder.train JOB.json``.

Optimizer: AdamW as in OLMo 2 (betas 0.9/0.95, eps 1e-8, weight decay 0.1 except on the
embedding), linear warmup, cosine decay to `final_lr_ratio` of the peak at the run's last
step, gradient clipping at 1.0. Several processes (torchrun) train with DDP (gloo on CPU,
NCCL on GPU); ``train.fsdp`` shards with FSDP2 instead.
"""

from __future__ import annotations

import csv
import ctypes
import dataclasses
import json
import logging
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from taskladder.data import TokenInstances, read_manifest
from taskladder.io import checkpoint_dir, results_dir, share_as_umask
from taskladder.ladder import Rung
from taskladder.model import build_model

log = logging.getLogger(__name__)
STEP_DIR = re.compile(r"^step(\d{7})$")


@dataclass
class TrainOptions:
    seed: int = 0
    threads: int | None = 1
    device: str = "auto"
    precision: str = "fp32"
    fsdp: bool = False
    micro_batch: int | None = None
    attn_implementation: str = "auto"
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    final_lr_ratio: float = 0.1
    init_std: float = 0.02
    log_every: int = 10
    progress: bool = True
    keep_checkpoints: str = "all"

    @classmethod
    def from_dict(cls, options: dict) -> "TrainOptions":
        """From the `train` config keys (and `seed`); keys that are not options (job, nproc) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        options = {k: v for k, v in options.items() if k in names}
        if "betas" in options:
            options["betas"] = tuple(options["betas"])
        return cls(**options)

    @classmethod
    def from_config(cls, config: dict, **overrides) -> "TrainOptions":
        return cls.from_dict({**(config.get("train") or {}), "seed": config.get("seed", 0), **overrides})


def lr_at(step: int, rung: Rung, final_ratio: float = 0.1) -> float:
    """LR of optimizer step `step` (1-based): linear warmup, then cosine to final_ratio * peak."""
    peak, warmup, total = rung.lr, rung.warmup, rung.steps
    if step <= warmup:
        return peak * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    final = final_ratio * peak
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * progress))


KEEP_CHECKPOINTS = ("all", "weights", "final")


def complete_checkpoints(run_dir: str | Path, resumable: bool = False) -> list[int]:
    """Steps of the complete checkpoint directories of a run, ascending (with `resumable`, only those
    that still hold their train_state.pt). A directory appears under its step name only complete."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    steps = []
    for p in run_dir.iterdir():
        m = STEP_DIR.match(p.name)
        if m and (p / "taskladder.json").exists() and (not resumable or (p / "train_state.pt").exists()):
            steps.append(int(m.group(1)))
    return sorted(steps)


def drop_old_train_states(run_dir: Path) -> None:
    """keep_checkpoints `weights`: the optimizer state of every checkpoint but the newest."""
    for step in complete_checkpoints(run_dir, resumable=True)[:-1]:
        (checkpoint_dir(run_dir, step) / "train_state.pt").unlink(missing_ok=True)


def release_checkpoints(run_dir: str | Path, policy: str) -> list[int]:
    """After a run's checkpoints are evaluated: apply keep_checkpoints `policy` to them (idempotent).
    Returns the steps whose directories were deleted (policy `final`: all but the run's last step)."""
    if policy not in KEEP_CHECKPOINTS:
        raise ValueError(f"train.keep_checkpoints: expected one of {KEEP_CHECKPOINTS}, found {policy!r}")
    run_dir = Path(run_dir)
    steps = complete_checkpoints(run_dir)
    if policy == "all" or not steps:
        return []
    info = json.loads((checkpoint_dir(run_dir, steps[-1]) / "taskladder.json").read_text())
    if steps[-1] != info["steps"]:
        raise ValueError(f"{run_dir}: the run is not finished (last checkpoint step {steps[-1]} of {info['steps']}); "
                         "checkpoints are released only after training")
    drop_old_train_states(run_dir)
    if policy == "weights":
        return []
    for step in steps[:-1]:
        shutil.rmtree(checkpoint_dir(run_dir, step))
    return steps[:-1]


# ---- distributed --------------------------------------------------------------------------

def _dist_setup(device: str) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return rank, world, dev


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


# ---- checkpoints --------------------------------------------------------------------------

def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _state_dicts(model, optimizer, options: TrainOptions) -> tuple[dict, dict]:
    """Full (unsharded) model and optimizer state dicts, on CPU; collective under FSDP."""
    if options.fsdp:
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_optimizer_state_dict)

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(model, options=opts), get_optimizer_state_dict(model, optimizer, options=opts)
    raw = model.module if hasattr(model, "module") else model
    return raw.state_dict(), optimizer.state_dict()


def save_checkpoint(run_dir: Path, rung: Rung, step: int, model, optimizer, tokenizer, rows: list[dict],
                    options: TrainOptions, rank: int) -> Path | None:
    """Write step{step} atomically (rank 0 writes; every rank must call it)."""
    raw = model.module if hasattr(model, "module") else model
    model_state, optim_state = _state_dicts(model, optimizer, options)
    if rank != 0:
        return None
    final = checkpoint_dir(run_dir, step)
    tmp = run_dir / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    raw.save_pretrained(tmp, state_dict={k: v.detach().cpu().contiguous() for k, v in model_state.items()})
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    info = {"run": rung.name, "n": rung.n, "step": step, "tokens": step * rung.batch_tokens, "size": rung.size,
            "xc": rung.xc, "d": rung.d, "steps": rung.steps, "seed": options.seed,
            "loss": rows[-1]["loss"] if rows else None}
    (tmp / "taskladder.json").write_text(json.dumps(info, indent=1))
    torch.save({"step": step, "optimizer": optim_state, "rng": _rng_state(), "log": rows}, tmp / "train_state.pt")
    with open(tmp / "log.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["step", "tokens", "loss", "lr", "grad_norm"])
        w.writeheader()
        w.writerows(rows)
    share_as_umask(tmp)
    if final.exists():  # a rerun after the rename but before Snakemake saw the job finish
        old = run_dir / f".{final.name}.old-{os.getpid()}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    else:
        os.rename(tmp, final)
    return final


def _load_into(model, optimizer, path: Path, options: TrainOptions) -> dict:
    from safetensors.torch import load_file

    state = torch.load(path / "train_state.pt", map_location="cpu", weights_only=False)
    files = sorted(path.glob("model*.safetensors"))
    weights = {}
    for f in files:
        weights.update(load_file(f))
    raw = model.module if hasattr(model, "module") else model
    if "lm_head.weight" not in weights and getattr(raw.config, "tie_word_embeddings", False):
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    if options.fsdp:
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                             set_optimizer_state_dict)

        opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
        set_model_state_dict(model, weights, options=opts)
        set_optimizer_state_dict(model, optimizer, state["optimizer"], options=opts)
    else:
        raw.load_state_dict(weights, strict=True)
        optimizer.load_state_dict(state["optimizer"])
    _set_rng_state(state["rng"])
    return state


def _clean_temporaries(run_dir: Path) -> None:
    """Remove what killed writers left: temporaries whose process (the pid in the name) is gone."""
    import psutil

    for p in [*run_dir.glob(".step*.tmp-*"), *run_dir.glob(".step*.old-*")]:
        pid = int(p.name.rsplit("-", 1)[1])
        if pid == os.getpid() or not psutil.pid_exists(pid):
            shutil.rmtree(p, ignore_errors=True)


# ---- the loop -----------------------------------------------------------------------------

def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks in the heap instead of unmapping them.

    By default every activation bigger than the mmap threshold is mapped fresh and unmapped
    when freed, so each CPU step page-faults its whole working set back in (~35,000 faults a
    step for a 260k-parameter model, ~25% of its step time). Returns whether it applied.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, 1 << 31))


def make_optimizer(model, rung: Rung, options: TrainOptions) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if "embed_tokens" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=rung.lr, betas=options.betas, eps=options.eps)


def _attn(options: TrainOptions, device: torch.device) -> str:
    if options.attn_implementation != "auto":
        return options.attn_implementation
    return "sdpa"


def train_run(rung: Rung, corpus: str | Path, run_dir: str | Path, options: TrainOptions,
              until: int | None = None, tokenizer=None) -> Path:
    """Train `rung` up to step `until` (default: its last step); returns that checkpoint's directory."""
    until = rung.steps if until is None else until
    if until not in rung.checkpoints:
        raise ValueError(f"{rung.name}: step {until} is not a checkpoint step; checkpoints: {list(rung.checkpoints)}")
    run_dir, corpus = Path(run_dir), Path(corpus)
    rank, world, device = _dist_setup(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)
    if device.type == "cpu":
        keep_freed_memory()
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        _clean_temporaries(run_dir)
    _barrier(world)
    if until in complete_checkpoints(run_dir):
        log.info("%s: checkpoint step %d exists", rung.name, until)
        return checkpoint_dir(run_dir, until)

    if rung.batch_seqs % world:
        raise ValueError(f"{rung.name}: batch of {rung.batch_seqs} sequences does not split over {world} processes")
    local = rung.batch_seqs // world
    micro = min(options.micro_batch or local, local)
    if local % micro:
        raise ValueError(f"{rung.name}: local batch {local} is not a multiple of train.micro_batch {micro}")
    if tokenizer is None and (corpus / "tokenizer").is_dir():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(corpus / "tokenizer")
    ids = {}
    if tokenizer is not None:
        ids = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    model = build_model(rung, seed=options.seed, init_std=options.init_std,
                        attn_implementation=_attn(options, device), **ids).to(device)
    if options.fsdp:
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
    elif world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                          else None)
    optimizer = make_optimizer(model, rung, options)
    step, rows = 0, []
    done = [s for s in complete_checkpoints(run_dir, resumable=True) if s <= until]
    if done:
        state = _load_into(model, optimizer, checkpoint_dir(run_dir, done[-1]), options)
        step, rows = state["step"], state["log"]
        log.info("%s: resumed from step %d", rung.name, step)

    data = TokenInstances(corpus, rung.seq_len, seed=options.seed)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if options.precision == "bf16" and device.type == "cuda"
                else nullcontext())
    checkpoints = set(rung.checkpoints)
    bar = tqdm(total=until, initial=step, desc=rung.name, unit="step", disable=not options.progress or rank != 0,
               dynamic_ncols=True, mininterval=1.0)
    t0, tok0, last = time.perf_counter(), step, None
    model.train()
    while step < until:
        step += 1
        lr = lr_at(step, rung, options.final_lr_ratio)
        for g in optimizer.param_groups:
            g["lr"] = lr
        start = (step - 1) * rung.batch_seqs + rank * local
        n_micro = local // micro
        loss_sum = torch.zeros((), device=device)
        for m in range(n_micro):
            x = torch.from_numpy(data.batch(start + m * micro, micro)).to(device, non_blocking=True)
            sync = m == n_micro - 1 or not hasattr(model, "no_sync")
            with (nullcontext() if sync else model.no_sync()), autocast:
                loss = model(input_ids=x, labels=x).loss / n_micro
            loss.backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if world > 1:
            dist.all_reduce(loss_sum)
            loss_sum /= world
        last = float(loss_sum)
        rows.append({"step": step, "tokens": step * rung.batch_tokens, "loss": last, "lr": lr,
                     "grad_norm": float(grad_norm)})
        bar.update(1)
        if step % options.log_every == 0 or step == until:
            dt = time.perf_counter() - t0
            tps = (step - tok0) * rung.batch_tokens / max(dt, 1e-9)
            bar.set_postfix(loss=f"{last:.3f}", tok_s=f"{tps:,.0f}")
            if rank == 0:
                log.info("%s step %d/%d loss %.4f lr %.3g %.0f tokens/s", rung.name, step, rung.steps, last, lr, tps)
            t0, tok0 = time.perf_counter(), step
        if step in checkpoints:
            save_checkpoint(run_dir, rung, step, model, optimizer, tokenizer, rows, options, rank)
            if rank == 0 and options.keep_checkpoints != "all":
                drop_old_train_states(run_dir)
            _barrier(world)
    bar.close()
    return checkpoint_dir(run_dir, until)


def check_vocabulary(rung: Rung, corpus: str | Path) -> None:
    vocab = read_manifest(corpus)["vocab_size"]
    if vocab > rung.vocab_size:
        raise ValueError(f"{corpus}/manifest.json: tokenizer has {vocab} tokens, more than the model's "
                         f"{rung.vocab_size} embedding rows; set ladder.vocab_size >= {vocab}")


def train_from_config(config: dict, run: str, until: int | None = None, corpus: str | Path | None = None,
                      run_dir: str | Path | None = None, **overrides) -> Path:
    """Train run `run` of a validated config in this process (by hand, in tests)."""
    from taskladder.ladder import build

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
    """Run `python -m taskladder.train JOB.json` in `nproc` processes under torchrun (one node)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(job))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "taskladder.train", str(path)]
        with open(log_path or os.devnull, "a") as log:
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if code:
        raise ValueError(f"{job['rung']['name']}: torchrun with {nproc} processes exited with status {code}"
                         + (f"; see {log_path}" if log_path else ""))


def main(argv=None) -> int:
    """`python -m taskladder.train JOB.json` (what torchrun starts; JOB: rung, options, corpus, run_dir, until)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m taskladder.train")
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
