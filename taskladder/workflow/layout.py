"""Where every file of an experiment goes, one function per kind of file.

    results/{experiment}/
        corpus/                 manifest.json, val.npy, heldout.jsonl, train/, tokenizer/    corpus_* , prepare_corpus
        tasks/{task}.jsonl                                                                  prepare_task
        checkpoints/{run}/step{step:07d}/                                                   train, link_checkpoint
        evals/{run}/step{first:07d}-{last:07d}.csv                                          evaluate (a chunk)
        metrics/{run}.csv                                                                   collect_metrics, import_run
        metrics/{entry}.csv, metrics/{entry}/{group}.csv (an imported table)                import_table, import_group
        methods/{method}/{fits,predictions,points,backtest,draws,calibration}.csv           fit_method
        methods/{ensemble}/{predictions,backtest,draws,calibration,weights}.csv             fit_ensemble
        figures/{method}/{step1,step2,chained}.{format}, figures/{ensemble}/members.{format}  figures_*
        fits.csv, predictions.csv (with flags)                                              tables
        analyses/backtest.csv, calibration.csv, predictability.csv                          tables
        analyses/{variance,compute_vs_error,group_comparison}.csv (+ figures), backtest.{format}   analyses
        report.rst                                                                          report_page
        logs/{rule}/...                                                                     every rule

With groups (one ladder per data recipe), methods/{method}/ and figures/{method}/ hold a folder per group.
The names of the tables and figures come from the registries of the modules that write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from taskladder.base.files import checkpoint_dir
from taskladder.fit.ensemble import TABLES as ENSEMBLE_TABLES
from taskladder.fit.methods import MethodResult
from taskladder.report.registry import ENSEMBLE_FIGURES, METHOD_FIGURES

CORPUS_FILES = {"index": "decontamination.npz", "tokenizer": "tokenizer", "manifest": "manifest.json",
                "val": "val.npy", "heldout": "heldout.jsonl"}


@dataclass(frozen=True)
class Layout:
    results: Path
    groups: tuple[str, ...] = ()
    figure_format: str = "png"

    def path(self, *parts: str) -> str:
        return str(self.results.joinpath(*parts))

    def log(self, name: str) -> str:
        return self.path("logs", f"{name}.log")

    def in_group(self, name: str) -> str:
        """A per-method log's name, per group where the experiment has groups ({name}/{group})."""
        return f"{name}/{{group}}" if self.groups else name

    # ---- corpus, tasks, checkpoints, evaluations, metrics --------------------------------------
    @property
    def corpus(self) -> dict[str, str]:
        """The files the corpus jobs write (layout: taskladder.corpus.prepare)."""
        return {k: self.path("corpus", v) for k, v in CORPUS_FILES.items()}

    def task_file(self, task: str) -> str:
        return self.path("tasks", f"{task}.jsonl")

    def checkpoint(self, run: str, step: int | str) -> str:
        return str(checkpoint_dir(self.results / "checkpoints" / run, step))

    def released(self, run: str) -> str:
        return self.path("checkpoints", run, "released.txt")

    def evals(self, run: str, chunk: str) -> str:
        return self.path("evals", run, f"{chunk}.csv")

    def metrics(self, run: str) -> str:
        return self.path("metrics", f"{run}.csv")

    def table_metrics(self, entry: str, group: str | None = None) -> str:
        """The metrics table an imported table entry's job (of one of its groups) writes."""
        return self.path("metrics", f"{entry}.csv") if group is None else self.path("metrics", entry, f"{group}.csv")

    # ---- methods and their figures ---------------------------------------------------------------
    def _grouped(self, kind: str, method: str, group: str | None, name: str) -> str:
        """results/{kind}/{method}/{name}, or with groups results/{kind}/{method}/{group}/{name}."""
        if self.groups and group is None:
            raise ValueError(f"{kind}/{method}/{name}: the experiment has groups {list(self.groups)}; name one")
        return self.path(kind, method, *([group] if self.groups else []), name)

    def method_tables(self, method: str, ensemble: bool, group: str | None = None) -> dict[str, str]:
        """A method's own tables (of a group's ladder); "{method}", "{group}" give the wildcard form."""
        names = ENSEMBLE_TABLES if ensemble else MethodResult.TABLES
        return {t: self._grouped("methods", method, group, f"{t}.csv") for t in names}

    def figures(self, method: str, ensemble: bool, group: str | None = None) -> dict[str, str]:
        return {f: self.figure(method, f, group) for f in (ENSEMBLE_FIGURES if ensemble else METHOD_FIGURES)}

    def figure(self, method: str, name: str, group: str | None = None) -> str:
        return self._grouped("figures", method, group, f"{name}.{self.figure_format}")

    # ---- summary tables, analyses, report ----------------------------------------------------------
    def table(self, name: str) -> str:
        return self.path(f"{name}.csv")

    def analysis(self, name: str) -> str:
        """A table of an analysis: `analysis("variance")` is analyses/variance.csv."""
        return self.path("analyses", f"{name}.csv")

    def analysis_figure(self, name: str) -> str:
        return self.path("analyses", f"{name}.{self.figure_format}")

    @property
    def report_page(self) -> str:
        """The report's first page (`snakemake --report`): the predictions and the headline figures."""
        return self.path("report.rst")


@dataclass(frozen=True)
class PlanPart:
    """What every part of the plan reads: the validated config, and where every file goes."""

    config: dict = field(repr=False)
    layout: Layout
