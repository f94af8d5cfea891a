"""The plan of an experiment: what a validated config asks the workflow to do, and where every file goes.

One `Experiment`, built once in the Snakefile (and by the command line), knows every run, checkpoint,
task, method and path of the results layout; the rule files read it and share nothing else. The
params it gives a job hold only what changes that job's output, so adding a rung, size, target,
method or task never reruns a finished job whose output would not change.

    results/{experiment}/                          (io.results_dir)
        corpus/                 manifest.json, val.npy, train/, tokenizer/        prepare_corpus
        tasks/{task}.jsonl                                                        prepare_task
        checkpoints/{run}/step{step:07d}/                                         train, link_checkpoint
        evals/{run}/step{first:07d}-{last:07d}.csv                                evaluate (a chunk of checkpoints)
        metrics/{run}.csv                                                         collect_metrics, import_run
        metrics/{entry}.csv, metrics/{entry}/{group}.csv (an imported table)      import_table, import_group
        methods/{method}/{fits,predictions,points,backtest,draws,calibration}.csv fit_method
        methods/{ensemble}/{predictions,backtest,draws,calibration,weights}.csv   fit_ensemble
        figures/{method}/{step1,step2,chained}.{format}, figures/{ensemble}/members.{format}   figures_method
        fits.csv, predictions.csv (with flags)                                    tables
        analyses/backtest.csv, calibration.csv, predictability.csv                tables
        analyses/backtest.{format}                                                backtest
        analyses/variance.csv, compute_vs_error.csv (+ figures)                   variance, compute_vs_error
        analyses/group_comparison.csv (+ figure), with groups                     group_comparison
        report.rst                                                                report_page (the report's first page)
        logs/{rule}/...                                                           every rule

With groups (one ladder per data recipe), methods/{method}/ and figures/{method}/ hold a folder per group,
{group}/, laid out as above.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from taskladder.base.config import RUNTIME_KEYS, ConfigError, schema
from taskladder.base.files import checkpoint_dir, results_dir
from taskladder.fit.points import needed_metrics
from taskladder.imports.entry import KNOWN_TASKS
from taskladder.imports.sources import (
    HUB_ID,
    ExternalRun,
    ImportedTable,
    check_name,
    is_run_log,
    plan_checkpoints,
    read_table,
)
from taskladder.train.ladder import Ladder

FIGURES = ("step1", "step2", "chained")  # per fitted method (taskladder.plots.FIGURES)
ENSEMBLE_FIGURES = ("members",)  # per ensemble (taskladder.plots.members_figure)
METHOD_TABLES = ("fits", "predictions", "points", "backtest", "draws", "calibration")  # methods.fit_and_write
ENSEMBLE_TABLES = ("predictions", "backtest", "draws", "calibration", "weights")  # ensemble.fit_and_write
TABLES = ("predictions", "fits")  # every method's, gathered by rule tables (predictions with their flags)
ANALYSIS_TABLES = ("backtest", "calibration", "predictability")  # written by rule tables too
HEADLINE_METHODS = ("ensemble", "two_step")  # the report's first page leads with the first there is


@dataclass(frozen=True)
class ImportedRun:
    """A run log: one OLMo-ladder CSV (an `imported` entry {file, n, ladder, group})."""

    name: str
    n: int
    path: Path
    ladder: bool = True  # False: a run a method names (e.g. a target's own checkpoints), not a rung
    group: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    n: int
    d: int
    flops: float | None
    path: Path | None = None  # measured metrics to import (an OLMo-ladder CSV), if any
    trained: bool = False  # trained here, or listed under `checkpoints`: evaluated by this workflow
    runs: dict = field(default_factory=dict)  # group -> the run that measures it (key None: every group)

    @property
    def measured(self) -> bool:
        return bool(self.runs)

    def run_in(self, group: str | None) -> str | None:
        """The run that measures this target for the ladder of `group` (None: no measurement)."""
        return self.runs.get(group, self.runs.get(None))

    def as_dict(self) -> dict:
        return {"n": self.n, "d": self.d, "flops": self.flops}


def _alternatives(names) -> str:
    """A wildcard constraint that matches exactly `names`."""
    return "|".join(map(re.escape, names)) or "^$"


@dataclass(frozen=True)
class Experiment:
    config: dict = field(repr=False)
    name: str
    results: Path
    imported: dict[str, ImportedRun]
    trained: list[str]  # ladder rungs this workflow trains and evaluates
    targets: dict[str, Target]
    tasks: list[str]  # fitted and predicted
    methods: dict[str, dict]
    cve_target: str | None = None  # target of the compute-vs-error analysis (needs measurements)
    ladder: Ladder | None = None  # rungs and targets trained here
    checkpoints: dict[str, list[int]] = field(default_factory=dict)  # run -> checkpoint steps (runs evaluated here)
    eval_tasks: dict[str, dict] = field(default_factory=dict)  # task -> how to build it (taskladder.tasks.plan)
    imported_tables: dict[str, ImportedTable] = field(default_factory=dict)  # imported entries read as tables
    external: dict[str, ExternalRun] = field(default_factory=dict)  # runs of existing checkpoints (`checkpoints`)
    groups: list[str] = field(default_factory=list)  # one ladder per group (data recipe), fitted separately
    variance_settings: dict = field(default_factory=dict)  # analyses.variance as it runs (its tasks resolved)
    skipped: tuple[str, ...] = ()  # analyses the plan leaves out (and said why)

    # ---- runs ---------------------------------------------------------------------------------
    @property
    def ladder_runs(self) -> list[str]:
        return ([r.name for r in self.imported.values() if r.ladder]
                + [r for t in self.imported_tables.values() if t.ladder for r in t.runs] + self.trained
                + [r for r in self.external if r not in self.targets])

    @cached_property
    def run_groups(self) -> dict[str, str | None]:
        """The group of every run (None: the experiment has no groups)."""
        return ({r.name: r.group for r in self.imported.values()} | {r.name: r.group for r in self.external.values()}
                | {r: g for t in self.imported_tables.values() for r, g in t.runs.items()})

    def ladder_of(self, group: str | None) -> list[str]:
        """The ladder runs of a group (all of them where the experiment has no groups)."""
        return [r for r in self.ladder_runs if group is None or self.run_groups.get(r) == group]

    @property
    def parts(self) -> list[str | None]:
        """The groups, or [None]: one ladder, one fit per method."""
        return self.groups or [None]

    @property
    def evaluated_runs(self) -> list[str]:
        """Every run evaluated here: the rungs and targets trained here, and the runs of existing checkpoints."""
        return list(self.checkpoints)

    @property
    def train_runs(self) -> list[str]:
        """Every run trained here: the rungs, then the targets."""
        return [r for r in self.checkpoints if r not in self.external]

    @property
    def measured_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.measured]

    @property
    def imported_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.path is not None]

    @property
    def imported_metrics(self) -> list[str]:
        """Runs whose metrics table is imported from a run log: imported runs and measured targets with a file."""
        return list(self.imported) + self.imported_targets

    def source(self, run: str) -> ImportedRun | Target:
        """The imported run or measured target a metrics table is imported from."""
        return self.imported[run] if run in self.imported else self.targets[run]

    @cached_property
    def table_of(self) -> dict[str, str]:
        """run -> the imported table entry that holds it."""
        return {r: t.name for t in self.imported_tables.values() for r in t.runs}

    def tables_by_groups(self, grouped: bool) -> list[str]:
        """The table entries whose import jobs are one per group (`grouped`) or one per entry."""
        return [t.name for t in self.imported_tables.values() if bool(t.groups) == grouped]

    @property
    def table_groups(self) -> list[str]:
        return sorted({g for t in self.imported_tables.values() for g in t.groups})

    def runs_of(self, method: str) -> list[str]:
        """The non-ladder runs a method's step 2 is fitted on."""
        return list((self.methods[method].get("step2") or {}).get("runs", []))

    # ---- methods ------------------------------------------------------------------------------
    @property
    def fitted_methods(self) -> list[str]:
        """The methods that fit laws (every method but the ensembles)."""
        return [m for m, spec in self.methods.items() if "ensemble" not in spec]

    @property
    def ensembles(self) -> list[str]:
        return [m for m, spec in self.methods.items() if "ensemble" in spec]

    def members(self, ensemble: str) -> list[str]:
        from taskladder.fit.ensemble import members

        return members(self.methods, ensemble)

    def pattern(self, kind: str) -> str:
        """Wildcard constraint of `kind`: trained, evaluated, external, imported (runs), table (entries imported in
        one job), grouped (entries imported in a job per group), group, method, task, step, chunk, part (a corpus input)."""
        names = {"trained": self.train_runs, "evaluated": self.evaluated_runs, "external": self.external,
                 "imported": self.imported_metrics, "table": self.tables_by_groups(False),
                 "grouped": self.tables_by_groups(True), "table_group": self.table_groups, "group": self.groups,
                 "method": self.methods, "fitted": self.fitted_methods, "ensemble": self.ensembles,
                 "task": self.eval_tasks}
        return {"step": r"\d{7}", "chunk": r"step\d{7}-\d{7}", "part": r"\d\d\d\d\d+"}.get(kind) or _alternatives(names[kind])

    # ---- paths --------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return str(self.results.joinpath(*parts))

    def log(self, name: str) -> str:
        return self.path("logs", f"{name}.log")

    def in_group(self, name: str) -> str:
        """A per-method log's name, per group where the experiment has groups ({name}/{group})."""
        return f"{name}/{{group}}" if self.groups else name

    @property
    def corpus(self) -> dict[str, str]:
        """The prepared corpus (layout: taskladder.data), one entry per file the corpus jobs write: the
        decontamination index, the tokenizer, and what merging the parts writes (the manifest, which names the
        parts' training shards, the val slice of the LM loss, the held-out documents of corpus_cloze)."""
        return {k: self.path("corpus", v) for k, v in
                {"index": "decontamination.npz", "tokenizer": "tokenizer", "manifest": "manifest.json",
                 "val": "val.npy", "heldout": "heldout.jsonl"}.items()}

    @property
    def corpus_training(self) -> dict[str, str]:
        """What training reads of the corpus: the manifest (and through it the parts) and the tokenizer."""
        return {k: self.corpus[k] for k in ("manifest", "tokenizer")}

    def corpus_part(self, index: int | str = "{part}") -> str:
        """The prepared part of corpus input `index` (one job each; `taskladder.data.corpus_inputs`)."""
        from taskladder.corpus.prepare import part_name

        return self.path("corpus", part_name(index))

    @cached_property
    def corpus_inputs(self) -> list[dict]:
        """The corpus's inputs (`taskladder.data.corpus_inputs`: globs the sources' files), listed once and only
        when a job needs the corpus."""
        from taskladder.corpus.inputs import corpus_inputs

        return corpus_inputs(self.config)

    def corpus_parts(self, wildcards=None) -> list[str]:
        """Every input's part."""
        return [self.corpus_part(i) for i in range(len(self.corpus_inputs))]

    def corpus_part_input(self, wildcards) -> list[str]:
        """The local file a part reads, so that changing it reprepares the part (URLs and datasets: none)."""
        from taskladder.corpus.inputs import URL

        index = int(wildcards.part)
        path = self.corpus_inputs[index]["path"] if index < len(self.corpus_inputs) else None
        return [path] if path and not URL.match(path) else []

    def task_file(self, task: str) -> str:
        return self.path("tasks", f"{task}.jsonl")

    @property
    def task_files(self) -> list[str]:
        return [self.task_file(t) for t in self.eval_tasks]

    def checkpoint(self, run: str, step: int | str) -> str:
        return str(checkpoint_dir(self.results / "checkpoints" / run, step))

    @property
    def final_checkpoints(self) -> list[str]:
        """The final checkpoint of every run trained here (`snakemake train_all`)."""
        return [self.checkpoint(run, self.checkpoints[run][-1]) for run in self.train_runs]

    def metrics(self, run: str) -> str:
        """The metrics table that holds a run: metrics/{run}.csv, or that of its imported table (and group)."""
        entry = self.table_of.get(run)
        if entry is None:
            return self.path("metrics", f"{run}.csv")
        return self.table_metrics(entry, self.imported_tables[entry].runs[run])

    def table_metrics(self, entry: str, group: str | None = None) -> str:
        """The metrics table an imported table entry's job (of one of its groups) writes."""
        return self.path("metrics", f"{entry}.csv") if group is None else self.path("metrics", entry, f"{group}.csv")

    def metrics_of(self, runs) -> list[str]:
        return list(dict.fromkeys(self.metrics(r) for r in runs))

    def table_file(self, wildcards) -> str:
        return str(self.imported_tables[wildcards.entry].path)

    def table_digest(self, wildcards) -> str:
        """An import job's param: the digest of its rows, so that it reruns when they change, and only then (its
        table is an `ancient` input: editing other rows of the file reruns nothing here)."""
        return self.imported_tables[wildcards.entry].digests[getattr(wildcards, "group", None)]

    def _grouped(self, kind: str, method: str, group: str | None, name: str) -> str:
        """results/{kind}/{method}/{name}, or with groups results/{kind}/{method}/{group}/{name}."""
        if self.groups and group is None:
            raise ValueError(f"{kind}/{method}/{name}: the experiment has groups {self.groups}; name one")
        return self.path(kind, method, *([group] if self.groups else []), name)

    def method_tables(self, method: str, group: str | None = None) -> dict[str, str]:
        """A method's own tables (of a group's ladder; "{method}", "{group}" give the wildcard form of a fitted
        method's)."""
        names = ENSEMBLE_TABLES if method in self.ensembles else METHOD_TABLES
        return {t: self._grouped("methods", method, group, f"{t}.csv") for t in names}

    def ensemble_tables(self, method: str, group: str | None = None) -> dict[str, str]:
        return {t: self._grouped("methods", method, group, f"{t}.csv") for t in ENSEMBLE_TABLES}

    def fit_inputs(self, wildcards) -> dict[str, list[str]]:
        """What fitting a method (on a group's ladder) reads: the ladder's metrics, the measured targets', and the
        other runs its step 2 names."""
        group = getattr(wildcards, "group", None)
        measured = [t.run_in(group) for t in self.targets.values() if t.run_in(group)]
        return {"ladder": self.metrics_of(self.ladder_of(group)), "targets": self.metrics_of(measured),
                "others": self.metrics_of(self.runs_of(wildcards.method))}

    def ensemble_inputs(self, wildcards) -> dict[str, list[str]]:
        """What an ensemble reads: its members' predictions, backtests and draws, and the ladder's metrics."""
        group = getattr(wildcards, "group", None)
        members = self.members(wildcards.method)
        return ({t: [self.method_tables(m, group)[t] for m in members] for t in ("predictions", "backtest", "draws")}
                | {"ladder": self.metrics_of(self.ladder_of(group))})

    def method_spec(self, wildcards) -> dict:
        """A method's definition (an ensemble's: its `ensemble` key): what its fit job depends on."""
        spec = self.methods[wildcards.method]
        return spec["ensemble"] if "ensemble" in spec else spec

    def figures(self, method: str, group: str | None = None) -> dict[str, str]:
        """A method's figures ("{method}", "{group}" give the wildcard form of a fitted method's)."""
        return {f: self.figure(method, f, group) for f in (ENSEMBLE_FIGURES if method in self.ensembles else FIGURES)}

    def figure(self, method: str, name: str, group: str | None = None) -> str:
        return self._grouped("figures", method, group, f"{name}.{self.config['figures']['format']}")

    def figure_inputs(self, wildcards) -> dict[str, str]:
        """A method's figures read its tables and the predictions with their flags."""
        return self.method_tables(wildcards.method, getattr(wildcards, "group", None)) | {
            "summary": self.table("predictions")}

    @property
    def summary_inputs(self) -> dict[str, list[str]]:
        """What rule tables gathers: every method's tables (of every group), and the ladder's metrics for the
        predictability."""
        inputs = {t: [self.method_tables(m, g)[t] for m in self.methods for g in self.parts
                      if t in self.method_tables(m, g)] for t in ("predictions", "fits", "backtest", "calibration",
                                                                 "weights")}
        return inputs | {"ladder": self.metrics_of(self.ladder_runs)}

    @property
    def summary_outputs(self) -> dict[str, str]:
        return {t: self.table(t) for t in TABLES} | {t: self.analysis(t) for t in ANALYSIS_TABLES}

    def method_outputs(self, method: str) -> list[str]:
        """Everything one method writes, for every group (`snakemake method_<name>` asks for it)."""
        return [f for g in self.parts for f in (*self.method_tables(method, g).values(),
                                                *self.figures(method, g).values())]

    @property
    def tables(self) -> tuple[str, ...]:
        return TABLES

    def table(self, name: str) -> str:
        return self.path(f"{name}.csv")

    def analysis(self, name: str) -> str:
        """A table of an analysis: `analysis("variance")` is analyses/variance.csv."""
        return self.path("analyses", f"{name}.csv")

    def analysis_figure(self, name: str) -> str:
        return self.path("analyses", f"{name}.{self.config['figures']['format']}")

    @property
    def cve_figures(self) -> dict[str, str]:
        return {o: self.analysis_figure(f"compute_vs_error_{o}") for o in
                self.config["analyses"]["compute_vs_error"]["orders"]}

    @property
    def analyses(self) -> dict[str, list[str]]:
        """The outputs of every analysis this experiment runs. A new analysis: its rule in
        rules/analyses.smk and an entry here."""
        out = {"variance": [self.analysis("variance"), self.analysis_figure("variance")]}
        if self.groups:
            out["group_comparison"] = list(self.group_comparison.values())
        if self.config["intervals"]["draws"]:
            out["backtest"] = [self.analysis_figure("backtest")]
        if self.cve_target:
            out["compute_vs_error"] = [self.analysis("compute_vs_error"), *self.cve_figures.values()]
        return {k: v for k, v in out.items() if k not in self.skipped}

    @property
    def released(self) -> list[str]:
        """train.keep_checkpoints final: one flag per trained run, written once its checkpoints are released."""
        if self.config["train"]["keep_checkpoints"] != "final":
            return []
        return [self.path("checkpoints", run, "released.txt") for run in self.train_runs]

    @property
    def report_page(self) -> str:
        """The report's first page (`snakemake --report`): the predictions and the headline figures."""
        return self.path("report.rst")

    @property
    def report_page_source(self) -> str:
        """report_page as the `report:` directive takes it (an absolute path)."""
        return str(Path(self.report_page).absolute())

    @property
    def headline_method(self) -> str:
        return next((m for m in HEADLINE_METHODS if m in self.methods), next(iter(self.methods)))

    @property
    def headline_figures(self) -> list[str]:
        """The group comparison where there are groups; else the headline method's figures: an ensemble's
        members and the chained panels of its first member, a fitted method's chained and step-1 panels."""
        if self.groups:
            return [self.group_comparison["figure"]]
        if self.headline_method in self.ensembles:
            first = self.members(self.headline_method)[0]
            return [self.figure(self.headline_method, "members"), self.figure(first, "chained")]
        return [self.figure(self.headline_method, "chained"), self.figure(self.headline_method, "step1")]

    @property
    def outputs(self) -> list[str]:
        """What `snakemake` (rule all) makes."""
        return [*self.summary_outputs.values(), *(f for m in self.methods for f in self.method_outputs(m)),
                *(f for files in self.analyses.values() for f in files), *self.released, self.report_page]

    # ---- training (rules/train.smk) ----------------------------------------------------------
    def rung_spec(self, wildcards) -> dict:
        """A training job's params: the run's own spec (size, xC, schedule, vocabulary), nothing of other runs."""
        return self.ladder[wildcards.run].spec()

    @property
    def train_options(self) -> dict:
        """The training options that change the weights, and the seed (the others: config.RUNTIME_KEYS)."""
        train = self.config["train"]
        return {k: v for k, v in train.items() if k not in RUNTIME_KEYS["train"]} | {"seed": self.config["seed"]}

    @property
    def train_threads(self) -> int:
        return (self.config["train"]["threads"] or 1) * self.config["train"]["nproc"]

    def train_priority(self, wildcards) -> int:
        """The biggest runs first, and every training job before any evaluation (priority 0): the last run
        to train is on the critical path, an evaluation of a finished run is not."""
        order = sorted(self.train_runs, key=lambda r: self.ladder[r].flops)
        return 1 + order.index(wildcards.run)

    def previous_checkpoint(self, wildcards) -> list[str]:
        """What the training job of checkpoint `step` starts from: with train.job checkpoint, the run's
        previous checkpoint; with train.job run (one job per run) nothing."""
        steps = self.checkpoints[wildcards.run]
        k = steps.index(int(wildcards.step))
        return [self.checkpoint(wildcards.run, steps[k - 1])] if k and self._per_checkpoint else []

    @property
    def _per_checkpoint(self) -> bool:
        return self.config["train"]["job"] == "checkpoint"

    def checkpoint_input(self, run: str, step: int) -> str:
        """What a job reading checkpoint `step` of `run` depends on: the checkpoint itself with train.job
        checkpoint or for an existing checkpoint (each linked by its own job), else the run's final checkpoint
        (the output of its one training job)."""
        own = self._per_checkpoint or run in self.external
        return self.checkpoint(run, step if own else self.checkpoints[run][-1])

    # ---- existing checkpoints (rules/evaluate.smk) -------------------------------------------
    def external_source(self, wildcards) -> dict:
        """A link job's params: where the checkpoint is and what it is (run, n, step, tokens)."""
        return self.external[wildcards.run].source(int(wildcards.step))

    def external_input(self, wildcards) -> list[str]:
        """A local checkpoint directory (re-saving it relinks and re-evaluates it); a hub checkpoint: none."""
        return [p for p in [self.external_source(wildcards).get("path")] if p]

    # ---- evaluation (rules/evaluate.smk) -----------------------------------------------------
    def chunks(self, run: str) -> dict[str, list[int]]:
        """A run's checkpoints in evaluation jobs of `evaluation.group_size`: chunk name -> steps.
        One job scores several checkpoints, as Python and torch start-up cost more than a tiny one."""
        steps, size = self.checkpoints[run], self.config["evaluation"]["group_size"]
        groups = [steps[i:i + size] for i in range(0, len(steps), size)]
        return {f"step{g[0]:07d}-{g[-1]:07d}": g for g in groups}

    def evals(self, run: str, chunk: str) -> str:
        return self.path("evals", run, f"{chunk}.csv")

    def run_evals(self, wildcards) -> list[str]:
        return [self.evals(wildcards.run, c) for c in self.chunks(wildcards.run)]

    def chunk_inputs(self, wildcards) -> list[str]:
        steps = self.chunks(wildcards.run)[wildcards.chunk]
        return sorted({self.checkpoint_input(wildcards.run, s) for s in steps})

    def chunk_checkpoints(self, wildcards) -> list[str]:
        return [self.checkpoint(wildcards.run, s) for s in self.chunks(wildcards.run)[wildcards.chunk]]

    def val_input(self, wildcards) -> list[str]:
        """The held-out tokens of the LM loss: the corpus's, for runs trained on it (an existing checkpoint has a
        tokenizer of its own; its LM loss is not measured)."""
        return [] if wildcards.run in self.external else [self.corpus["val"]]

    @property
    def evaluate_options(self) -> dict:
        """The evaluation options that change an evaluation table (limit and shots reach it through the
        task files; the others: config.RUNTIME_KEYS)."""
        keys = ("overflow", "lm_loss_tokens", "device")
        return {k: self.config["evaluation"][k] for k in keys}

    def task_spec(self, wildcards) -> dict:
        return self.eval_tasks[wildcards.task]

    @property
    def task_options(self) -> dict:
        """The evaluation options that change a task file."""
        return {k: self.config["evaluation"][k] for k in ("limit", "num_shots", "lm_eval_include_path")}

    def task_inputs(self, wildcards) -> list[str]:
        """What building a task reads besides the packages' own data: for a task built from the corpus
        (corpus_cloze), its held-out documents and tokenizer."""
        if self.eval_tasks[wildcards.task]["source"] != "corpus":
            return []
        return [self.corpus["heldout"], self.corpus["tokenizer"]]

    def task_corpus(self, wildcards) -> str | None:
        """The corpus folder a task is built from (corpus_cloze), else None."""
        return self.path("corpus") if self.task_inputs(wildcards) else None

    # ---- fitting (rules/fit.smk, rules/analyses.smk) -----------------------------------------
    @property
    def fit_options(self) -> dict:
        return fit_options(self.config)

    @property
    def intervals(self) -> dict:
        return self.config["intervals"]

    @property
    def fit_params(self) -> dict:
        """A method's fit job's params: its definition, the tasks, the fit and interval options, the targets."""
        return {"method": self.method_spec, "tasks": self.tasks, "options": self.fit_options,
                "interval": self.intervals, "targets": self.target_specs}

    @property
    def ensemble_params(self) -> dict:
        return {"spec": self.method_spec, "tasks": self.tasks, "options": self.fit_options, "interval": self.intervals}

    @property
    def summary_params(self) -> dict:
        """What the summary tables depend on besides the method tables: the tasks, the methods, the options
        the predictability measures read, and the flags' thresholds; with groups, the ladder runs of each."""
        params = {"tasks": self.tasks, "methods": self.methods, "options": self.fit_options,
                  "flags": self.config["flags"]}
        return params | ({"groups": {g: self.ladder_of(g) for g in self.groups}} if self.groups else {})

    def target_specs(self, wildcards=None) -> dict[str, dict]:
        """The targets a fit predicts: n, d, flops, and the run that measures the target where it is not named
        like it (a run of an imported table, one per group)."""
        group = getattr(wildcards, "group", None)
        specs = {}
        for t in self.targets.values():
            run = t.run_in(group)
            specs[t.name] = t.as_dict() | ({"run": run} if run not in (None, t.name) else {})
        return specs

    @property
    def cve_metrics(self) -> str:
        """The metrics of the compute-vs-error analysis's target."""
        target = self.targets.get(self.cve_target)
        return self.metrics(target.run_in(None) if target else str(self.cve_target))

    @property
    def group_comparison(self) -> dict[str, str]:
        """The group comparison's table and figure (rule group_comparison)."""
        return {"table": self.analysis("group_comparison"), "figure": self.analysis_figure("group_comparison")}

    @property
    def group_comparison_params(self) -> dict:
        """The comparison's figure shows the headline method's ranking."""
        return {"method": self.headline_method}

    @property
    def cve_params(self) -> dict:
        cve = self.config["analyses"]["compute_vs_error"]
        return {"method_name": cve["method"], "method": self.methods.get(cve["method"]), "target": self.cve_target,
                "spec": self.targets[self.cve_target].as_dict() if self.cve_target else None,
                "orders": cve["orders"], "tasks": self.tasks,
                "options": self.fit_options | {"multistart": cve["multistart"]}}

    @property
    def resources(self) -> dict[str, dict]:
        return rule_resources(self.config)


