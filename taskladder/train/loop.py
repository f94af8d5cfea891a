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
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from taskladder.base.files import checkpoint_dir, remove_stale_temporaries
from taskladder.corpus.instances import TokenInstances
from taskladder.train.checkpoints import complete_checkpoints, resume, save_checkpoint
from taskladder.train.ladder import Rung
from taskladder.train.model import build_model
from taskladder.train.options import TrainOptions

log = logging.getLogger(__name__)


def train_run(rung: Rung, corpus: str | Path, run_dir: str | Path, options: TrainOptions,
              until: int | None = None, tokenizer=None) -> Path:
    """Train `rung` up to step `until` (default: its last step); returns that checkpoint's directory."""
    until = rung.steps if until is None else until
    if until not in rung.checkpoints:
        raise ValueError(f"{rung.name}: step {until} is not a checkpoint step; checkpoints: {list(rung.checkpoints)}")
    run_dir, corpus = Path(run_dir), Path(corpus)
    proc = start_process(options)
    if proc.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
    proc.barrier()
    if until in complete_checkpoints(run_dir):
        log.info("%s: checkpoint step %d exists", rung.name, until)
        return checkpoint_dir(run_dir, until)

    # the model, its optimizer, and where they start: the newest checkpoint at or before `until`, or step 0
    local, micro = split_batch(rung, proc.world, options.micro_batch)
    tokenizer = tokenizer if tokenizer is not None else corpus_tokenizer(corpus)
    model = distribute(build_model(rung, seed=options.seed, init_std=options.init_std,
                                   attn_implementation=attention(options), **special_ids(tokenizer)), options, proc)
    optimizer = make_optimizer(model, rung, options)
    step, rows = resume(model, optimizer, run_dir, until, options)
    if step:
        log.info("%s: resumed from step %d", rung.name, step)

    # the loop: one optimizer step per batch; the batch of a step is a function of (seed, step)
    data = TokenInstances(corpus, rung.seq_len, seed=options.seed)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if options.precision == "bf16" and proc.device.type == "cuda"
                else nullcontext())
    checkpoints = set(rung.checkpoints)
    progress = Progress(rung, until, step, options, proc.rank)
    model.train()
    while step < until:
        step += 1
        lr = lr_at(step, rung, options.final_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = micro_batches(data, (step - 1) * rung.batch_seqs + proc.rank * local, local, micro, proc.device)
        loss, grad_norm = train_step(model, optimizer, batches, local // micro, options.grad_clip, autocast)
        loss = proc.mean(loss)
        rows.append({"step": step, "tokens": step * rung.batch_tokens, "loss": loss, "lr": lr, "grad_norm": grad_norm})
        progress.update(step, loss, lr)
        if step in checkpoints:
            save_checkpoint(run_dir, rung, step, model, optimizer, tokenizer, rows, options, proc.rank)
            proc.barrier()
    progress.close()
    return checkpoint_dir(run_dir, until)


# ----------------------------------------------------------------------------- one step


def lr_at(step: int, rung: Rung, final_ratio: float = 0.1) -> float:
    """LR of optimizer step `step` (1-based): linear warmup, then cosine to final_ratio * peak."""
    peak, warmup, total = rung.lr, rung.warmup, rung.steps
    if step <= warmup:
        return peak * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    final = final_ratio * peak
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * progress))


