"""Evaluate checkpoints: every prepared task in one model load -> one table row per task.

A checkpoint is a `save_pretrained` directory of a causal LM and its tokenizer, plus
`taskladder.json` = {"run", "n", "step", "tokens"} (written by training).

Requests are formed as olmo_eval forms them: context and continuation tokenized separately
(no special tokens; a BOS token first when the tokenizer has one). A request longer than the
model's context either raises (overflow="error", the default) or has its context cut from the
left to fit (overflow="truncate": olmo_eval's `query[-model_ctx_len:]`; the count of truncated
documents is reported per task).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskladder.base.metrics_table import METRIC_COLUMNS
from taskladder.evaluate import metrics
from taskladder.evaluate.scoring import Request, Scorer, ScoringError, default_device
from taskladder.tasks.documents import Task, read_task
from taskladder.tasks.olmes import AGGREGATES

log = logging.getLogger(__name__)

OVERFLOW = ("error", "truncate")
EVAL_COLUMNS = METRIC_COLUMNS + ["lm_bpb", "docs", "truncated", "seconds"]


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded; the message names the directory and the file."""


def load_model(path: str | Path, device: str | None = None):
    """(model, tokenizer) of any `save_pretrained` causal LM directory (or hub name); fp32 on CPU, bf16 on GPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa").to(device)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as e:  # transformers raises many types; say which checkpoint failed and why
        raise CheckpointError(f"checkpoint {path}: cannot load the model or tokenizer ({type(e).__name__}: {e})") from e
    return model.eval(), tokenizer


def load_checkpoint(path: str | Path, device: str | None = None):
    """(model, tokenizer, info) of a ladder checkpoint directory (with its taskladder.json)."""
    path = Path(path)
    info_path = path / "taskladder.json"
    if not path.is_dir() and (path.parent / "released.txt").exists():
        raise CheckpointError(f"checkpoint {path}: deleted after its evaluation (train.keep_checkpoints: final); to "
                              "evaluate it again, retrain the run: delete its final checkpoint and rerun")
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: cannot read taskladder.json ({type(e).__name__}: {e})") from e
    missing = [k for k in ("run", "n", "step", "tokens") if k not in info]
    if missing:
        raise CheckpointError(f"{info_path}: missing key(s) {missing}; expected run, n, step, tokens")
    model, tokenizer = load_model(path, device)
    return model, tokenizer, info


def task_requests(task: Task, tokenizer, max_length: int, overflow: str = "error"):
    """(requests, doc index per request, number of truncated documents) of a prepared task."""
    if overflow not in OVERFLOW:
        raise ValueError(f"overflow must be one of {OVERFLOW}, got {overflow!r}")
    strings = sorted({s for d in task.docs for s in (*d.contexts, *d.continuations)})
    ids = dict(zip(strings, tokenizer(strings, add_special_tokens=False)["input_ids"]))
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    requests, groups, truncated = [], [], set()
    for i, d in enumerate(task.docs):
        for k, (context, continuation) in enumerate(zip(d.contexts, d.continuations)):
            ctx, cont = bos + ids[context], ids[continuation]
            if not cont:
                raise ScoringError(f"{task.name} doc {d.doc_id} choice {k}: continuation {continuation!r} "
                                   "has no tokens")
            keep = max_length - len(cont) + 1  # context tokens that fit
            if len(ctx) > keep:
                if overflow == "error" or keep < 1:
                    raise ScoringError(
                        f"{task.name} doc {d.doc_id} choice {k}: {len(ctx)} context + {len(cont)} continuation "
                        f"tokens = {len(ctx) + len(cont) - 1} input tokens > the model's context of {max_length}"
                        + (" (even the continuation alone does not fit)" if keep < 1 else
                           f" ({task.num_shots}-shot; set evaluation.num_shots lower or evaluation.overflow: "
                           "truncate)"))
                ctx = ctx[-keep:]
                truncated.add(i)
            requests.append(Request(tuple(ctx), tuple(cont), f"{task.name} doc {d.doc_id} choice {k}"))
            groups.append(i)
    return requests, groups, len(truncated)


def evaluate_task(scorer: Scorer, task: Task, tokenizer, overflow: str = "error") -> dict:
    t0 = time.perf_counter()
    requests, groups, truncated = task_requests(task, tokenizer, scorer.max_length, overflow)
    results = scorer.score(requests, groups)
    logliks = [[] for _ in task.docs]
    for (ll, _), g in zip(results, groups):
        logliks[g].append(ll)
    row = metrics.task_metrics(task.docs, logliks, task.metric)
    row.update(task=task.name, truncated=truncated, seconds=time.perf_counter() - t0)
    s = scorer.last_stats
    log.info("%s: %d docs, %d requests, acc %.4f, bpb %.4f, %.1fs, %d tokens run (%.1fx fewer than naive)%s",
             task.name, len(task.docs), len(requests), row["acc"], row["task_loss"], row["seconds"], s.tokens,
             s.naive_tokens / max(s.tokens, 1), f", {truncated} docs truncated" if truncated else "")
    return row


def evaluate_checkpoint(checkpoint: str | Path, task_paths, *, val_path: str | Path | None = None,
                        overflow: str = "error", batch_tokens: int = 16384, lm_loss_tokens: int | None = None,
                        device: str | None = None, progress=None) -> pd.DataFrame:
    """One row per task (and per aggregate whose parts were all evaluated) for one checkpoint; `progress()` is
    called as each task is done."""
    t0 = time.perf_counter()
    model, tokenizer, info = load_checkpoint(checkpoint, device)
    log.info("loaded %s (run %s, step %s) in %.1fs", checkpoint, info["run"], info["step"], time.perf_counter() - t0)
    scorer = Scorer(model, batch_tokens=batch_tokens)
    rows = {}
    for path in task_paths:
        task = read_task(path)
        rows[task.name] = evaluate_task(scorer, task, tokenizer, overflow)
        if progress:
            progress()
    for name, parts in AGGREGATES.items():
        if all(p in rows for p in parts):
            rows[name] = {**metrics.weighted_mean(rows, parts), "task": name,
                          "docs": sum(rows[p]["docs"] for p in parts),
                          "truncated": sum(rows[p]["truncated"] for p in parts),
                          "seconds": sum(rows[p]["seconds"] for p in parts)}
    lm = {"lm_loss": np.nan, "lm_bpb": np.nan}
    if val_path is not None:
        t1 = time.perf_counter()
        lm = lm_loss(model, np.load(val_path, mmap_mode="r"), seq_len=scorer.max_length,
                             max_tokens=lm_loss_tokens, tokenizer=tokenizer)
        log.info("LM loss %.4f nats/token, %.4f bpb on %d tokens, %.1fs", lm["lm_loss"], lm["lm_bpb"],
                 lm["lm_tokens"], time.perf_counter() - t1)
    frame = pd.DataFrame(rows.values())
    for k in ("run", "n", "step", "tokens"):
        frame[k] = info[k]
    frame["lm_loss"], frame["lm_bpb"] = lm["lm_loss"], lm["lm_bpb"]
    log.info("%s step %s: %d tasks in %.1fs (%s)", info["run"], info["step"], len(task_paths),
             time.perf_counter() - t0, scorer.stats)
    return frame[EVAL_COLUMNS]


def evaluate_job(checkpoints, task_paths, val_path, options: dict, threads: int, out: str | Path) -> pd.DataFrame:
    """An evaluation job: score each checkpoint on every task (and the LM loss on `val_path`, if any) and write one
    table (`options`: the job's evaluation options, its runtime ones included)."""
    from tqdm import tqdm

    from taskladder.base.files import write_csv

    torch.set_num_threads(threads)
    frames = []
    with tqdm(total=len(checkpoints) * len(task_paths), desc="evaluate", unit="task", disable=None) as bar:
        for checkpoint in checkpoints:
            frames.append(evaluate_checkpoint(
                checkpoint, task_paths, val_path=val_path, overflow=options["overflow"],
                batch_tokens=options["batch_tokens"], lm_loss_tokens=options["lm_loss_tokens"],
                device=None if options["device"] == "auto" else options["device"], progress=bar.update))
            log.info("%s: evaluated", checkpoint)
    frame = pd.concat(frames, ignore_index=True)
    write_csv(frame, out)
    return frame


def write_random_checkpoint(path: str | Path, *, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                            seq_len: int = 256, run: str = "tiny", step: int = 0, seed: int = 0,
                            tokens: int = 0, tokenizer=None) -> Path:
    """A randomly initialised Olmo2ForCausalLM checkpoint in the training layout (for tests and benchmarks),
    with `tokenizer` (default: olmo_eval's GPT-NeoX tokenizer of OLMo 1, 50k tokens)."""
    from olmo_eval.util import get_data_path
    from transformers import Olmo2Config, Olmo2ForCausalLM, PreTrainedTokenizerFast

    if tokenizer is None:
        with get_data_path("tokenizers/allenai_gpt-neox-olmo-dolma-v1_5.json") as tok_file:
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), eos_token="<|endoftext|>",
                                                pad_token="<|padding|>")
    config = Olmo2Config(vocab_size=-(-len(tokenizer) // 128) * 128, hidden_size=d_model,
                         intermediate_size=4 * d_model, num_hidden_layers=n_layers, num_attention_heads=n_heads,
                         max_position_embeddings=seq_len, tie_word_embeddings=False, rope_theta=500_000.0,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Olmo2ForCausalLM(config)
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    n = sum(p.numel() for p in model.parameters()) - model.lm_head.weight.numel()
    (path / "taskladder.json").write_text(json.dumps({"run": run, "n": n, "step": step, "tokens": tokens}))
    return path


def lm_loss(model, tokens: np.ndarray, *, seq_len: int, batch_size: int = 8, max_tokens: int | None = None,
            tokenizer=None) -> dict:
    """Mean next-token cross-entropy (nats/token) on a held-out token array.

    The tokens are cut into consecutive windows of `seq_len` (the model's context; the last
    partial window is dropped; at most `max_tokens` tokens are used); each window predicts its
    tokens 2..seq_len. With a tokenizer, bits per byte too: the summed loss in bits over the
    utf-8 bytes of the decoded predicted tokens (decoded per window).
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"held-out tokens: expected a 1-D array, found shape {tokens.shape}")
    if max_tokens is not None:
        tokens = tokens[:max_tokens]
    n = len(tokens) // seq_len
    if n == 0:
        raise ValueError(f"held-out tokens: {len(tokens)} tokens, fewer than one window of {seq_len}")
    windows = torch.from_numpy(tokens[: n * seq_len].astype(np.int64)).view(n, seq_len)
    device = next(model.parameters()).device
    nats, count, nbytes = 0.0, 0, 0
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            x = windows[i:i + batch_size].to(device)
            hidden = model.model(input_ids=x).last_hidden_state[:, :-1]
            for h, y in zip(hidden, x[:, 1:]):  # one window at a time: logits are seq_len x vocab
                logits = model.lm_head(h).float()
                nats += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
                count += len(y)
                if tokenizer is not None:
                    nbytes += len(tokenizer.decode(y.tolist()).encode("utf-8"))
    out = {"lm_loss": nats / count, "lm_tokens": count}
    if tokenizer is not None:
        out["lm_bpb"] = nats / (math.log(2) * nbytes)
    return out
