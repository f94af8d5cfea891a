# Training: one ladder run (rung or target) -> save_pretrained checkpoints
# {results}/checkpoints/{run}/step{step:07d}/ (layout and resume rules in taskladder/train/loop.py).
# train.job run: one job per run, asked for its final checkpoint; a rerun after a kill resumes from the
# newest complete checkpoint. train.job checkpoint: the job of checkpoint k starts from checkpoint k-1
# (EXP.train.previous_checkpoint), so evaluating checkpoint k starts while the run trains on (clusters).


rule train:
    input: **EXP.corpus.training, previous=EXP.train.previous_checkpoint,
    output: directory(EXP.layout.checkpoint("{run}", "{step}")),
    wildcard_constraints: run=EXP.pattern("trained"),
    params: job=EXP.job("train"),
    threads: EXP.train.threads
    priority: EXP.train.priority
    resources: **EXP.resources["train"],
    log: EXP.log("train/{run}/step{step}"),
    conda: "../envs/train.yaml"
    script: "../scripts/train_rung.py"