def micro_batches(data: TokenInstances, start: int, local: int, micro: int, device: torch.device):
    """This process's `local` sequences of a batch, from instance `start` on, in micro-batches of `micro`."""
    for m in range(local // micro):
        yield torch.from_numpy(data.batch(start + m * micro, micro)).to(device, non_blocking=True)


def train_step(model, optimizer, batches, n_micro: int, grad_clip: float, autocast) -> tuple[torch.Tensor, float]:
    """One optimizer step on a batch given as `n_micro` micro-batches: their gradients accumulated (synchronised
    across processes on the last only), clipped to `grad_clip`, applied. Returns (this process's mean loss, the
    gradient norm before clipping)."""
    loss_sum = 0.0
    for m, x in enumerate(batches):
        sync = m == n_micro - 1 or not hasattr(model, "no_sync")
        with (nullcontext() if sync else model.no_sync()), autocast:
            loss = model(input_ids=x, labels=x).loss / n_micro
        loss.backward()
        loss_sum = loss_sum + loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, float(grad_norm)


class Progress:
    """A run's progress bar, and its loss and throughput logged every `log_every` steps (by rank 0)."""

    def __init__(self, rung: Rung, until: int, step: int, options: TrainOptions, rank: int):
        self.rung, self.until, self.every, self.rank = rung, until, options.log_every, rank
        self.bar = tqdm(total=until, initial=step, desc=rung.name, unit="step", disable=not options.progress or rank != 0,
                        dynamic_ncols=True, mininterval=1.0)
        self.t0, self.step0 = time.perf_counter(), step

    def update(self, step: int, loss: float, lr: float) -> None:
        self.bar.update(1)
        if step % self.every and step != self.until:
            return
        tps = (step - self.step0) * self.rung.batch_tokens / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:,.0f}")
        if self.rank == 0:
            log.info("%s step %d/%d loss %.4f lr %.3g %.0f tokens/s", self.rung.name, step, self.rung.steps, loss, lr,
                     tps)
        self.t0, self.step0 = time.perf_counter(), step

    def close(self) -> None:
        self.bar.close()


# ----------------------------------------------------------------------------- setting up


@dataclass(frozen=True)
class Process:
    """This process's place in a training job: its rank among `world` processes (torchrun's environment; 1
    without it) and its device."""

    rank: int
    world: int
    device: torch.device

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> float:
        """The mean of `value` over the processes."""
        if self.world > 1:
            dist.all_reduce(value)
            value /= self.world
        return float(value)


def start_process(options: TrainOptions) -> Process:
    """Join the job's process group (gloo on CPU, NCCL on GPU) where there are several processes; set the threads
    and, on CPU, the allocator."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = options.device
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
    if options.threads:
        torch.set_num_threads(options.threads)
    if dev.type == "cpu":
        keep_freed_memory()
    return Process(rank, world, dev)


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


def split_batch(rung: Rung, world: int, micro_batch: int | None) -> tuple[int, int]:
    """(the sequences of a batch each process trains on, the sequences of each of its micro-batches)."""
    if rung.batch_seqs % world:
        raise ValueError(f"{rung.name}: batch of {rung.batch_seqs} sequences does not split over {world} processes")
    local = rung.batch_seqs // world
    micro = min(micro_batch or local, local)
    if local % micro:
        raise ValueError(f"{rung.name}: local batch {local} is not a multiple of train.micro_batch {micro}")
    return local, micro


def corpus_tokenizer(corpus: Path):
    """The tokenizer the corpus was prepared with (saved into every checkpoint), or None where it has none."""
    if not (corpus / "tokenizer").is_dir():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(corpus / "tokenizer")


def special_ids(tokenizer) -> dict:
    """The model config's EOS and padding ids: the tokenizer's (none without one)."""
    if tokenizer is None:
        return {}
    return {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}


def attention(options: TrainOptions) -> str:
    return "sdpa" if options.attn_implementation == "auto" else options.attn_implementation


def distribute(model, options: TrainOptions, proc: Process):
    """The model on its device, sharded with FSDP2 (`train.fsdp`) or replicated with DDP over several processes."""
    model = model.to(proc.device)
    if options.fsdp:
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    if proc.world > 1:
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[proc.device.index] if proc.device.type == "cuda" else None)
    return model


def make_optimizer(model, rung: Rung, options: TrainOptions) -> torch.optim.AdamW:
    """AdamW with weight decay on every parameter but the embedding."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if "embed_tokens" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=rung.lr, betas=options.betas, eps=options.eps)
