# Checkpoints (trained here or existing ones) -> evaluation tables -> the metrics table of each evaluated run (the long
# format: one row per checkpoint and task). One job scores a chunk of evaluation.group_size consecutive checkpoints
# of a run (EXP.evaluation.chunks). The jobs share the group "evaluate" (cluster: --group-components evaluate=N).


rule prepare_task:
    input: EXP.evaluation.task_inputs,
    output: EXP.layout.task_file("{task}"),
    params: job=EXP.job("prepare_task"),
    resources: **EXP.resources["prepare"],
    log: EXP.log("tasks/{task}"),
    conda: "../envs/evaluate.yaml"
    script: "../scripts/prepare_task.py"


# An existing checkpoint (config `checkpoints`): linked into the layout training writes, then evaluated as a rung's.
rule link_checkpoint:
    input: EXP.train.link_input,
    output: directory(EXP.layout.checkpoint("{run}", "{step}")),
    wildcard_constraints: run=EXP.pattern("external"),
    params: job=EXP.job("link_checkpoint"),
    resources: **EXP.resources["prepare"],
    log: EXP.log("link/{run}/step{step}"),
    conda: "../envs/evaluate.yaml"
    script: "../scripts/link_checkpoint.py"


rule evaluate:
    input: checkpoints=EXP.evaluation.chunk_inputs, tasks=EXP.evaluation.task_files, val=EXP.evaluation.val_input,
    output: EXP.layout.evals("{run}", "{chunk}"),
    params: job=EXP.job("evaluate"),
    threads: 1
    resources: **EXP.resources["evaluate"],
    group: "evaluate"
    log: EXP.log("evaluate/{run}/{chunk}"),
    conda: "../envs/evaluate.yaml"
    script: "../scripts/evaluate_checkpoint.py"


rule collect_metrics:
    input: EXP.evaluation.run_evals,
    output: EXP.layout.metrics("{run}"),
    wildcard_constraints: run=EXP.pattern("evaluated"),
    resources: **EXP.resources["fit"],
    log: EXP.log("metrics/{run}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/collect_metrics.py"


# train.keep_checkpoints final: once a run's metrics are written, delete its intermediate checkpoints
# (idempotent: a killed job deletes the rest when rerun). The flag lists them; rule all asks for it.
rule release_checkpoints:
    input: EXP.layout.metrics("{run}"),
    output: EXP.layout.released("{run}"),
    wildcard_constraints: run=EXP.pattern("trained"),
    resources: **EXP.resources["fit"],
    log: EXP.log("release/{run}"),
    conda: "../envs/train.yaml"
    script: "../scripts/release_checkpoints.py"