# ---- building the plan ----------------------------------------------------------------------

def _logs_dir(config: dict) -> Path:
    d = config.get("olmo_ladder_dir")
    if not d:
        raise ConfigError("olmo_ladder_dir: not set; the config imports ladder logs, so give the directory that holds "
                          "them, e.g. --config olmo_ladder_dir=path/to/olmo-ladder")
    path = Path(d)
    if not path.is_dir():
        raise ConfigError(f"olmo_ladder_dir: directory not found: {path}")
    return path


def _imported(config: dict) -> tuple[dict[str, ImportedRun], dict[str, ImportedTable]]:
    """The `imported` entries: run logs (one OLMo-ladder CSV per run, read by their import jobs) and tables (read
    and checked now)."""
    runs, tables = {}, {}
    for name, spec in (config.get("imported") or {}).items():
        check_name("entry", name, f"imported.{name}")
        if is_run_log(spec):
            path = _logs_dir(config) / spec["file"]
            if not path.exists():
                raise ConfigError(f"imported.{name}.file: ladder log not found: {path}")
            group = spec.get("group") and check_name("group", spec["group"], f"imported.{name}.group")
            runs[name] = ImportedRun(name, spec["n"], path, spec.get("ladder", True), group)
        else:
            if config.get("olmo_ladder_dir"):
                _logs_dir(config)
            tables[name] = read_table(name, spec, config)
    return runs, tables


