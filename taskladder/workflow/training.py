"""The plan of training and of the checkpoints evaluated here (rules/train.smk, link_checkpoint).

A training job's params are its own run's spec (size, xC, schedule, vocabulary) and the training options that
change the weights, so adding a rung, size or target never retrains a finished run; the keys that change only how a
job runs (config.RUNTIME_KEYS) reach it at run time. With train.job run, one job per run trains to its last
checkpoint; with train.job checkpoint, the job of checkpoint k starts from checkpoint k-1.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskladder.base.config import RUNTIME_KEYS
from taskladder.base.params import canonical
from taskladder.imports.sources import ExternalRun
from taskladder.train.ladder import Ladder
from taskladder.workflow.layout import PlanPart


@dataclass(frozen=True)
class TrainPlan(PlanPart):
    ladder: Ladder | None  # rungs and targets trained here
    external: dict[str, ExternalRun]  # runs of existing checkpoints, evaluated here
    checkpoints: dict[str, list[int]]  # run -> checkpoint steps, every run evaluated here

    @property
    def evaluated_runs(self) -> list[str]:
        """Every run evaluated here: the rungs and targets trained here, and the runs of existing checkpoints."""
        return list(self.checkpoints)

    @property
    def runs(self) -> list[str]:
        """Every run trained here: the rungs, then the targets."""
        return [r for r in self.checkpoints if r not in self.external]

    @property
    def per_checkpoint(self) -> bool:
        return self.config["train"]["job"] == "checkpoint"

    def job(self, wildcards) -> dict:
        """A training job's params: the run's own spec and the training options that change the weights (the
        others: config.RUNTIME_KEYS), and the seed."""
        train = self.config["train"]
        options = {k: v for k, v in train.items() if k not in RUNTIME_KEYS["train"]} | {"seed": self.config["seed"]}
        return canonical({"rung": self.ladder[wildcards.run].spec(), "options": options})

    @property
    def threads(self) -> int:
        return (self.config["train"]["threads"] or 1) * self.config["train"]["nproc"]

    def priority(self, wildcards) -> int:
        """The biggest runs first, and every training job before any evaluation (priority 0): the last run to train
        is on the critical path, an evaluation of a finished run is not."""
        order = sorted(self.runs, key=lambda r: self.ladder[r].flops)
        return 1 + order.index(wildcards.run)

    def previous_checkpoint(self, wildcards) -> list[str]:
        """What the training job of checkpoint `step` starts from: with train.job checkpoint, the run's previous
        checkpoint; with train.job run (one job per run) nothing."""
        steps = self.checkpoints[wildcards.run]
        k = steps.index(int(wildcards.step))
        return [self.layout.checkpoint(wildcards.run, steps[k - 1])] if k and self.per_checkpoint else []

    def checkpoint_input(self, run: str, step: int) -> str:
        """What a job reading checkpoint `step` of `run` depends on: the checkpoint itself with train.job checkpoint
        or for an existing checkpoint (each linked by its own job), else the run's final checkpoint (the output of
        its one training job)."""
        own = self.per_checkpoint or run in self.external
        return self.layout.checkpoint(run, step if own else self.checkpoints[run][-1])

    @property
    def final_checkpoints(self) -> list[str]:
        """The final checkpoint of every run trained here (`snakemake train_all`)."""
        return [self.layout.checkpoint(run, self.checkpoints[run][-1]) for run in self.runs]

    @property
    def released(self) -> list[str]:
        """train.keep_checkpoints final: one flag per trained run, written once its checkpoints are released."""
        if self.config["train"]["keep_checkpoints"] != "final":
            return []
        return [self.layout.released(run) for run in self.runs]

    # ---- existing checkpoints ----------------------------------------------------------------------
    def link_job(self, wildcards) -> dict:
        """A link job's params: where the checkpoint is and what it is (run, n, step, tokens)."""
        return canonical(self.external[wildcards.run].source(int(wildcards.step)))

    def link_input(self, wildcards) -> list[str]:
        """A local checkpoint directory (re-saving it relinks and re-evaluates it); a hub checkpoint: none."""
        return [p for p in [self.external[wildcards.run].source(int(wildcards.step)).get("path")] if p]
