"""The plan of evaluation (rules/evaluate.smk): the task files, and the checkpoints of each evaluated run scored in
chunks of `evaluation.group_size` (one job each: Python and torch start-up cost more than a tiny checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass

from taskladder.base.params import canonical
from taskladder.workflow.layout import PlanPart
from taskladder.workflow.training import TrainPlan


@dataclass(frozen=True)
class EvalPlan(PlanPart):
    train: TrainPlan
    tasks: dict[str, dict]  # task -> how to build it (taskladder.tasks.registry.plan)

    @property
    def task_files(self) -> list[str]:
        return [self.layout.task_file(t) for t in self.tasks]

    def task_job(self, wildcards) -> dict:
        """A task file's params: the task's own spec, the evaluation options that change a task file, the seed (its
        document subset) and, for a task built from the corpus, the corpus folder."""
        evaluation = self.config["evaluation"]
        options = {k: evaluation[k] for k in ("limit", "num_shots", "lm_eval_include_path")}
        return canonical({"spec": self.tasks[wildcards.task], "evaluation": options, "seed": self.config["seed"],
                          "corpus": self.layout.path("corpus") if self.task_inputs(wildcards) else None})

    def task_inputs(self, wildcards) -> list[str]:
        """What building a task reads besides the packages' own data: for a task built from the corpus
        (corpus_cloze), its held-out documents and tokenizer."""
        if self.tasks[wildcards.task]["source"] != "corpus":
            return []
        return [self.layout.corpus["heldout"], self.layout.corpus["tokenizer"]]

    def chunks(self, run: str) -> dict[str, list[int]]:
        """A run's checkpoints in evaluation jobs of `evaluation.group_size`: chunk name -> steps."""
        steps, size = self.train.checkpoints[run], self.config["evaluation"]["group_size"]
        groups = [steps[i:i + size] for i in range(0, len(steps), size)]
        return {f"step{g[0]:07d}-{g[-1]:07d}": g for g in groups}

    def run_evals(self, wildcards) -> list[str]:
        return [self.layout.evals(wildcards.run, c) for c in self.chunks(wildcards.run)]

    def chunk_inputs(self, wildcards) -> list[str]:
        steps = self.chunks(wildcards.run)[wildcards.chunk]
        return sorted({self.train.checkpoint_input(wildcards.run, s) for s in steps})

    def job(self, wildcards) -> dict:
        """An evaluation job's params: its checkpoints, and the evaluation options that change an evaluation table
        (limit and shots reach it through the task files; the others: config.RUNTIME_KEYS)."""
        evaluation = self.config["evaluation"]
        steps = self.chunks(wildcards.run)[wildcards.chunk]
        return canonical({"checkpoints": [self.layout.checkpoint(wildcards.run, s) for s in steps],
                          "options": {k: evaluation[k] for k in ("overflow", "lm_loss_tokens", "device")}})

    def val_input(self, wildcards) -> list[str]:
        """The held-out tokens of the LM loss: the corpus's, for runs trained on it (an existing checkpoint has a
        tokenizer of its own; its LM loss is not measured)."""
        return [] if wildcards.run in self.train.external else [self.layout.corpus["val"]]