def _unique_runs(sources: dict[str, list[str]]) -> None:
    """Every run name once across the sources (`where` -> its runs); a run names its metrics file."""
    seen: dict[str, str] = {}
    for where, runs in sources.items():
        for run in runs:
            if run in seen:
                raise ConfigError(f"{where}: run name '{run}' is also a run of {seen[run]}; run names must be unique")
            seen[run] = where


def _groups(ladder_groups: dict[str, str | None]) -> list[str]:
    """The groups of the ladder runs: none, or one for every run."""
    groups = sorted({g for g in ladder_groups.values() if g is not None})
    lacking = [r for r, g in ladder_groups.items() if g is None]
    if groups and lacking:
        raise ConfigError(f"groups: ladder runs {lacking[:5]}{' ...' if len(lacking) > 5 else ''} have no group, "
                          f"while others are in groups {groups}; give every ladder run a group (a group column or key)")
    return groups


def _known_tasks(kinds: list[list[str]]) -> list[str]:
    """Task names every source of ladder runs will hold (run logs, each table, the evaluation here)."""
    known = kinds[0] if kinds else []
    for tasks in kinds[1:]:
        known = [t for t in known if t in tasks]
    return known


def _check_tasks(key: str, tasks: list[str], known: list[str]) -> None:
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ConfigError(f"{key}: unknown task(s) {unknown}; the ladder metrics will hold {known}")


