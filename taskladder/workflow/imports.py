"""The plan of imports (rules/import.smk) and of the metrics table that holds each run.

A run log (an OLMo-ladder CSV, and a measured target's) is imported by its own job. An imported table is read and
checked when the plan is made; one import job per entry, or per entry and group, with the table as an `ancient`
input and the digest of the job's own rows as its param: it reruns when its rows change, and only then.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskladder.base.params import canonical
from taskladder.imports.sources import base_dir
from taskladder.workflow.layout import PlanPart
from taskladder.workflow.runs import Runs


@dataclass(frozen=True)
class ImportPlan(PlanPart):
    runs: Runs

    def metrics(self, run: str) -> str:
        """The metrics table that holds a run: metrics/{run}.csv, or that of its imported table (and group)."""
        entry = self.runs.table_of.get(run)
        if entry is None:
            return self.layout.metrics(run)
        return self.layout.table_metrics(entry, self.runs.tables[entry].runs[run])

    def metrics_of(self, runs) -> list[str]:
        return list(dict.fromkeys(self.metrics(r) for r in runs))

    def log_file(self, wildcards) -> str:
        return str(self.runs.log_source(wildcards.run).path)

    def log_job(self, wildcards) -> dict:
        """A run log's import job: its N and the log's format."""
        return canonical({"n": self.runs.log_source(wildcards.run).n, "format": "olmo_ladder"})

    def table_file(self, wildcards) -> str:
        return str(self.runs.tables[wildcards.entry].path)

    def table_job(self, wildcards) -> dict:
        """A table's import job: its entry, and the digest of its rows, so that it reruns when they change (its table
        is an `ancient` input: editing other rows of the file reruns nothing here)."""
        group = getattr(wildcards, "group", None)
        return canonical({"entry": wildcards.entry, "spec": self.config["imported"][wildcards.entry],
                          "base_dir": str(base_dir(self.config)), "group": group,
                          "digest": self.runs.tables[wildcards.entry].digests[group]})
