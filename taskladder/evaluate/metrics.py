"""The paper's metrics, from per-choice log-likelihoods (definitions: PAPER_METHOD.md).

For a document with choices k (continuation strings c_k, gold g) and log-likelihoods ll_k:
- task loss  = bpb of the gold continuation = -ll_g / (ln 2 * utf8 bytes of c_g)
- accuracy   = [argmax_k s_k == g], with s_k = ll_k / chars(c_k) ("len_norm", RC tasks) or
               s_k = ll_k (raw, "acc": BoolQ and the MC letter format)
- TaskCE     = -log_softmax_k(s_k)[g]
each averaged over documents. These are exactly what olmo_eval's `ICLMetric` reports as
`bpb_v2`, `<metric>_v2` and `-soft_log_v2` (tests/evaluate/test_metrics.py checks it). For len_norm tasks
TaskCE is the paper's -log_softmax(ll_k / chars_k)[g]; for raw-likelihood tasks it is taken over
the raw log-likelihoods, as in ICLMetric and the released OLMo ladder logs.
Characters count the continuation's leading space (the OLMES standard).
"""

from __future__ import annotations

import math

import numpy as np

METRICS = ("len_norm", "acc")


def choice_scores(logliks, continuations, metric: str) -> np.ndarray:
    ll = np.asarray(logliks, dtype=np.float64)
    if metric == "len_norm":
        return ll / np.array([len(c) for c in continuations], dtype=np.float64)
    if metric == "acc":
        return ll
    raise ValueError(f"unknown accuracy metric {metric!r}; expected one of {METRICS}")


def bpb(loglik: float, continuation: str) -> float:
    """Bits per byte of one continuation."""
    return -loglik / (math.log(2) * len(continuation.encode("utf-8")))


def doc_metrics(logliks, continuations, label: int, metric: str) -> tuple[float, float, float]:
    """(task loss, correct, TaskCE) of one document."""
    s = choice_scores(logliks, continuations, metric)
    correct = float(int(np.argmax(s)) == label)  # first maximum on ties, like torch.argmax in ICLMetric
    log_softmax = s - (s.max() + np.log(np.exp(s - s.max()).sum()))
    return bpb(logliks[label], continuations[label]), correct, float(-log_softmax[label])


def task_metrics(docs, logliks, metric: str) -> dict:
    """Mean task loss, accuracy and TaskCE over documents; `logliks[i]` are doc i's per-choice log-likelihoods."""
    if len(docs) == 0:
        raise ValueError("no documents to average over")
    rows = np.array([doc_metrics(ll, d.continuations, d.label, metric) for d, ll in zip(docs, logliks, strict=True)])
    task_loss, acc, task_ce = rows.mean(axis=0)
    return {"task_loss": float(task_loss), "acc": float(acc), "task_ce": float(task_ce), "docs": len(docs)}


def weighted_mean(rows: dict[str, dict], weights: dict[str, float], keys=("task_loss", "acc", "task_ce")) -> dict:
    """An aggregate task (MMLU): the weighted mean of its parts' metrics."""
    total = sum(weights.values())
    return {k: sum(w * rows[part][k] for part, w in weights.items()) / total for k in keys}


