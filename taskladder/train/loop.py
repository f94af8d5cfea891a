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
the job starts its processes with torchrun (`launch`), each running ``python -m taskladder.train.launch JOB.json``.

Optimizer: AdamW as in OLMo 2 (betas 0.9/0.95, eps 1e-8, weight decay 0.1 except on the
embedding), linear warmup, cosine decay to `final_lr_ratio` of the peak at the run's last
step, gradient clipping at 1.0. Several processes (torchrun) train with DDP (gloo on CPU,
NCCL on GPU); ``train.fsdp`` shards with FSDP2 instead."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from taskladder.base.files import checkpoint_dir
from taskladder.corpus.instances import TokenInstances
from taskladder.train.checkpoints import (
    _clean_temporaries,
    _load_into,
    complete_checkpoints,
    drop_old_train_states,
    save_checkpoint,
)
from taskladder.train.ladder import Rung
from taskladder.train.model import build_model
from taskladder.train.options import TrainOptions

log = logging.getLogger(__name__)






def lr_at(step: int, rung: Rung, final_ratio: float = 0.1) -> float:
    """LR of optimizer step `step` (1-based): linear warmup, then cosine to final_ratio * peak."""
    peak, warmup, total = rung.lr, rung.warmup, rung.steps
    if step <= warmup:
        return peak * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    final = final_ratio * peak
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * progress))




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
