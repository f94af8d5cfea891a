"""Log-likelihoods of continuations, computing every shared prefix once.

A request is (context tokens, continuation tokens); its log-likelihood is
sum_t log p(cont_t | context, cont_<t). The requests of a multiple-choice task share most of
their tokens: every document of an OLMES task starts with the same few-shot examples, and every
choice of a document has the same context. `Scorer.score`:

1. puts the requests of one document (a *group*) into one *row*: a token trie of their inputs
   (context + continuation[:-1]), so the document's context is stored once and every choice is
   a branch. An attention mask lets each token see exactly its ancestors in the trie, and its
   position id is its depth, so each branch is computed exactly as if scored alone.
2. clusters rows whose inputs start with the same long *prefix* (the few-shot block), runs the
   prefix through the model once and reuses its keys/values (a `DynamicCache`) for every row
   of the cluster; rows with no worthwhile shared prefix are scored without a cache.
3. batches rows of similar length (padding only to the longest row of a batch), and applies
   the LM head only at the positions that predict a continuation token.

fp32 on CPU, bf16 on GPU (the caller loads the model; log-softmax is taken in fp32).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import DynamicCache

log = logging.getLogger(__name__)


class ScoringError(ValueError):
    """A request the model cannot score; the message names the request and the lengths."""


@dataclass(frozen=True)
class Request:
    context: tuple[int, ...]
    continuation: tuple[int, ...]
    name: str = ""  # where it comes from, for error messages: "hellaswag doc 17 choice 2"

    @property
    def inputs(self) -> tuple[int, ...]:
        return self.context + self.continuation[:-1]


@dataclass
class Stats:
    requests: int = 0
    naive_tokens: int = 0  # tokens a full-sequence scorer runs: sum of len(context) + len(continuation) - 1
    tokens: int = 0  # tokens this scorer runs (prefixes once + trie rows), padding excluded
    padded_tokens: int = 0  # tokens including the padding of batches
    forwards: int = 0
    seconds: float = 0.0

    def add(self, other: "Stats") -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class _Row:
    tokens: list[int]  # trie nodes (beyond the prefix), in insertion order: parents before children
    parents: list[int]  # parent node of each node, -1 = attached to the prefix (or the row start)
    depths: list[int]  # position id offset inside the row
    # per request: list of (node that predicts the token, token); node -1 = the prefix's last position
    targets: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)


def _common_prefix_len(a, b) -> int:
    """Length of the common prefix of two token tuples (binary search on C-level slice comparison)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _build_row(requests: list[tuple[int, Request]], skip: int) -> _Row:
    """The trie of the requests' inputs after their first `skip` tokens (the cached prefix).

    Inserted in sorted order, a request shares nodes with the one before it only (sequences with a
    common prefix are contiguous): its nodes up to their common prefix, then new ones.
    """
    row = _Row([], [], [])
    previous, previous_nodes = (), []
    for index, r in sorted(requests, key=lambda item: item[1].inputs):
        inputs = r.inputs[skip:]
        shared = _common_prefix_len(previous, inputs)
        nodes = previous_nodes[:shared]  # the node of every input position (after the prefix)
        for depth in range(shared, len(inputs)):
            row.parents.append(nodes[-1] if nodes else -1)
            row.tokens.append(inputs[depth])
            row.depths.append(depth)
            nodes.append(len(row.tokens) - 1)
        start = len(r.context) - skip  # the input position of the first continuation token
        row.targets.append((index, [(nodes[pos - 1] if pos >= 1 else -1, tok)
                                    for pos, tok in enumerate(r.continuation, start)]))
        previous, previous_nodes = inputs, nodes
    return row


