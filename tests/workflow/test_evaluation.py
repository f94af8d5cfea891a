"""The plan of evaluation: task files, and each run's checkpoints scored in chunks of evaluation.group_size."""

from types import SimpleNamespace

from test_experiment import planned


def test_checkpoints_are_scored_in_chunks(monkeypatch):
    smoke = planned("smoke", monkeypatch)
    evaluation = {**smoke.config["evaluation"], "group_size": 2}
    plan = planned("smoke", evaluation=evaluation).evaluation
    steps = plan.train.checkpoints["s1-0.1xC"]  # 5 checkpoints: chunks of 2, 2, 1
    chunks = plan.chunks("s1-0.1xC")
    assert list(chunks.values()) == [steps[:2], steps[2:4], steps[4:]]
    assert list(chunks)[0] == f"step{steps[0]:07d}-{steps[1]:07d}"
    w = SimpleNamespace(run="s1-0.1xC", chunk=list(chunks)[1])
    job = plan.job(w)
    assert job["checkpoints"] == [plan.layout.checkpoint("s1-0.1xC", s) for s in steps[2:4]]
    assert set(job["options"]) == {"overflow", "lm_loss_tokens", "device"}  # group_size, batch_tokens: how, not what
    assert plan.run_evals(SimpleNamespace(run="s1-0.1xC")) == [plan.layout.evals("s1-0.1xC", c) for c in chunks]
    assert plan.chunk_inputs(w) == [plan.layout.checkpoint("s1-0.1xC", steps[-1])]  # train.job run: the run's job
    assert plan.val_input(w) == [plan.layout.corpus["val"]]
    assert planned("smoke", evaluation={**evaluation, "batch_tokens": 1024}).evaluation.job(w) == job


def test_a_task_file_depends_on_its_own_spec(monkeypatch):
    smoke = planned("smoke", monkeypatch)
    plan = smoke.evaluation
    assert plan.task_files == [plan.layout.task_file(t) for t in ("hellaswag", "arc_easy", "piqa")]
    job = plan.task_job(SimpleNamespace(task="piqa"))
    assert job == {"corpus": None, "evaluation": {"limit": 10, "lm_eval_include_path": None, "num_shots": 0},
                   "seed": 0, "spec": {"source": "olmes"}}
    assert plan.task_inputs(SimpleNamespace(task="piqa")) == []
    evaluation = {**smoke.config["evaluation"], "tasks": ["piqa", "corpus_cloze"]}
    analyses = {**smoke.config["analyses"], "variance": {**smoke.config["analyses"]["variance"], "tasks": ["piqa"]}}
    cloze = planned("smoke", evaluation=evaluation, fit={**smoke.config["fit"], "tasks": ["piqa"]},
                    analyses=analyses).evaluation
    w = SimpleNamespace(task="corpus_cloze")
    assert cloze.task_job(w)["corpus"] == "results/smoke/corpus"
    assert cloze.task_inputs(w) == [plan.layout.corpus["heldout"], plan.layout.corpus["tokenizer"]]
    assert cloze.task_job(SimpleNamespace(task="piqa")) == job  # adding a task changes no other task's file
