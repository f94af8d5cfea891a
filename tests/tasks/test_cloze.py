"""corpus_cloze: a task from documents the corpus holds out of training, scored like the OLMES tasks."""

import json

import numpy as np
import pytest

from taskladder.base.config import validate
from taskladder.corpus import instances, prepare
from taskladder.tasks import cloze, registry
from taskladder.tasks.documents import TaskError

WORDS = ("the a model ladder rung token train loss step scale law data small large predict task accuracy "
         "of to in and is was for on with by as at from").split()
OPTIONS = {"context_tokens": 20, "continuation_tokens": 8, "choices": 4, "distractors": "same_source", "docs": None}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A corpus of two sources (files), 40 held-out documents of at least 40 tokens."""
    tmp = tmp_path_factory.mktemp("cloze")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        docs = [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 80)))) for _ in range(300)]
        (tmp / f"{name}.jsonl").write_text("\n".join(json.dumps({"text": d}) for d in docs))
    cfg = validate({"experiment": "t", "tokenizer": {"vocab_size": 300},
                    "corpus": {"sources": [{"kind": "jsonl", "path": str(tmp / "*.jsonl")}], "decontaminate_ngram": None,
                               "val_tokens": 500, "heldout_docs": 40, "heldout_tokens": 40},
                    "evaluation": {"tasks": ["corpus_cloze", "arc_easy"], "corpus_cloze": OPTIONS, "limit": 30}})
    prepare.prepare_corpus(cfg, tmp / "corpus")
    return cfg, tmp / "corpus"


def build(cfg, corpus, seed=0, **options):
    evaluation = {**cfg["evaluation"], "corpus_cloze": {**OPTIONS, **options}}
    spec = registry.plan(evaluation)["corpus_cloze"]
    return registry.build("corpus_cloze", spec, evaluation, seed, corpus=corpus)


def test_corpus_cloze_task(corpus):
    from transformers import AutoTokenizer

    cfg, folder = corpus
    plan = registry.plan(cfg["evaluation"])
    assert plan["corpus_cloze"] == {"source": "corpus", **OPTIONS} and plan["arc_easy"] == {"source": "olmes"}
    task = build(cfg, folder)
    assert task.metric == "acc" and task.num_shots == 0 and len(task.docs) == 30 and task.num_source_docs == 40
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer")
    held = cloze.read_heldout(folder)
    texts = {tok.decode(d["tokens"]): d["source"] for d in held}
    true = {}  # continuation -> source of the held-out document it continues
    for d in task.docs:
        assert len(d.continuations) == 4 and len(set(d.continuations)) == 4 and len(set(d.contexts)) == 1
        assert all(c.startswith(" ") and len(tok(c, add_special_tokens=False)["input_ids"]) == 8 for c in d.continuations)
        assert len(tok(d.contexts[0], add_special_tokens=False)["input_ids"]) <= 20
        source = [s for text, s in texts.items() if text.startswith(d.contexts[0] + d.continuations[d.label])]
        assert len(source) == 1  # the gold choice is the true continuation of a held-out document
        true[d.continuations[d.label]] = source[0]
    for d in task.docs:  # distractors: true continuations of other held-out documents of the same source
        others = [c for k, c in enumerate(d.continuations) if k != d.label]
        assert all(true.get(c, true[d.continuations[d.label]]) == true[d.continuations[d.label]] for c in others)
    assert len({d.label for d in task.docs}) == 4  # the gold choice's place varies
    assert build(cfg, folder).docs == task.docs and build(cfg, folder, seed=1).docs != task.docs
    any_source = build(cfg, folder, distractors="any_source", choices=6)
    assert all(len(d.continuations) == 6 for d in any_source.docs)
    assert len(build(cfg, folder, docs=35).docs) == 35  # its own count instead of evaluation.limit


def test_corpus_cloze_errors_say_what_to_change(corpus):
    cfg, folder = corpus
    with pytest.raises(TaskError, match=r"keeps 40 tokens per held-out document.*raise corpus.heldout_tokens to 48"):
        build(cfg, folder, context_tokens=40)
    with pytest.raises(TaskError, match=r"no held-out document .* has 39 distractors"):
        build(cfg, folder, choices=40)
    with pytest.raises(TaskError, match="pass its folder"):
        registry.build("corpus_cloze", registry.plan(cfg["evaluation"])["corpus_cloze"], cfg["evaluation"], 0)


def test_corpus_cloze_documents_never_in_training_shards(corpus):
    from transformers import AutoTokenizer

    cfg, folder = corpus
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer")
    train = tok.decode(np.concatenate(instances.train_shards(folder)).tolist()).split(tok.eos_token)
    task = build(cfg, folder, distractors="any_source")
    assert not any(t.startswith(d.contexts[0] + d.continuations[d.label]) for d in task.docs for t in train)


def test_corpus_cloze_scores_like_naive(corpus, tmp_path):
    """The task's requests score the same through the prefix-sharing engine as one by one."""
    from transformers import AutoTokenizer

    from taskladder.evaluate.checkpoint import (
        evaluate_task,
        load_checkpoint,
        task_requests,
        write_random_checkpoint,
    )
    from taskladder.evaluate.scoring import Scorer, score_naive

    cfg, folder = corpus
    task = build(cfg, folder)
    checkpoint = write_random_checkpoint(tmp_path / "step0000000", d_model=32, n_heads=2, seq_len=64,
                                         tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer"))
    model, tokenizer, _ = load_checkpoint(checkpoint, "cpu")
    requests, groups, truncated = task_requests(task, tokenizer, 64)
    scorer = Scorer(model, batch_tokens=256)
    ours = scorer.score(requests, groups)
    naive = score_naive(model, requests)
    assert truncated == 0 and len(requests) == 4 * len(task.docs)
    assert max(abs(ll - ref) for (ll, _), ref in zip(ours, naive)) < 1e-4
    assert scorer.last_stats.tokens < scorer.last_stats.naive_tokens  # each context computed once
    row = evaluate_task(scorer, task, tokenizer)
    assert 0 <= row["acc"] <= 1 and row["task_loss"] > 0 and row["task_ce"] > 0 and row["docs"] == 30
