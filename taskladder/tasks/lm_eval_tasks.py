"""Any lm-eval task, by its registry name, as documents."""

from __future__ import annotations

import difflib

import numpy as np

from taskladder.tasks.documents import Doc, Task, TaskError, subset_indices


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


def build_lm_eval(task: str, *, name: str | None = None, limit: int | None = None, num_shots: int | None = None,
                  seed: int = 0, include_path: str | None = None) -> Task:
    """An lm-eval multiple-choice task; accuracy is ranked per character like OLMES RC tasks."""
    name = name or task
    docs, n, shots = _lm_eval_docs(task, num_shots, lambda n: subset_indices(n, limit, seed, name), include_path,
                                   seed)
    return Task(name, f"lm_eval:{task}", "len_norm", shots, n, docs)