def _check_lm_eval_tasks(evaluation: dict) -> None:
    """lm-eval task names, against lm-eval's registry (and the config's own task folder)."""
    from taskladder.tasks.lm_eval_tasks import lm_eval_task_manager

    names = [t if isinstance(t, str) else t["task"] for t in evaluation["lm_eval_tasks"]]
    include = evaluation.get("lm_eval_include_path")
    if include and not Path(include).is_dir():
        raise ConfigError(f"evaluation.lm_eval_include_path: directory not found: {include}")
    known = set(lm_eval_task_manager(include).all_tasks)
    unknown = [n for n in names if n not in known]
    if unknown:
        import difflib

        hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
        raise ConfigError(f"evaluation.lm_eval_tasks: unknown lm-eval task(s) {unknown}; expected names from "
                          f"lm-eval's registry (close matches: {hints})")


def _check_tokenizer(tokenizer: dict) -> None:
    """A `pretrained` tokenizer: a local folder with tokenizer files, or a hub name."""
    path = tokenizer.get("path")
    if tokenizer["kind"] != "pretrained" or not path:
        return
    local = Path(path)
    if local.is_dir():
        if not any((local / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
            raise ConfigError(f"tokenizer.path: {path} holds no tokenizer.json, tokenizer_config.json or vocab.json; "
                              "expected a save_pretrained tokenizer folder")
    elif local.is_absolute() or path.startswith(".") or not HUB_ID.match(path):
        raise ConfigError(f"tokenizer.path: {path}: no such folder; expected a tokenizer folder or a hub name "
                          "(org/name)")


def _target(name: str, spec: dict, config: dict, tables: dict[str, ImportedTable], external: dict[str, ExternalRun],
            warn) -> Target | None:
    """A configured target and the run(s) that measure it: its own log (`file`), the runs of an imported table
    (`imported`, one per group) or existing checkpoints of a run named like it; None: its log is missing."""
    path, runs = None, {}
    given = [k for k in ("file", "imported") if spec.get(k)] + (["checkpoints"] if name in external else [])
    if len(given) > 1:
        raise ConfigError(f"targets.{name}: measured by {' and '.join(given)}; give one: file (a log in "
                          "olmo_ladder_dir), imported (a table entry) or checkpoints of a run named like it")
    if spec.get("file"):
        path = _logs_dir(config) / spec["file"]
        if not path.exists():
            warn(f"target {name}: {path} not found; skipping this target")
            return None
        runs = {None: name}
    elif spec.get("imported"):
        table = tables.get(spec["imported"])
        if table is None or table.ladder:
            raise ConfigError(f"targets.{name}.imported: '{spec['imported']}' is not an imported table with ladder: "
                              f"false; such entries: {[t.name for t in tables.values() if not t.ladder]}")
        for group in dict.fromkeys(table.runs.values()):
            mine = [r for r, g in table.runs.items() if g == group]
            if len(mine) > 1:
                raise ConfigError(f"targets.{name}.imported: imported.{table.name} holds {len(mine)} runs"
                                  + (f" of group {group}" if group else "") + f" ({mine[:5]}); expected one run"
                                  + (" per group" if group else "") + ": the target's own")
        runs = {g: r for r, g in table.runs.items()}
    elif name in external:
        runs = {external[name].group: name}
    return Target(name, spec["n"], spec["d"], spec.get("flops"), path, trained=name in external, runs=runs)


def _check_methods(config: dict, tables: dict[str, ImportedTable], external: list[str], ladder_runs: list[str],
                   step2_runs: dict[str, str]) -> None:
    """Each fitted method's step-2 runs exist, and the runs it fits hold the metrics it needs (a source of accuracy
    only cannot feed a method that chains through task loss)."""
    for name, method in config["methods"].items():
        if "ensemble" in method:
            continue
        for run in (method.get("step2") or {}).get("runs", []):
            if run not in step2_runs:
                raise ConfigError(f"methods.{name}.step2.runs: '{run}' is not an imported run with ladder: false; "
                                  f"such runs: {list(step2_runs)}")
        named = {step2_runs[r] for r in (method.get("step2") or {}).get("runs", [])}
        for table in tables.values():
            needed = needed_metrics(method, ladder=True) if table.ladder else []
            needed += needed_metrics(method, ladder=False) if table.name in named else []
            for task in config["fit"]["tasks"]:
                lacking = [m for m in dict.fromkeys(needed) if m in table.missing.get(task, [])]
                if lacking:
                    raise ConfigError(f"methods.{name}: task {task}: needs {lacking[0]}, which imported.{table.name} "
                                      f"({table.path}) does not hold; methods that fit accuracy alone (single_step) "
                                      "can use it")
        if "lm_loss" in needed_metrics(method) and any(r in ladder_runs for r in external):
            raise ConfigError(f"methods.{name}: needs lm_loss (the LM loss), which existing checkpoints "
                              "(`checkpoints`) are not measured on (each has a tokenizer of its own); remove the "
                              "method")


def _variance(config: dict, known: list[str], lengths: list[int | None], warn) -> tuple[dict, bool]:
    """analyses.variance as it will run (the default tasks restricted to those the metrics hold), and whether it
    runs: not where every ladder run is known to have fewer checkpoints than it measures over."""
    settings = dict(config["analyses"]["variance"])
    default = schema()["properties"]["analyses"]["properties"]["variance"]["properties"]["tasks"]["default"]
    if settings["tasks"] == default:
        settings["tasks"] = [t for t in default if t in known] or list(known)
    _check_tasks("analyses.variance.tasks", settings["tasks"], known)
    if lengths and None not in lengths and max(lengths) < settings["last"]:
        warn(f"analyses.variance: not run: the ladder's runs have at most {max(lengths)} checkpoint(s), fewer than "
             f"analyses.variance.last = {settings['last']}")
        return settings, False
    return settings, True


def _averaged_too_far_back(config: dict, ladder: Ladder | None, warn, reach: float = 0.8) -> None:
    """Warn where a trained run's value (the mean of a rung's last fit.final_checkpoints, of a target's last
    fit.target_checkpoints) averages checkpoints from before `reach` of the run's steps: a run with few
    checkpoints would be fitted (or measured) by its mean over most of training, not by its final value."""
    for key, runs in (("final_checkpoints", ladder.rungs if ladder else []),
                      ("target_checkpoints", ladder.targets if ladder else [])):
        k = config["fit"][key]
        early = [r for r in runs if 1 < k <= len(r.checkpoints) and r.checkpoints[-k] < reach * r.checkpoints[-1]]
        if early:
            run = min(early, key=lambda r: r.checkpoints[-k] / r.checkpoints[-1])
            warn(f"fit.{key}: {k} averages checkpoints from as early as "
                 f"{100 * run.checkpoints[-k] / run.checkpoints[-1]:.0f}% of a run's steps ({len(early)} run(s); "
                 f"{run.name}: steps {list(run.checkpoints[-k:])}), so a run's value is not its final one; set "
                 f"fit.{key} to 1, or checkpoint more often")


def plan(config: dict, warn=warnings.warn, check_registries: bool = True) -> Experiment:
    """Resolve a validated config into runs, checkpoints, tasks and targets; check the files and names it uses.

    Ladder runs are imported (`imported`: run logs, read by their jobs, and tables, read now), trained here
    (`ladder`) or existing checkpoints evaluated here (`checkpoints`); trained targets (`ladder.targets`) are
    evaluated like the rungs. A ladder log that is missing is an error; a target's log that is missing is skipped
    with a warning (it may not exist yet). `check_registries`: also look lm-eval task names up in lm-eval's
    registry (seconds).
    """
    imported, tables = _imported(config)
    external = plan_checkpoints(config.get("checkpoints") or [])
    trained, targets, ladder, eval_tasks = [], {}, None, {}
    if config.get("ladder"):
        from taskladder.corpus.inputs import check_sources
        from taskladder.train.ladder import build

        check_sources(config)
        _check_tokenizer(config["tokenizer"])
        ladder = build(config)
        trained = [r.name for r in ladder.rungs]
        targets = {r.name: Target(r.name, r.n, r.tokens, None, trained=True, runs={None: r.name})
                   for r in ladder.targets}
    if ladder or external:
        from taskladder.tasks.registry import plan as eval_plan

        eval_tasks = eval_plan(config["evaluation"])
        corpus_tasks = [name for name, spec in eval_tasks.items() if spec["source"] == "corpus"]
        if corpus_tasks and not ladder:
            raise ConfigError(f"evaluation.tasks: {corpus_tasks} are built from documents the ladder's corpus holds "
                              "out of training; this experiment trains no ladder (only `checkpoints`), so it has no "
                              "corpus. Remove them, or add a `ladder`.")
        if check_registries and config["evaluation"]["lm_eval_tasks"]:
            _check_lm_eval_tasks(config["evaluation"])
    _unique_runs({"ladder": trained + list(targets), "checkpoints": list(external),
                  **{f"imported.{n}": [n] for n in imported}, **{f"imported.{t.name}": list(t.runs) for t in
                                                                  tables.values()}})
    for name, spec in config.get("targets", {}).items():
        if name in targets or (name in imported or name in trained or any(name in t.runs for t in tables.values())):
            raise ConfigError(f"targets.{name}: the name is also a ladder run or a trained target; names must be "
                              "unique")
        target = _target(name, spec, config, tables, external, warn)
        if target is not None:
            targets[name] = target
    own_files = {*imported, *external, *(t.name for t in targets.values() if t.path or t.trained)}
    clash = sorted(set(tables) & own_files)
    if clash:
        raise ConfigError(f"imported: entry name(s) {clash} are also names of runs; the entry's metrics table and the "
                          "run's would be the same file (metrics/NAME.csv)")

    ladder_tables = [t for t in tables.values() if t.ladder]
    ladder_external = [r for r in external.values() if r.name not in targets]
    if not trained and not ladder_external and not ladder_tables and not any(r.ladder for r in imported.values()):
        raise ConfigError("the config names no ladder runs: give `imported` runs, `checkpoints` or a `ladder` to train")
    groups = _groups({**{r.name: r.group for r in imported.values() if r.ladder},
                      **{r: g for t in ladder_tables for r, g in t.runs.items()},
                      **{r: None for r in trained}, **{r.name: r.group for r in ladder_external}})

    evaluated = list(eval_tasks)
    if eval_tasks:
        from taskladder.tasks.olmes import AGGREGATES

        evaluated += [a for a, parts in AGGREGATES.items() if all(p in evaluated for p in parts)]
    known = _known_tasks(([list(KNOWN_TASKS)] if imported else []) + [t.tasks for t in ladder_tables]
                         + ([evaluated] if trained or ladder_external else []))
    _check_tasks("fit.tasks", config["fit"]["tasks"], known)
    if any("ensemble" in m for m in config["methods"].values()) and not config["intervals"]["draws"]:
        raise ConfigError("intervals.draws: 0 leaves the ensemble nothing to weigh its members by (it reads their "
                          "backtests); set draws > 0 or remove the ensemble from methods")
    step2_runs = {r.name: r.name for r in imported.values() if not r.ladder} | {
        r: t.name for t in tables.values() if not t.ladder for r in t.runs}
    ladder_runs = ([r for r, v in imported.items() if v.ladder] + [r for t in ladder_tables for r in t.runs]
                   + trained + [r.name for r in ladder_external])
    _check_methods(config, tables, list(external), ladder_runs, step2_runs)

    analyses = config["analyses"]
    lengths = ([None] * any(r.ladder for r in imported.values()) + [t.checkpoints for t in ladder_tables]
               + [len(r.checkpoints) for r in (ladder.rungs if ladder else [])]
               + [len(r.checkpoints) for r in ladder_external])  # None: not known before the job
    variance, variance_runs = _variance(config, known, lengths, warn)
    _averaged_too_far_back(config, ladder, warn)
    if analyses["variance"]["run"] and analyses["variance"]["run"] not in ladder_runs:
        raise ConfigError(f"analyses.variance.run: '{analyses['variance']['run']}' is not a ladder run; "
                          f"expected one of {ladder_runs}")
    cve = analyses["compute_vs_error"]
    measured = [t.name for t in targets.values() if t.measured]
    if cve["target"] and cve["target"] not in measured:
        raise ConfigError(f"analyses.compute_vs_error.target: '{cve['target']}' is not a target with measurements "
                          f"({measured})")
    if cve["target"] and groups:
        raise ConfigError("analyses.compute_vs_error.target: the analysis refits one ladder; this experiment has "
                          f"groups {groups} (one ladder each); remove the key")
    cve_target = None if groups else cve["target"] or (measured[0] if measured else None)
    if cve_target and (cve["method"] not in config["methods"] or "ensemble" in config["methods"][cve["method"]]):
        raise ConfigError(f"analyses.compute_vs_error.method: '{cve['method']}' is not among the methods that fit laws "
                          f"{[m for m, s in config['methods'].items() if 'ensemble' not in s]}")
    return Experiment(
        config=config,
        name=config["experiment"],
        results=results_dir(config["experiment"]),
        imported=imported,
        trained=trained,
        targets=targets,
        tasks=list(config["fit"]["tasks"]),
        methods=config["methods"],
        cve_target=cve_target,
        ladder=ladder,
        checkpoints=({r.name: list(r.checkpoints) for r in ladder.runs} if ladder else {})
        | {r.name: r.steps for r in external.values()},
        eval_tasks=eval_tasks,
        imported_tables=tables,
        external=external,
        groups=groups,
        variance_settings=variance,
        skipped=() if variance_runs else ("variance",),
    )


def fit_options(config: dict) -> dict:
    """The options every method's fit depends on (a change reruns every method): every key of the
    `fit` schema but the tasks (given apart), and the seed; corpus_cloze's chance is 1 / its choices
    unless fit.chance says otherwise."""
    keys = [k for k in schema()["properties"]["fit"]["properties"] if k != "tasks"]
    options = {k: config["fit"][k] for k in keys} | {"seed": config["seed"]}
    cloze = (config.get("evaluation") or {}).get("corpus_cloze")
    if cloze and "corpus_cloze" in config["evaluation"].get("tasks", []):  # its chance follows its choices
        options["chance"] = {"corpus_cloze": 1 / cloze["choices"], **(options.get("chance") or {})}
    return options


def rule_resources(config: dict) -> dict[str, dict]:
    """Each rule family's `resources:` (config key `resources`: prepare, train, evaluate, fit) under the
    names Snakemake's SLURM executor reads: mem_mb, runtime (minutes), slurm_partition, gpu, slurm_extra.
    Unset ones are left out, so the profile's default-resources or the cluster's defaults apply."""
    device_gpus = {  # gpus: null follows the device the job will use
        "train": config["train"]["nproc"] if config["train"]["device"] == "cuda" else 0,
        "evaluate": 1 if config["evaluation"]["device"] == "cuda" else 0,
    }
    families = {}
    for family, spec in config["resources"].items():
        gpus = spec.get("gpus")
        if gpus is None:  # train, evaluate: what their device implies; the other families have no `gpus` key
            gpus = device_gpus.get(family, 0)
        resources = {"mem_mb": spec["mem_mb"], "runtime": spec["runtime"], "slurm_partition": spec["partition"],
                     "gpu": gpus, "slurm_extra": spec["slurm_extra"]}
        families[family] = {k: v for k, v in resources.items() if v}
    return families
