"""A run's checkpoints on disk: written atomically, found complete, resumed from, released."""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from taskladder.base.files import atomic_dir, checkpoint_dir
from taskladder.train.ladder import Rung
from taskladder.train.options import KEEP_CHECKPOINTS, TrainOptions

STEP_DIR = re.compile(r"^step(\d{7})$")  # a complete checkpoint's folder (taskladder.base.files.checkpoint_dir)
LOG_COLUMNS = ["step", "tokens", "loss", "lr", "grad_norm"]  # log.csv: one row per optimizer step


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
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(model, options=opts), get_optimizer_state_dict(model, optimizer, options=opts)
    raw = model.module if hasattr(model, "module") else model
    return raw.state_dict(), optimizer.state_dict()


def save_checkpoint(run_dir: Path, rung: Rung, step: int, model, optimizer, tokenizer, rows: list[dict],
                    options: TrainOptions, rank: int) -> Path | None:
    """Write checkpoint `step` of the run (weights, tokenizer, taskladder.json, train_state.pt, log.csv) atomically,
    then apply train.keep_checkpoints. Every rank must call it (a sharded model's state is gathered from all);
    rank 0 writes."""
    raw = model.module if hasattr(model, "module") else model
    model_state, optim_state = _state_dicts(model, optimizer, options)
    if rank != 0:
        return None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    info = {"run": rung.name, "n": rung.n, "step": step, "tokens": step * rung.batch_tokens, "size": rung.size,
            "xc": rung.xc, "d": rung.d, "steps": rung.steps, "seed": options.seed,
            "loss": rows[-1]["loss"] if rows else None}
    final = checkpoint_dir(run_dir, step)
    with atomic_dir(final) as tmp:
        raw.save_pretrained(tmp, state_dict={k: v.detach().cpu().contiguous() for k, v in model_state.items()})
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / "taskladder.json").write_text(json.dumps(info, indent=1))
        torch.save({"step": step, "optimizer": optim_state, "rng": _rng_state(), "log": rows}, tmp / "train_state.pt")
        with open(tmp / "log.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
            w.writeheader()
            w.writerows(rows)
    if options.keep_checkpoints != "all":
        drop_old_train_states(run_dir)
    return final


def resume(model, optimizer, run_dir: Path, until: int, options: TrainOptions) -> tuple[int, list[dict]]:
    """Load the newest checkpoint of the run at or before step `until` that can be resumed from (it still holds
    its train_state.pt) into `model` and `optimizer`, with the RNG state; returns its step and the training log so
    far ((0, []): none, the run starts from its initialisation)."""
    done = [s for s in complete_checkpoints(run_dir, resumable=True) if s <= until]
    if not done:
        return 0, []
    state = _load_into(model, optimizer, checkpoint_dir(run_dir, done[-1]), options)
    return state["step"], state["log"]


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
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
        set_model_state_dict(model, weights, options=opts)
        set_optimizer_state_dict(model, optimizer, state["optimizer"], options=opts)
    else:
        raw.load_state_dict(weights, strict=True)
        optimizer.load_state_dict(state["optimizer"])
    _set_rng_state(state["rng"])
    return state
