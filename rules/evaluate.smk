# Checkpoints (trained here or existing ones) -> evaluation tables -> the metrics table of each evaluated run (the long
# format: one row per checkpoint and task).
# One job scores a chunk of evaluation.group_size consecutive checkpoints of a run (EXP.chunks): Python
# and torch start-up cost more than scoring a tiny checkpoint. The jobs share the group "evaluate"
# (cluster submission: --group-components evaluate=N).


rule prepare_task:
    input: EXP.task_inputs,
    output: EXP.task_file("{task}"),
    params: spec=EXP.task_spec, evaluation=EXP.task_options, seed=config["seed"], corpus=EXP.task_corpus,
    resources: **EXP.resources["prepare"],
    log: EXP.log("tasks/{task}"),
    conda: "../envs/evaluate.yaml"
    script: "../scripts/prepare_task.py"


# An existing checkpoint (config `checkpoints`): linked into the layout training writes, then evaluated as a rung's.
rule link_checkpoint:
    input: EXP.external_input,
    output: directory(EXP.checkpoint("{run}", "{step}")),
    wildcard_constraints: run=EXP.pattern("external"),
    params: source=EXP.external_source,
    resources: **EXP.resources["prepare"],
    log: EXP.log("link/{run}/step{step}"),
    conda: "../envs/evaluate.yaml"
    script: "../scripts/link_checkpoint.py"


rule evaluate:
    input: checkpoints=EXP.chunk_inputs, tasks=EXP.task_files, val=EXP.val_input,
    output: EXP.evals("{run}", "{chunk}"),
    params: checkpoints=EXP.chunk_checkpoints, evaluation=EXP.evaluate_options,
    threads: 1
    resources: **EXP.resources["evaluate"],
    group: "evaluate"
    log: EXP.log("evaluate/{run}/{chunk}"),
    conda: "../envs/evaluate.yaml"
    script: "../scripts/evaluate_checkpoint.py"


rule collect_metrics:
    input: EXP.run_evals,
    output: EXP.metrics("{run}"),
    wildcard_constraints: run=EXP.pattern("evaluated"),
    resources: **EXP.resources["fit"],
    log: EXP.log("metrics/{run}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/collect_metrics.py"


# train.keep_checkpoints final: once a run's metrics are written, delete its intermediate checkpoints
# (idempotent: a killed job deletes the rest when rerun). The flag lists them; rule all asks for it.
rule release_checkpoints:
    input: EXP.metrics("{run}"),
    output: EXP.path("checkpoints", "{run}", "released.txt"),
    wildcard_constraints: run=EXP.pattern("trained"),
    resources: **EXP.resources["fit"],
    log: EXP.log("release/{run}"),
    conda: "../envs/train.yaml"
    script: "../scripts/release_checkpoints.py"
