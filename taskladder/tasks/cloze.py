"""corpus_cloze: a cloze task built from documents the corpus holds out of training; models too small for
the OLMES tasks learn it."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from taskladder.tasks.documents import Doc, Task, TaskError, subset_indices

DISTRACTORS = ("same_source", "any_source")
CORPUS_TASKS = ("corpus_cloze",)  # tasks built from the prepared corpus


def read_heldout(corpus: str | Path) -> list[dict]:
    """The documents a prepared corpus holds out of training (taskladder.corpus.prepare writes them):
    [{"source": name, "tokens": [their first corpus.heldout_tokens token ids]}, ...]."""
    path = Path(corpus) / "heldout.jsonl"
    try:
        return [json.loads(line) for line in path.read_text().splitlines()]
    except (OSError, json.JSONDecodeError) as e:
        raise TaskError(f"{path}: cannot read the corpus's held-out documents ({type(e).__name__}: {e})") from e


def _cloze_items(corpus: Path, context_tokens: int, continuation_tokens: int) -> list[tuple[str, str, str]]:
    """(source, context, true continuation) of each held-out document: the continuation is its
    `continuation_tokens` tokens from the last word start (a token that begins with a space) at or
    before token `context_tokens`; the context is everything before."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(corpus / "tokenizer")
    docs = read_heldout(corpus)
    need = context_tokens + continuation_tokens
    longest = max((len(d["tokens"]) for d in docs), default=0)
    if longest < need:
        raise TaskError(f"corpus_cloze: {corpus}/heldout.jsonl keeps {longest} tokens per held-out document, fewer "
                        f"than context_tokens + continuation_tokens = {need}; raise corpus.heldout_tokens to {need} "
                        "or more (and corpus.heldout_docs above 0)")
    items = []
    for d in docs:
        tokens = d["tokens"][:need]
        if len(tokens) < need:
            continue
        pieces = tokenizer.batch_decode([[t] for t in tokens[1:context_tokens + 1]])
        starts = [i for i, p in enumerate(pieces, 1) if p.startswith(" ")]
        if not starts:
            continue
        cut = starts[-1]
        context, continuation = tokenizer.decode(tokens[:cut]), tokenizer.decode(tokens[cut:cut + continuation_tokens])
        if "\ufffd" not in context + continuation:  # no multi-byte character cut in two
            items.append((d["source"], context, continuation))
    return items


def build_corpus_cloze(corpus: str | Path, *, context_tokens: int, continuation_tokens: int, choices: int,
                       distractors: str, limit: int | None = None, seed: int = 0,
                       name: str = "corpus_cloze") -> Task:
    """A cloze task from the held-out documents of a prepared corpus, in OLMES RC format (0-shot):
    each document's context, its true continuation and `choices` - 1 continuations of other held-out
    documents (of its own source with "same_source", else of any), all `continuation_tokens` tokens
    long; the gold choice's place is drawn with the seed. Distractors are drawn as often as each
    continuation occurs, so a model that ignores the context is at chance. Choices are ranked by their
    log-likelihood (metric "acc"): they are equally long in tokens, and per-character normalisation
    would only add the noise of their character counts."""
    if distractors not in DISTRACTORS:
        raise TaskError(f"{name}: distractors must be one of {DISTRACTORS}, got {distractors!r}")
    items = _cloze_items(Path(corpus), context_tokens, continuation_tokens)
    pools: dict[str, list[int]] = {}
    for i, (source, _, _) in enumerate(items):
        pools.setdefault(source if distractors == "same_source" else "", []).append(i)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    docs = []
    for i, (source, context, continuation) in enumerate(items):
        pool = pools[source if distractors == "same_source" else ""]
        picked: list[str] = []  # other documents' continuations, as often as they occur (so a model that
        for j in rng.permutation(pool):  # ignores the context is at chance), each string once
            if items[j][2] != continuation and items[j][2] not in picked:
                picked.append(items[j][2])
                if len(picked) == choices - 1:
                    break
        if len(picked) < choices - 1:
            continue  # a source with too few held-out documents
        gold = int(rng.integers(choices))
        conts = picked[:gold] + [continuation] + picked[gold:]
        docs.append(Doc(i, (context,) * choices, tuple(conts), gold))
    if not docs:
        raise TaskError(f"{name}: no held-out document of {corpus} has {choices - 1} distractors "
                        f"({distractors}); raise corpus.heldout_docs or lower evaluation.corpus_cloze.choices")
    keep = subset_indices(len(docs), limit, seed, name)
    return Task(name, f"corpus:{corpus}", "acc", 0, len(docs), [docs[i] for i in keep])
