"""A task as text: documents of multiple-choice questions, and the task file every checkpoint is scored on.

A task is a list of documents. A document is one multiple-choice question: for every choice
a (context, continuation) pair of strings, and the index of the gold choice. Tokenization is
left to the evaluation of a checkpoint (`taskladder.evaluate`), with the checkpoint's own
tokenizer, exactly as olmo_eval forms its requests: `context` and `continuation` are encoded
separately, the continuation keeps its leading space.

Prepared tasks (the seeded document subset, the number of shots) are written once per
experiment as JSON lines (`save_task` / `read_task`), so every checkpoint is scored on the
same documents and no evaluation job reloads a dataset.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from taskladder.base.files import atomic_path


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


def subset_indices(n: int, limit: int | None, seed: int, name: str) -> list[int]:
    """A fixed, seeded subset of `limit` of a task's `n` documents (all of them when limit is None)."""
    if limit is None or limit >= n:
        return list(range(n))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return sorted(int(i) for i in rng.choice(n, size=limit, replace=False))


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
