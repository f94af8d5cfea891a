"""lm-eval output directories as imported runs: real output of lm-eval's own evaluator on a tiny model."""
import json
import shutil

import numpy as np
import pytest

from taskladder.base.metrics_table import InputError
from taskladder.evaluate.checkpoint import (
    evaluate_task,
    load_model,
    write_random_checkpoint,
)
from taskladder.evaluate.scoring import Scorer
from taskladder.imports.entry import check_entry
from taskladder.imports.tables import missing_metrics, read_entry
from taskladder.tasks.lm_eval_tasks import build_lm_eval

STEPS = {10: 40_000, 20: 80_000}  # step -> tokens


def write_tasks(folder):
    """Two local multiple-choice tasks (lm-eval tasks can read local JSON files): one reports acc and acc_norm,
    the other acc only."""
    data = folder / "qa.jsonl"
    with open(data, "w") as f:
        for i in range(6):
            f.write(json.dumps({"question": f"What comes after {i}?", "choices": [str(i + 1), "blue", "a small cat"],
                                "label": i % 3}) + "\n")
    for task, metrics in (("tiny_qa", ["acc", "acc_norm"]), ("tiny_yes", ["acc"])):
        listed = "".join(f"  - metric: {m}\n" for m in metrics)
        (folder / f"{task}.yaml").write_text(f"""task: {task}
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
{listed}""")
    return folder


