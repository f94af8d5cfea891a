"""The plan of an experiment: what a validated config asks the workflow to do, and where every file goes.

One `Experiment`, built once in the Snakefile (and by the command line) by `plan`, is what the rules read. It is
made of one part per concern:

    EXP.layout      every path (taskladder.workflow.layout)
    EXP.runs        the runs and where each comes from, the targets, the groups (runs)
    EXP.imports     import jobs and the metrics table of each run (imports)
    EXP.corpus      the corpus jobs (corpus)
    EXP.train       training jobs and the checkpoints evaluated here (training)
    EXP.evaluation  task files and evaluation jobs (evaluation)
    EXP.fits        fits, ensembles, summary tables, analyses, report (fitting)

Every rule's params are one canonical mapping, `job`, that the rule's library function consumes whole
(`EXP.job(rule)`): it holds only what changes that job's output, in a canonical form (taskladder.base.params), so
adding a rung, size, target, method or task never reruns a finished job whose output would not change, and a
config that means the same plans nothing new.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from taskladder.base.config import ConfigError
from taskladder.base.files import results_dir
from taskladder.base.names import check_name
from taskladder.imports.entry import KNOWN_TASKS
from taskladder.workflow import checks
from taskladder.workflow.corpus import CorpusPlan
from taskladder.workflow.evaluation import EvalPlan
from taskladder.workflow.fitting import FitPlan
from taskladder.workflow.imports import ImportPlan
from taskladder.workflow.layout import Layout, PlanPart
from taskladder.workflow.runs import Runs, plan_runs
from taskladder.workflow.training import TrainPlan


def _alternatives(names) -> str:
    """A wildcard constraint that matches exactly `names`."""
    return "|".join(map(re.escape, names)) or "^$"


@dataclass(frozen=True)
class Experiment(PlanPart):
    runs: Runs
    imports: ImportPlan
    corpus: CorpusPlan
    train: TrainPlan
    evaluation: EvalPlan
    fits: FitPlan

    @property
    def name(self) -> str:
        return self.config["experiment"]

    @property
    def results(self) -> Path:
        return self.layout.results

    def job(self, rule: str):
        """The params function of `rule`'s one param, `job` (a function of the job's wildcards)."""
        return JOBS[rule](self)

    def pattern(self, kind: str) -> str:
        """Wildcard constraint of `kind`: trained, evaluated, external, imported (run logs), table (entries imported
        in one job), grouped (entries imported in a job per group), table_group, group, method, fitted, ensemble,
        task, step, chunk, part (a corpus input)."""
        runs, fits = self.runs, self.fits
        names = {"trained": self.train.runs, "evaluated": self.train.evaluated_runs, "external": runs.external,
                 "imported": runs.imported_logs, "table": runs.tables_by_groups(False),
                 "grouped": runs.tables_by_groups(True), "table_group": runs.table_groups, "group": runs.groups,
                 "method": fits.methods, "fitted": fits.fitted, "ensemble": fits.ensembles,
                 "task": self.evaluation.tasks}
        return {"step": r"\d{7}", "chunk": r"step\d{7}-\d{7}", "part": r"\d\d\d\d\d+"}.get(kind) or _alternatives(
            names[kind])

    def log(self, name: str) -> str:
        return self.layout.log(name)

    @property
    def resources(self) -> dict[str, dict]:
        return rule_resources(self.config)

    @property
    def outputs(self) -> list[str]:
        """What `snakemake` (rule all) makes."""
        fits = self.fits
        return [*fits.summary_outputs.values(), *(f for m in fits.methods for f in fits.method_outputs(m)),
                *(f for files in fits.analyses.values() for f in files), *self.train.released,
                self.layout.report_page]

    def jobs(self):
        """(rule, wildcards, params) of every job this experiment plans that has params (the reachability test
        compares them across configs)."""
        runs, fits, train = self.runs, self.fits, self.train
        groups = [SimpleNamespace(group=g) if g else SimpleNamespace() for g in runs.parts]
        w = SimpleNamespace
        plans = {
            "train": [w(run=r, step=f"{s:07d}") for r in train.runs for s in train.checkpoints[r]],
            "link_checkpoint": [w(run=r, step=f"{s:07d}") for r in runs.external for s in train.checkpoints[r]],
            "evaluate": [w(run=r, chunk=c) for r in train.evaluated_runs for c in self.evaluation.chunks(r)],
            "prepare_task": [w(task=t) for t in self.evaluation.tasks],
            "import_run": [w(run=r) for r in runs.imported_logs],
            "import_table": [w(entry=e) for e in runs.tables_by_groups(False)],
            "import_group": [w(entry=e, group=g) for e in runs.tables_by_groups(True) for g in runs.tables[e].groups],
            "fit_method": [w(method=m, **vars(g)) for m in fits.fitted for g in groups],
            "fit_ensemble": [w(method=m, **vars(g)) for m in fits.ensembles for g in groups],
            "figures_method": [w(method=m, **vars(g)) for m in fits.fitted for g in groups],
            "figures_ensemble": [w(method=m, **vars(g)) for m in fits.ensembles for g in groups],
            "tables": [w()], "report_page": [w()],
            "variance": [w()] if "variance" in fits.analyses else [],
            "compute_vs_error": [w()] if "compute_vs_error" in fits.analyses else [],
            "backtest": [w()] if "backtest" in fits.analyses else [],
            "group_comparison": [w()] if "group_comparison" in fits.analyses else [],
            "plan_ladder": [w()] if "plan_ladder" in fits.analyses else [],
        }
        if self.train.runs:
            plans |= {"corpus_index": [w()], "corpus_tokenizer": [w()], "prepare_corpus": [w()],
                      "corpus_part": [w(part=f"{i:05d}") for i in range(len(self.corpus.inputs))]}
        for rule, wildcards in plans.items():
            for wc in wildcards:
                yield rule, wc, self.job(rule)(wc)

    def footprint(self) -> dict:
        """What a config makes the workflow do: every job's params by (rule, wildcards), each rule family's
        resources, and the outputs (`changed` compares two)."""
        return {"jobs": {(rule, tuple(sorted(vars(wc).items()))): params for rule, wc, params in self.jobs()},
                "resources": self.resources, "outputs": set(self.outputs)}


def changed(before: dict, after: dict) -> set[str]:
    """The rules (and "resources:FAMILY", "outputs") whose jobs two footprints plan differently: a job added, dropped
    or with other params (Snakemake reruns it), a family's resources, the set of outputs."""
    jobs = before["jobs"].keys() | after["jobs"].keys()
    out = {key[0] for key in jobs if before["jobs"].get(key) != after["jobs"].get(key)}
    families = before["resources"].keys() | after["resources"].keys()
    out |= {f"resources:{f}" for f in families if before["resources"].get(f) != after["resources"].get(f)}
    return out | ({"outputs"} if before["outputs"] != after["outputs"] else set())


