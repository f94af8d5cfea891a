"""Corpus preparation: one part per input (dedup, held-out documents, shards), token-file lists and URLs, and the
merge (val slice, held-out documents, manifest). The helpers here (a small corpus config, its documents decoded)
serve the other corpus tests too."""

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