class Scorer:
    """Scores log-likelihood requests with a causal LM (`Olmo2ForCausalLM` or any HF causal LM
    whose `.model` returns hidden states and `.lm_head` maps them to logits)."""

    def __init__(self, model, *, batch_tokens: int = 16384, min_prefix: int = 16, max_length: int | None = None):
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.batch_tokens = batch_tokens
        self.min_prefix = min_prefix
        self.max_length = max_length or model.config.max_position_embeddings
        self.stats = Stats()

    # ---------------------------------------------------------------- planning
    def _check(self, requests: list[Request]) -> None:
        for r in requests:
            if not r.context:
                raise ScoringError(f"{r.name or 'request'}: empty context (start it with a BOS/EOS token)")
            if not r.continuation:
                raise ScoringError(f"{r.name or 'request'}: empty continuation")
            n = len(r.context) + len(r.continuation) - 1
            if n > self.max_length:
                raise ScoringError(
                    f"{r.name or 'request'}: {len(r.context)} context + {len(r.continuation)} continuation tokens "
                    f"= {n} input tokens > the model's context of {self.max_length} "
                    "(use fewer shots, or evaluation.overflow: truncate)")

    def plan(self, requests: list[Request], groups: list | None = None):
        """[(prefix tokens, [row, ...]), ...]: which prefix each row of requests is scored after."""
        if groups is None:  # without document ids, the requests with the same context form a group
            groups = [r.context for r in requests]
        by_group: dict = {}
        for i, (r, g) in enumerate(zip(requests, groups)):
            by_group.setdefault(g if not isinstance(g, list) else tuple(g), []).append(i)

        def stem(idx):
            """The inputs all requests of a group share, but no further than its shortest context (so
            every continuation token is predicted after the prefix, never inside it)."""
            first = requests[idx[0]].inputs
            n = min(len(requests[i].context) for i in idx)
            for i in idx[1:]:
                n = min(n, _common_prefix_len(first, requests[i].inputs))
            return first[:n]

        # a group whose requests share (almost) nothing is no tree: e.g. a document whose contexts were
        # cut from the left to fit, each choice by a different amount. As one row its branches would
        # attend over each other's length; each request is its own row instead.
        members, stems = [], []
        for idx in by_group.values():
            shared = stem(idx)
            if len(idx) > 1 and len(shared) < self.min_prefix:
                members += [[i] for i in idx]
                stems += [stem([i]) for i in idx]
            else:
                members.append(idx)
                stems.append(shared)
        order = sorted(range(len(members)), key=lambda g: stems[g])
        clusters: list[tuple[tuple[int, ...], list[int]]] = []  # (prefix, group indices)
        for g in order:
            if clusters:
                prefix, gs = clusters[-1]
                n = _common_prefix_len(prefix, stems[g])
                if n >= self.min_prefix and 2 * n >= len(prefix):
                    clusters[-1] = (prefix[:n], gs + [g])
                    continue
            clusters.append((stems[g], [g]))
        plan, loose = [], []
        for prefix, gs in clusters:
            if len(gs) == 1 or len(prefix) < self.min_prefix:
                loose += gs  # nothing shared with other groups: scored without a cached prefix
            else:
                plan.append((list(prefix), [_build_row([(i, requests[i]) for i in members[g]], len(prefix))
                                            for g in gs]))
        if loose:
            plan.append(([], [_build_row([(i, requests[i]) for i in members[g]], 0) for g in loose]))
        return plan

    # ---------------------------------------------------------------- running
    def score(self, requests: list[Request], groups: list | None = None) -> list[tuple[float, bool]]:
        """(log-likelihood, is_greedy) of every request, in order. `groups`: a document id per request
        (requests of one document share a row); default: requests with the same context."""
        t0 = time.perf_counter()
        self._check(requests)
        stats = Stats(requests=len(requests),
                      naive_tokens=sum(len(r.context) + len(r.continuation) - 1 for r in requests))
        results: list = [None] * len(requests)
        plan = self.plan(requests, groups)
        with torch.inference_mode():
            for prefix, rows in plan:
                self._score_cluster(prefix, rows, results, stats)
        stats.seconds = time.perf_counter() - t0
        self.stats.add(stats)
        self.last_stats = stats
        return results

    def _score_cluster(self, prefix: list[int], rows: list[_Row], results: list, stats: Stats) -> None:
        model, p = self.model, len(prefix)
        cache_kv, prefix_last = None, None
        if p:
            ids = torch.tensor([prefix], device=self.device)
            out = model.model(input_ids=ids, past_key_values=DynamicCache(), use_cache=True)
            cache_kv = [(k, v) for k, v, *_ in out.past_key_values]
            prefix_last = out.last_hidden_state[0, -1]
            stats.tokens += p
            stats.padded_tokens += p
            stats.forwards += 1
        rows = sorted(rows, key=lambda r: len(r.tokens))
        batch: list[_Row] = []
        for row in rows:  # length-bucketed batches: rows sorted by length, at most batch_tokens per batch
            if batch and (len(batch) + 1) * len(row.tokens) > self.batch_tokens:
                self._score_batch(batch, p, cache_kv, prefix_last, results, stats)
                batch = []
            batch.append(row)
        if batch:
            self._score_batch(batch, p, cache_kv, prefix_last, results, stats)

    def _score_batch(self, rows, p, cache_kv, prefix_last, results, stats) -> None:
        model = self.model
        b, n = len(rows), max(len(r.tokens) for r in rows)
        ids = np.zeros((b, n), dtype=np.int64)
        pos = np.zeros((b, n), dtype=np.int64)
        allowed = np.zeros((b, n, p + n), dtype=bool)
        allowed[:, :, :p] = True  # every token sees the whole prefix
        for i, row in enumerate(rows):
            m = len(row.tokens)
            ids[i, :m] = row.tokens
            pos[i, :m] = np.asarray(row.depths) + p
            for j, parent in enumerate(row.parents):  # ancestors of j = ancestors of its parent, and j
                if parent >= 0:
                    allowed[i, j, p:] = allowed[i, parent, p:]
                allowed[i, j, p + j] = True
            for j in range(m, n):  # padding sees itself only (never read; avoids empty softmax rows)
                allowed[i, j, p + j] = True
        hidden = None
        if n:
            dtype = next(model.parameters()).dtype
            mask = torch.zeros((b, 1, n, p + n), dtype=dtype)
            mask.masked_fill_(~torch.from_numpy(allowed)[:, None], torch.finfo(dtype).min)
            cache = None
            if cache_kv is not None:
                cache = DynamicCache(ddp_cache_data=[(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1))
                                                     for k, v in cache_kv])
            out = model.model(input_ids=torch.from_numpy(ids).to(self.device), attention_mask=mask.to(self.device),
                              position_ids=torch.from_numpy(pos).to(self.device), past_key_values=cache,
                              use_cache=cache is not None)
            hidden = out.last_hidden_state
            stats.forwards += 1
        # the LM head only where a continuation token is predicted
        row_of, node_of, tokens, owners = [], [], [], []
        for i, row in enumerate(rows):
            for index, targets in row.targets:
                for node, tok in targets:
                    row_of.append(i)
                    node_of.append(node)
                    tokens.append(tok)
                    owners.append(index)
        node_t = torch.tensor(node_of, device=self.device)
        if hidden is None:
            h = prefix_last.expand(len(node_of), -1)
        else:
            h = hidden[torch.tensor(row_of, device=self.device), node_t.clamp(min=0)]
            if prefix_last is not None:
                h = torch.where((node_t < 0)[:, None], prefix_last[None], h)
        logprobs = torch.log_softmax(model.lm_head(h).float(), dim=-1)
        tokens_t = torch.tensor(tokens, device=logprobs.device)
        token_lp = logprobs.gather(1, tokens_t[:, None])[:, 0].double().cpu().numpy()
        greedy = (logprobs.argmax(-1) == tokens_t).cpu().numpy()
        owners = np.asarray(owners)
        for index in np.unique(owners):
            sel = owners == index
            results[index] = (float(token_lp[sel].sum()), bool(greedy[sel].all()))
        stats.tokens += sum(len(r.tokens) for r in rows)
        stats.padded_tokens += b * n


def score_naive(model, requests: list[Request]) -> list[float]:
    """Reference: every request run alone, full sequence, no cache (for tests and benchmarks)."""
    out = []
    with torch.inference_mode():
        for r in requests:
            ids = torch.tensor([list(r.inputs)], device=next(model.parameters()).device)
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            start = len(r.context) - 1
            cont = torch.tensor(r.continuation, device=logprobs.device)
            out.append(float(logprobs[start:start + len(cont)].gather(1, cont[:, None]).sum()))
    return out


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
