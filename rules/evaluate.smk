# Checkpoints -> per-checkpoint task metrics -> the per-run metrics table (DESIGN.md's long format).
#
# Needs RESULTS, RESOURCES and, from rules/train.smk, TRAIN_RUNS, checkpoint_steps(run), checkpoint_dir(run, step)
# and checkpoint_input(run, step): what a job reading a checkpoint depends on (the checkpoint itself
# when training runs one job per checkpoint, else the run's final checkpoint).
#
# Every checkpoint gets its own output file, but one job evaluates `evaluation.group_size` consecutive
# checkpoints of a run: Python + torch start-up costs seconds, more than scoring a tiny checkpoint.
# Those jobs also share the Snakemake group "evaluate" (for cluster submission: --group-components evaluate=N).
from taskladder.tasks import plan as eval_plan

EVAL = config["evaluation"]
EVAL_TASKS = eval_plan(EVAL)
EVAL_CHECKPOINTS = {run: checkpoint_steps(run) for run in TRAIN_RUNS}


def _eval_chunks():
    size = EVAL["group_size"]
    for run, steps in EVAL_CHECKPOINTS.items():
        steps = sorted(steps)
        for i in range(0, len(steps), size):
            yield run, steps[i:i + size]


rule prepare_task:
    output:
        f"{RESULTS}/tasks/{{task}}.jsonl",
    wildcard_constraints:
        task="|".join(map(re.escape, EVAL_TASKS)) or "^$",
    params:
        spec=lambda w: EVAL_TASKS[w.task],
        evaluation={k: EVAL[k] for k in ("limit", "num_shots", "lm_eval_include_path")},
        seed=config["seed"],
    resources:
        **RESOURCES["prepare"],
    log:
        f"{RESULTS}/logs/tasks/{{task}}.log",
    script:
        "../scripts/prepare_task.py"


for _i, (_run, _steps) in enumerate(_eval_chunks()):

    rule:
        name:
            f"evaluate_{_i}"
        input:
            checkpoints=sorted({checkpoint_input(_run, s) for s in _steps}),
            tasks=expand(f"{RESULTS}/tasks/{{task}}.jsonl", task=EVAL_TASKS),
            val=f"{RESULTS}/corpus/val.npy",
        output:
            [f"{RESULTS}/evals/{_run}/step{s:07d}.csv" for s in _steps],
        params:
            checkpoints=[checkpoint_dir(_run, s) for s in _steps],
            evaluation=EVAL,
        threads: 1
        resources:
            **RESOURCES["evaluate"],
        group:
            "evaluate"
        log:
            f"{RESULTS}/logs/evaluate/{_run}-{_steps[0]:07d}.log",
        script:
            "../scripts/evaluate_checkpoint.py"


rule collect_metrics:
    input:
        lambda w: [f"{RESULTS}/evals/{w.run}/step{s:07d}.csv" for s in sorted(EVAL_CHECKPOINTS[w.run])],
    output:
        f"{RESULTS}/metrics/{{run}}.csv",
    wildcard_constraints:
        run="|".join(map(re.escape, EVAL_CHECKPOINTS)) or "^$",
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/metrics/{{run}}.log",
    script:
        "../scripts/collect_metrics.py"


# train.keep_checkpoints: final -> once a run's metrics are written, delete its intermediate
# checkpoints (idempotent: a killed job deletes the rest when rerun). The flag file lists them.
if config["train"]["keep_checkpoints"] == "final":
    RELEASED = [f"{CHECKPOINTS}/{run}/released.txt" for run in TRAIN_RUNS]  # rule all asks for them

    rule release_checkpoints:
        input:
            f"{RESULTS}/metrics/{{run}}.csv",
        output:
            f"{CHECKPOINTS}/{{run}}/released.txt",
        wildcard_constraints:
            run="|".join(map(re.escape, TRAIN_RUNS)),
        resources:
            **RESOURCES["fit"],
        log:
            f"{RESULTS}/logs/release/{{run}}.log",
        script:
            "../scripts/release_checkpoints.py"
