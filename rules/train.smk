# Training: one ladder run (rung or target) -> save_pretrained checkpoints
#   {RESULTS}/checkpoints/{run}/step{step:07d}/   (layout and resume rules in taskladder/train.py)
#
# train.job: run          one job per run; its output is the run's last checkpoint. A rerun after a
#                         kill resumes from the newest complete checkpoint; Snakemake never sees (so
#                         never deletes) the intermediate ones. Fewest process start-ups (CPU).
# train.job: checkpoint   job k trains checkpoint k from checkpoint k-1, so evaluating checkpoint k
#                         can start while the run trains on (clusters).
# Rules that read checkpoint k depend on `checkpoint_input(run, step)` and read `checkpoint_dir(run, step)`.
# Needs RESULTS, RESOURCES (Snakefile) and CORPUS (rules/data.smk).
import re as _re

from taskladder.ladder import build as _build_ladder

LADDER = _build_ladder(config)
TRAIN_RUNS = [r.name for r in LADDER.runs]  # rungs, then targets
CHECKPOINTS = f"{RESULTS}/checkpoints"


def checkpoint_dir(run, step):
    return f"{CHECKPOINTS}/{run}/step{int(step):07d}"


def checkpoint_steps(run):
    return list(LADDER[run].checkpoints)


def checkpoint_input(run, step):
    """What a rule reading checkpoint `step` of `run` must depend on."""
    if int(step) not in LADDER[run].checkpoints:
        raise ValueError(f"{run}: step {step} is not a checkpoint; checkpoints: {checkpoint_steps(run)}")
    if config["train"]["job"] == "checkpoint":
        return checkpoint_dir(run, step)
    return checkpoint_dir(run, LADDER[run].steps)


def final_checkpoints():
    return [checkpoint_dir(r.name, r.steps) for r in LADDER.runs]


_TRAIN_THREADS = (config["train"]["threads"] or 1) * config["train"]["nproc"]
# only what changes the weights: editing fit or evaluation options must not retrain. The training
# options that do not change them (_TRAIN_ONLY) reach the script through snakemake.config instead.
_TRAIN_ONLY = ("job", "log_every", "keep_checkpoints")
_TRAIN_CONFIG = {k: config.get(k) for k in ("experiment", "seed", "tokenizer", "ladder")}
_TRAIN_CONFIG["train"] = {k: v for k, v in config["train"].items() if k not in _TRAIN_ONLY}


if config["train"]["job"] == "checkpoint":

    def _previous_checkpoint(w):
        steps = checkpoint_steps(w.run)
        k = steps.index(int(w.step))  # checkpoint_input() has checked the step
        return [checkpoint_dir(w.run, steps[k - 1])] if k else []

    rule train_segment:
        input:
            **CORPUS,
            previous=_previous_checkpoint,
        output:
            directory(f"{CHECKPOINTS}/{{run}}/step{{step}}"),
        wildcard_constraints:
            run="|".join(map(_re.escape, TRAIN_RUNS)),
            step=r"\d{7}",
        params:
            run=lambda w: w.run,
            until=lambda w: int(w.step),
            config=_TRAIN_CONFIG,
        threads: _TRAIN_THREADS
        resources:
            **RESOURCES["train"],
        log:
            f"{RESULTS}/logs/train/{{run}}/step{{step}}.log",
        script:
            "../scripts/train_rung.py"

else:
    # biggest runs first, and every run before any evaluation job (priority 0): the last run to train
    # is on the critical path, an evaluation of a finished run is not
    _PRIORITY = {r.name: 1 + i for i, r in enumerate(sorted(LADDER.runs, key=lambda r: r.flops))}

    for _run in LADDER.runs:

        rule:
            name:
                "train_" + _re.sub(r"\W", "_", _run.name)
            input:
                **CORPUS,
            output:
                directory(checkpoint_dir(_run.name, _run.steps)),
            params:
                run=_run.name,
                until=_run.steps,
                config=_TRAIN_CONFIG,
            threads: _TRAIN_THREADS
            priority: _PRIORITY[_run.name]
            resources:
                **RESOURCES["train"],
            log:
                f"{RESULTS}/logs/train/{_run.name}.log",
            script:
                "../scripts/train_rung.py"


rule train_all:
    input:
        final_checkpoints(),