# rule -> the function of its `job` param (the rules read EXP.job(rule); Experiment.jobs enumerates them)
JOBS = {
    "corpus_index": lambda e: e.corpus.index_job,
    "corpus_tokenizer": lambda e: e.corpus.job,
    "corpus_part": lambda e: e.corpus.part_job,
    "prepare_corpus": lambda e: e.corpus.job,
    "train": lambda e: e.train.job,
    "link_checkpoint": lambda e: e.train.link_job,
    "prepare_task": lambda e: e.evaluation.task_job,
    "evaluate": lambda e: e.evaluation.job,
    "import_run": lambda e: e.imports.log_job,
    "import_table": lambda e: e.imports.table_job,
    "import_group": lambda e: e.imports.table_job,
    "fit_method": lambda e: e.fits.fit_job,
    "fit_ensemble": lambda e: e.fits.ensemble_job,
    "tables": lambda e: e.fits.summary_job,
    "figures_method": lambda e: e.fits.figure_job,
    "figures_ensemble": lambda e: e.fits.figure_job,
    "variance": lambda e: e.fits.variance_job,
    "compute_vs_error": lambda e: e.fits.cve_job,
    "backtest": lambda e: e.fits.figure_job,
    "group_comparison": lambda e: e.fits.group_comparison_job,
    "report_page": lambda e: e.fits.report_job,
    "plan_ladder": lambda e: e.fits.plan_job,
}


def _evaluation_tasks(config: dict, ladder, external, check_registries: bool) -> dict[str, dict]:
    """The tasks evaluated here (none where nothing is evaluated here)."""
    if not (ladder or external):
        return {}
    from taskladder.tasks.registry import plan as eval_plan

    tasks = eval_plan(config["evaluation"])
    corpus_tasks = [name for name, spec in tasks.items() if spec["source"] == "corpus"]
    if corpus_tasks and not ladder:
        raise ConfigError(f"evaluation.tasks: {corpus_tasks} are built from documents the ladder's corpus holds "
                          "out of training; this experiment trains no ladder (only `checkpoints`), so it has no "
                          "corpus. Remove them, or add a `ladder`.")
    if check_registries and config["evaluation"]["lm_eval_tasks"]:
        checks.check_lm_eval_tasks(config["evaluation"])
    return tasks


def _cve_target(config: dict, runs: Runs) -> str | None:
    cve = config["analyses"]["compute_vs_error"]
    measured = [t.name for t in runs.targets.values() if t.measured]
    if cve["target"] and cve["target"] not in measured:
        raise ConfigError(f"analyses.compute_vs_error.target: '{cve['target']}' is not a target with measurements "
                          f"({measured})")
    if cve["target"] and runs.groups:
        raise ConfigError("analyses.compute_vs_error.target: the analysis refits one ladder; this experiment has "
                          f"groups {runs.groups} (one ladder each); remove the key")
    target = None if runs.groups else cve["target"] or (measured[0] if measured else None)
    methods = config["methods"]
    if target and (cve["method"] not in methods or "ensemble" in methods[cve["method"]]):
        raise ConfigError(f"analyses.compute_vs_error.method: '{cve['method']}' is not among the methods that fit laws "
                          f"{[m for m, s in methods.items() if 'ensemble' not in s]}")
    return target