def lm_eval_run(out_dir, checkpoints, tasks_dir, log_samples):
    """What `lm_eval --model taskladder --model_args pretrained=CKPT --output_path OUT [--log_samples]` writes for
    each checkpoint (lm-eval's evaluator and its EvaluationTracker, as its command line calls them), and the
    manifest."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    import taskladder.evaluate.lm_eval_model  # noqa: F401  (registers the "taskladder" model)

    manager = TaskManager(include_path=str(tasks_dir), include_defaults=False)
    listed = []
    for step, ckpt in checkpoints.items():
        tracker = EvaluationTracker(output_path=str(out_dir / f"step{step}"))
        results = simple_evaluate(model="taskladder", model_args=f"pretrained={ckpt},device=cpu",
                                  tasks=["tiny_qa", "tiny_yes"], task_manager=manager, log_samples=log_samples,
                                  evaluation_tracker=tracker)
        samples = results.pop("samples", None)
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"] if log_samples else []:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        listed.append(f"  - {{results: step{step}, step: {step}, tokens: {STEPS[step]}}}\n")
    (out_dir / "manifest.yaml").write_text("n: 123456\ncheckpoints:\n" + "".join(listed))
    return out_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval")
    tasks_dir = write_tasks(root)
    checkpoints = {step: write_random_checkpoint(root / "ckpt" / f"step{step}", d_model=32, n_layers=1, seq_len=128,
                                                 seed=step) for step in STEPS}
    with_samples = lm_eval_run(root / "with_samples", checkpoints, tasks_dir, log_samples=True)
    without = lm_eval_run(root / "without_samples", checkpoints, tasks_dir, log_samples=False)
    return root, checkpoints, with_samples, without


def test_task_loss_from_the_samples_equals_our_evaluation(runs):
    root, checkpoints, with_samples, _ = runs
    m = read_entry("tiny", {"file": str(with_samples), "format": "lm_eval"})
    assert sorted(m["task"].unique()) == ["tiny_qa", "tiny_yes"] and list(m["step"].unique()) == [10, 20]
    assert (m["n"] == 123456).all() and m.set_index("step")["tokens"].to_dict() == STEPS
    for step, ckpt in checkpoints.items():
        model, tokenizer = load_model(ckpt, "cpu")
        task = build_lm_eval("tiny_qa", include_path=str(root))
        ours = evaluate_task(Scorer(model), task, tokenizer)  # taskladder's own scorer on the same documents
        row = m[(m["step"] == step) & (m["task"] == "tiny_qa")].iloc[0]
        assert row["task_loss"] == pytest.approx(ours["task_loss"], rel=1e-4)
        assert row["task_ce"] == pytest.approx(ours["task_ce"], rel=1e-4)
        results = json.loads(next((with_samples / f"step{step}").rglob("results_*.json")).read_text())["results"]
        assert row["acc"] == results["tiny_qa"]["acc_norm,none"]  # lm-eval's acc_norm where the task reports it
        yes = m[(m["step"] == step) & (m["task"] == "tiny_yes")].iloc[0]
        assert yes["acc"] == results["tiny_yes"]["acc,none"]  # else its acc
        assert yes["task_loss"] > 0
    assert missing_metrics(m) == {"tiny_qa": ["lm_loss", "acc_mc"], "tiny_yes": ["lm_loss", "acc_mc"]}


def test_without_samples_the_run_has_accuracy_only(runs):
    _, _, with_samples, without = runs
    m = read_entry("tiny", {"file": str(without), "format": "lm_eval"})
    full = read_entry("tiny", {"file": str(with_samples), "format": "lm_eval"})
    np.testing.assert_array_equal(m["acc"], full["acc"])
    assert m["task_loss"].isna().all() and m["task_ce"].isna().all()
    assert missing_metrics(m)["tiny_qa"] == ["task_loss", "task_ce", "lm_loss", "acc_mc"]
    # a config that needs the task loss says so at the source
    with pytest.raises(InputError, match=r"without_samples: no task_loss of task 'tiny_qa'.*--log_samples"):
        read_entry("tiny", {"file": str(without), "format": "lm_eval", "optional": []})


def test_manifest_inline_names_tasks_and_group(runs, tmp_path):
    _, _, with_samples, _ = runs
    entry = {"file": str(with_samples), "format": "lm_eval", "task_names": {"qa": "tiny_qa"}, "group": "web",
             "manifest": {"n": 99_000, "seed": 3, "checkpoints": [{"results": "step20", "step": 20, "tokens": 80_000}]}}
    copy = tmp_path / "run"
    shutil.copytree(with_samples / "step20", copy / "step20")
    m = read_entry("tiny", dict(entry, file=str(copy)), tasks=["qa"])
    assert list(m["task"]) == ["qa"] and m["n"].iloc[0] == 99_000 and m["group"].iloc[0] == "web"
    assert m["seed"].iloc[0] == 3 and m["step"].iloc[0] == 20
    with pytest.raises(InputError, match=r"unknown task name\(s\) \['hellaswag'\]"):
        read_entry("tiny", dict(entry, file=str(copy)), tasks=["hellaswag"])


@pytest.mark.parametrize("old, new, expected", [
    ("  - {results: step20, step: 20, tokens: 80000}\n", "",
     r"run: results file\(s\) \['step20/.*json'\] are not in the manifest"),
    ("step: 20,", "step: 10,", r"duplicate step 10 in step10/.*, step20/"),
    ("tokens: 80000", "tokens: 30000", r"run: run 'r': tokens decrease with step, 40000 at step 10 \(step10/"),
    ("n: 123456\n", "", r"manifest.yaml: n: expected the run's non-embedding parameters"),
    ("checkpoints:", "checkpoint:", r"manifest.yaml: expected a mapping with `checkpoints`"),
])
def test_manifest_errors(runs, tmp_path, old, new, expected):
    run = tmp_path / "run"
    shutil.copytree(runs[2], run)
    manifest = run / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace(old, new))
    with pytest.raises(InputError, match=expected):
        read_entry("r", {"file": str(run), "format": "lm_eval"})


def test_missing_manifest_and_broken_samples(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs[2], run)
    (run / "manifest.yaml").unlink()
    with pytest.raises(InputError, match=r"run/manifest.yaml: manifest not found"):
        read_entry("r", {"file": str(run), "format": "lm_eval"})
    next(run.rglob("samples_tiny_qa_*.jsonl")).write_text('{"doc_id": 0}\n')
    manifest = {"n": 5000, "checkpoints": [{"results": "step10", "step": 10, "tokens": 1},
                                        {"results": "step20", "step": 20, "tokens": 2}]}
    with pytest.raises(InputError, match=r"samples_tiny_qa_.*jsonl: line 1: not an lm-eval sample"):
        read_entry("r", {"file": str(run), "format": "lm_eval", "manifest": manifest})


def test_an_lm_eval_entry_is_the_lm_eval_preset():
    spec = check_entry("r", {"file": "runs/r", "format": "lm_eval", "overrides": {"boolq": {"acc": "{task}/acc,none"}}})
    assert spec["preset"] == "lm_eval" and spec["metrics"]["acc"] == ["{task}/acc_norm,none", "{task}/acc,none"]
    assert spec["overrides"] == {"boolq": {"acc": ["{task}/acc,none"]}}
    assert spec["task_names"]["csqa"] == "commonsense_qa"


def test_lm_eval_command_line_without_cuda(runs, tmp_path):
    """`taskladder-lm-eval --model taskladder --model_args pretrained=CKPT --tasks ...` as the README shows it: lm-eval
    passes --device cuda:0 unless told otherwise, and a machine without CUDA scores on the CPU."""
    import os
    import subprocess
    import sys

    root, checkpoints, _, _ = runs
    proc = subprocess.run([sys.executable, "-m", "taskladder.evaluate.lm_eval_model", "--model", "taskladder",
                           "--model_args", f"pretrained={checkpoints[10]}", "--tasks", "tiny_qa", "--include_path",
                           str(root), "--output_path", str(tmp_path / "out")],
                          capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CUDA is not available on this machine; scoring on the CPU" in proc.stderr
    assert list((tmp_path / "out").rglob("results*.json"))


def results_run(folder, results, manifest=b"n: 5000\ncheckpoints: [{results: results_1.json, step: 1, tokens: 10}]\n"):
    """A run folder of one hand-written results file and its manifest."""
    folder.mkdir()
    (folder / "results_1.json").write_text(json.dumps({"results": results}))
    (folder / "manifest.yaml").write_bytes(manifest)
    return {"file": str(folder), "format": "lm_eval"}


@pytest.mark.parametrize("results, expected", [
    ({"tiny_qa": [0.5]}, r"results_1.json: results.tiny_qa: expected a mapping of metric values \(\"acc,none\": "
                         r"0.5\), found \[0.5\]"),
    ({"tiny_qa": {"acc,none": "0.5"}}, r"run: no task to import: none of its results holds a metric value that is a "
                                       "number"),
])
def test_results_without_numbers_are_named(tmp_path, results, expected):
    """A task's results as a list ended in an AttributeError's traceback; as text, in 'No objects to concatenate'."""
    with pytest.raises(InputError, match=expected):
        read_entry("r", results_run(tmp_path / "run", results))


def test_a_manifest_that_is_not_utf8_is_named(tmp_path):
    entry = results_run(tmp_path / "run", {"tiny_qa": {"acc,none": 0.5}}, manifest=b"n: 5000\n# caf\xe9\n")
    with pytest.raises(InputError, match=r"run/manifest.yaml: not UTF-8 text \(invalid continuation byte at byte 13\); "
                                         "expected a UTF-8 YAML file"):
        read_entry("r", entry)
