"""A task as documents, and the task file every checkpoint is scored on."""

import pytest

from taskladder.tasks import documents
from taskladder.tasks.documents import Doc, Task, TaskError


def test_save_and_read_roundtrip(tmp_path):
    task = Task("x", "olmes:x", "len_norm", 5, 10, [Doc(3, ("c é", "c"), (" a", " b"), 1)])
    documents.save_task(task, tmp_path / "x.jsonl")
    assert documents.read_task(tmp_path / "x.jsonl") == task
    (tmp_path / "bad.jsonl").write_text("{}\n")
    with pytest.raises(TaskError, match="bad.jsonl: not a prepared task file"):
        documents.read_task(tmp_path / "bad.jsonl")


def test_subset_is_all_docs_without_limit():
    assert documents.subset_indices(5, None, 0, "x") == [0, 1, 2, 3, 4]
    assert documents.subset_indices(5, 9, 0, "x") == [0, 1, 2, 3, 4]
    assert len(documents.subset_indices(100, 7, 0, "x")) == 7
    a, b = documents.subset_indices(100, 7, 0, "x"), documents.subset_indices(100, 7, 0, "y")
    assert a == sorted(set(a)) and a == documents.subset_indices(100, 7, 0, "x")  # fixed by seed and task name
    assert a != b and a != documents.subset_indices(100, 7, 1, "x")


def test_a_task_file_without_documents_is_refused(tmp_path):
    documents.save_task(Task("x", "olmes:x", "acc", 0, 10, []), tmp_path / "x.jsonl")
    with pytest.raises(TaskError, match="task x has no documents"):
        documents.read_task(tmp_path / "x.jsonl")