def _check_planner(config: dict, runs: Runs) -> None:
    """planner.target names a target, of an experiment with one ladder, whose grid can make a ladder below it."""
    name = config["planner"]["target"]
    if name is None:
        return
    if name not in runs.targets:
        raise ConfigError(f"planner.target: '{name}' is not a target of this experiment; targets: {list(runs.targets)}")
    if runs.groups:
        raise ConfigError(f"planner.target: the planner simulates one ladder; this experiment has groups {runs.groups} "
                          "(one ladder each); remove the key")
    from taskladder.planner.candidates import budget_flops, candidates, grid

    target = runs.targets[name]
    spec = {"n": target.n, "d": target.d, "flops": target.flops}
    budget_flops(config["planner"]["budget"], spec, "planner.budget")
    candidates(grid(config, config["planner"]["multiples"], config["planner"]["seeds"]), spec)


def plan(config: dict, warn=warnings.warn, check_registries: bool = True) -> Experiment:
    """Resolve a validated config into runs, checkpoints, tasks and targets; check the files and names it uses.
    `check_registries`: also look lm-eval task names up in lm-eval's registry (seconds)."""
    check_name("experiment", config["experiment"], "experiment")
    for name in config["methods"]:  # methods/{method}/, figures/{method}/
        check_name("method", name, f"methods.{name}")
    ladder = None
    if config.get("ladder"):
        from taskladder.corpus.inputs import check_sources
        from taskladder.train.ladder import build

        check_sources(config)
        checks.check_tokenizer(config["tokenizer"])
        ladder = build(config)
    runs = plan_runs(config, ladder, warn)
    eval_tasks = _evaluation_tasks(config, ladder, runs.external, check_registries)
    layout = Layout(results_dir(config["experiment"]), tuple(runs.groups), config["figures"]["format"])

    evaluated = list(eval_tasks)
    if eval_tasks:
        from taskladder.tasks.olmes import AGGREGATES

        evaluated += [a for a, parts in AGGREGATES.items() if all(p in evaluated for p in parts)]
    ladder_tables = [t for t in runs.tables.values() if t.ladder]
    ladder_external = [r for r in runs.external.values() if r.name not in runs.targets]
    known = checks.known_tasks(([list(KNOWN_TASKS)] if runs.imported else []) + [t.tasks for t in ladder_tables]
                               + ([evaluated] if runs.trained or ladder_external else []))
    checks.check_tasks("fit.tasks", config["fit"]["tasks"], known)
    if any("ensemble" in m for m in config["methods"].values()) and not config["intervals"]["draws"]:
        raise ConfigError("intervals.draws: 0 leaves the ensemble nothing to weigh its members by (it reads their "
                          "backtests); set draws > 0 or remove the ensemble from methods")
    checks.check_methods(config, runs.tables, list(runs.external), runs.ladder_runs, runs.step2_runs)
    checks.check_run_counts(config, {g: runs.ladder_of(g) for g in runs.parts})

    lengths = ([None] * any(r.ladder for r in runs.imported.values()) + [t.checkpoints for t in ladder_tables]
               + [len(r.checkpoints) for r in (ladder.rungs if ladder else [])]
               + [len(r.checkpoints) for r in ladder_external])  # None: not known before the job
    variance = checks.variance_settings(config, known, lengths, warn)
    checks.warn_averaged_too_far_back(config, ladder, warn)
    chosen = config["analyses"]["variance"]["run"]
    if chosen and chosen not in runs.ladder_runs:
        raise ConfigError(f"analyses.variance.run: '{chosen}' is not a ladder run; expected one of {runs.ladder_runs}")

    checkpoints = ({r.name: list(r.checkpoints) for r in ladder.runs} if ladder else {}) | {
        r.name: r.steps for r in runs.external.values()}
    _check_planner(config, runs)
    train = TrainPlan(config, layout, ladder, runs.external, checkpoints)
    imports = ImportPlan(config, layout, runs)
    fits = FitPlan(config, layout, runs, imports, list(config["fit"]["tasks"]), variance, _cve_target(config, runs))
    return Experiment(config=config, layout=layout, runs=runs, imports=imports,
                      corpus=CorpusPlan(config, layout), train=train,
                      evaluation=EvalPlan(config, layout, train, eval_tasks), fits=fits)


def rule_resources(config: dict) -> dict[str, dict]:
    """Each rule family's `resources:` (config key `resources`: prepare, train, evaluate, fit) under the names
    Snakemake's SLURM executor reads: mem_mb, runtime (minutes), slurm_partition, gpu, slurm_extra. Unset ones are
    left out, so the profile's default-resources or the cluster's defaults apply."""
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

