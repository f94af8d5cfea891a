"""The plan of an experiment: what a validated config asks the workflow to do, and where every file goes.

One `Experiment`, built once in the Snakefile (and by the command line), knows every run, checkpoint,
task, method and path of the results layout; the rule files read it and share nothing else. The
params it gives a job hold only what changes that job's output, so adding a rung, size, target,
method or task never reruns a finished job whose output would not change.

    results/{experiment}/                          (io.results_dir)
        corpus/                 manifest.json, val.npy, train/, tokenizer/        prepare_corpus
        tasks/{task}.jsonl                                                        prepare_task
        checkpoints/{run}/step{step:07d}/                                         train (io.checkpoint_dir)
        evals/{run}/step{first:07d}-{last:07d}.csv                                evaluate (a chunk of checkpoints)
        metrics/{run}.csv                                                         collect_metrics, import_run
        methods/{method}/{fits,predictions,points,backtest,draws,calibration}.csv fit_method
        methods/{ensemble}/{predictions,backtest,draws,calibration,weights}.csv   fit_ensemble
        figures/{method}/{step1,step2,chained}.{format}, figures/{ensemble}/members.{format}   figures_method
        fits.csv, predictions.csv (with flags)                                    tables
        analyses/backtest.csv, calibration.csv, predictability.csv                tables
        analyses/backtest.{format}                                                backtest
        analyses/variance.csv, compute_vs_error.csv (+ figures)                   variance, compute_vs_error
        report.rst                                                                report_page (the report's first page)
        logs/{rule}/...                                                           every rule
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from taskladder.config import RUNTIME_KEYS, ConfigError, schema
from taskladder.importers import KNOWN_TASKS
from taskladder.io import checkpoint_dir, results_dir
from taskladder.ladder import Ladder

FIGURES = ("step1", "step2", "chained")  # per fitted method (taskladder.plots.FIGURES)
ENSEMBLE_FIGURES = ("members",)  # per ensemble (taskladder.plots.members_figure)
METHOD_TABLES = ("fits", "predictions", "points", "backtest", "draws", "calibration")  # methods.fit_and_write
ENSEMBLE_TABLES = ("predictions", "backtest", "draws", "calibration", "weights")  # ensemble.fit_and_write
TABLES = ("predictions", "fits")  # every method's, gathered by rule tables (predictions with their flags)
ANALYSIS_TABLES = ("backtest", "calibration", "predictability")  # written by rule tables too
HEADLINE_METHODS = ("ensemble", "two_step")  # the report's first page leads with the first there is


@dataclass(frozen=True)
class ImportedRun:
    name: str
    n: int
    path: Path
    ladder: bool = True  # False: a run a method names (e.g. a target's own checkpoints), not a rung


@dataclass(frozen=True)
class Target:
    name: str
    n: int
    d: int
    flops: float | None
    path: Path | None = None  # measured metrics to import, if any
    trained: bool = False  # trained and evaluated by this workflow

    @property
    def measured(self) -> bool:
        return self.trained or self.path is not None

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
    checkpoints: dict[str, list[int]] = field(default_factory=dict)  # run -> checkpoint steps (trained runs)
    eval_tasks: dict[str, dict] = field(default_factory=dict)  # task -> how to build it (taskladder.tasks.plan)

    # ---- runs ---------------------------------------------------------------------------------
    @property
    def ladder_runs(self) -> list[str]:
        return [r.name for r in self.imported.values() if r.ladder] + self.trained

    @property
    def train_runs(self) -> list[str]:
        """Every run trained here: the rungs, then the targets."""
        return list(self.checkpoints)

    @property
    def measured_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.measured]

    @property
    def imported_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.path is not None]

    @property
    def imported_metrics(self) -> list[str]:
        """Runs whose metrics table is imported from a log: imported runs and measured targets with a file."""
        return list(self.imported) + self.imported_targets

    def source(self, run: str) -> ImportedRun | Target:
        """The imported run or measured target a metrics table is imported from."""
        return self.imported[run] if run in self.imported else self.targets[run]

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
        from taskladder.ensemble import members

        return members(self.methods, ensemble)

    def pattern(self, kind: str) -> str:
        """Wildcard constraint of `kind`: trained (runs), imported (runs), method, task, step, chunk."""
        names = {"trained": self.train_runs, "imported": self.imported_metrics, "method": self.methods,
                 "fitted": self.fitted_methods, "ensemble": self.ensembles, "task": self.eval_tasks}
        return {"step": r"\d{7}", "chunk": r"step\d{7}-\d{7}"}.get(kind) or _alternatives(names[kind])

    # ---- paths --------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return str(self.results.joinpath(*parts))

    def log(self, name: str) -> str:
        return self.path("logs", f"{name}.log")

    @property
    def corpus(self) -> dict[str, str]:
        """The prepared corpus (taskladder.data.prepare_corpus), one entry per output; training reads them
        all. One job makes them today; jobs per input file would become prepare_corpus's inputs."""
        return {k: self.path("corpus", v) for k, v in
                {"manifest": "manifest.json", "val": "val.npy", "train": "train", "tokenizer": "tokenizer"}.items()}

    def task_file(self, task: str) -> str:
        return self.path("tasks", f"{task}.jsonl")

    @property
    def task_files(self) -> list[str]:
        return [self.task_file(t) for t in self.eval_tasks]

    def checkpoint(self, run: str, step: int | str) -> str:
        return str(checkpoint_dir(self.results / "checkpoints" / run, step))

    @property
    def final_checkpoints(self) -> list[str]:
        return [self.checkpoint(run, steps[-1]) for run, steps in self.checkpoints.items()]

    def metrics(self, run: str) -> str:
        return self.path("metrics", f"{run}.csv")

    def metrics_of(self, runs) -> list[str]:
        return [self.metrics(r) for r in runs]

    def method_tables(self, method: str) -> dict[str, str]:
        """A method's own tables ("{method}" gives the wildcard form of a fitted method's)."""
        if method in self.ensembles:
            return self.ensemble_tables(method)
        return {t: self.path("methods", method, f"{t}.csv") for t in METHOD_TABLES}

    def ensemble_tables(self, method: str) -> dict[str, str]:
        return {t: self.path("methods", method, f"{t}.csv") for t in ENSEMBLE_TABLES}

    def fit_inputs(self, wildcards) -> dict[str, list[str]]:
        """What fitting a method reads: the ladder's metrics, the measured targets', and the other runs its
        step 2 names."""
        return {"ladder": self.metrics_of(self.ladder_runs), "targets": self.metrics_of(self.measured_targets),
                "others": self.metrics_of(self.runs_of(wildcards.method))}

    def ensemble_inputs(self, wildcards) -> dict[str, list[str]]:
        """What an ensemble reads: its members' predictions, backtests and draws, and the ladder's metrics."""
        members = self.members(wildcards.method)
        return ({t: [self.method_tables(m)[t] for m in members] for t in ("predictions", "backtest", "draws")}
                | {"ladder": self.metrics_of(self.ladder_runs)})

    def method_spec(self, wildcards) -> dict:
        """A method's definition (an ensemble's: its `ensemble` key): what its fit job depends on."""
        spec = self.methods[wildcards.method]
        return spec["ensemble"] if "ensemble" in spec else spec

    def figures(self, method: str) -> dict[str, str]:
        """A method's figures ("{method}" gives the wildcard form of a fitted method's)."""
        return {f: self.figure(method, f) for f in (ENSEMBLE_FIGURES if method in self.ensembles else FIGURES)}

    def figure(self, method: str, name: str) -> str:
        return self.path("figures", method, f"{name}.{self.config['figures']['format']}")

    def figure_inputs(self, wildcards) -> dict[str, str]:
        """A method's figures read its tables and the predictions with their flags."""
        return self.method_tables(wildcards.method) | {"summary": self.table("predictions")}


    @property
    def summary_inputs(self) -> dict[str, list[str]]:
        """What rule tables gathers: every method's tables, and the ladder's metrics for the predictability."""
        inputs = {t: [self.method_tables(m)[t] for m in self.methods if t in self.method_tables(m)]
                  for t in ("predictions", "fits", "backtest", "calibration", "weights")}
        return inputs | {"ladder": self.metrics_of(self.ladder_runs)}

    @property
    def summary_outputs(self) -> dict[str, str]:
        return {t: self.table(t) for t in TABLES} | {t: self.analysis(t) for t in ANALYSIS_TABLES}

    def method_outputs(self, method: str) -> list[str]:
        """Everything one method writes (`snakemake method_<name>` asks for it)."""
        return [*self.method_tables(method).values(), *self.figures(method).values()]

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
        if self.config["intervals"]["draws"]:
            out["backtest"] = [self.analysis_figure("backtest")]
        if self.cve_target:
            out["compute_vs_error"] = [self.analysis("compute_vs_error"), *self.cve_figures.values()]
        return out

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
        """The headline method's figures: an ensemble's members and the chained panels of its first member;
        a fitted method's chained and step-1 panels."""
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
        checkpoint, else the run's final checkpoint (the output of its one training job)."""
        return self.checkpoint(run, step if self._per_checkpoint else self.checkpoints[run][-1])

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
        """What building a task reads besides the packages' own data (none yet; a task built from the
        corpus's held-out documents would name the corpus here)."""
        return []

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
        the predictability measures read, and the flags' thresholds."""
        return {"tasks": self.tasks, "methods": self.methods, "options": self.fit_options, "flags": self.config["flags"]}

    @property
    def target_specs(self) -> dict[str, dict]:
        return {t.name: t.as_dict() for t in self.targets.values()}

    @property
    def cve_params(self) -> dict:
        cve = self.config["analyses"]["compute_vs_error"]
        return {"method_name": cve["method"], "method": self.methods[cve["method"]], "target": self.cve_target,
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


def _imported(config: dict) -> dict[str, ImportedRun]:
    runs = {}
    if config.get("imported"):
        logs = _logs_dir(config)
        for name, spec in config["imported"].items():
            path = logs / spec["file"]
            if not path.exists():
                raise ConfigError(f"imported.{name}.file: ladder log not found: {path}")
            runs[name] = ImportedRun(name, spec["n"], path, spec.get("ladder", True))
    return runs


def _known_tasks(config: dict, eval_tasks: dict, trained: bool, imported: bool) -> list[str]:
    """Task names the metrics will hold: what the logs carry and what the evaluation computes."""
    known = list(KNOWN_TASKS) if imported else []
    if trained:
        from taskladder.tasks import AGGREGATES

        evaluated = list(eval_tasks)
        evaluated += [a for a, parts in AGGREGATES.items() if all(p in evaluated for p in parts)]
        known = [t for t in known if t in evaluated] if imported else evaluated
    return known


def _check_tasks(key: str, tasks: list[str], known: list[str]) -> None:
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ConfigError(f"{key}: unknown task(s) {unknown}; the ladder metrics will hold {known}")


def _check_lm_eval_tasks(evaluation: dict) -> None:
    """lm-eval task names, against lm-eval's registry (and the config's own task folder)."""
    from taskladder.tasks import lm_eval_task_manager

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


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


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


def plan(config: dict, warn=warnings.warn, check_registries: bool = True) -> Experiment:
    """Resolve a validated config into runs, checkpoints, tasks and targets; check the files and names it uses.

    Ladder runs are imported (`imported`) or trained here (`ladder`); trained targets
    (`ladder.targets`) are evaluated like the rungs. A ladder log that is missing is an error;
    a target's log that is missing is skipped with a warning (it may not exist yet).
    `check_registries`: also look lm-eval task names up in lm-eval's registry (seconds).
    """
    imported = _imported(config)
    trained, targets, ladder, eval_tasks = [], {}, None, {}
    if config.get("ladder"):
        from taskladder.data import check_sources
        from taskladder.ladder import build
        from taskladder.tasks import plan as eval_plan

        check_sources(config)
        _check_tokenizer(config["tokenizer"])
        ladder = build(config)
        eval_tasks = eval_plan(config["evaluation"])
        if check_registries and config["evaluation"]["lm_eval_tasks"]:
            _check_lm_eval_tasks(config["evaluation"])
        trained = [r.name for r in ladder.rungs]
        targets = {r.name: Target(r.name, r.n, r.tokens, None, trained=True) for r in ladder.targets}
    if not trained and not any(r.ladder for r in imported.values()):
        raise ConfigError("the config names no ladder runs: give `imported` runs or a `ladder` to train")
    clash = set(trained) & set(imported)
    if clash:
        raise ConfigError(f"imported: run name(s) {sorted(clash)} are also trained ladder rungs")

    for name, spec in config.get("targets", {}).items():
        if name in imported or name in trained or name in targets:
            raise ConfigError(f"targets.{name}: the name is also a ladder run or a trained target; names must be unique")
        path = None
        if spec.get("file"):
            path = _logs_dir(config) / spec["file"]
            if not path.exists():
                warn(f"target {name}: {path} not found; skipping this target")
                continue
        targets[name] = Target(name, spec["n"], spec["d"], spec.get("flops"), path)

    known = _known_tasks(config, eval_tasks, bool(trained), bool(imported))
    _check_tasks("fit.tasks", config["fit"]["tasks"], known)
    if any("ensemble" in m for m in config["methods"].values()) and not config["intervals"]["draws"]:
        raise ConfigError("intervals.draws: 0 leaves the ensemble nothing to weigh its members by (it reads their "
                          "backtests); set draws > 0 or remove the ensemble from methods")
    for name, method in config["methods"].items():
        for run in (method.get("step2") or {}).get("runs", []):
            if run not in imported or imported[run].ladder:
                raise ConfigError(f"methods.{name}.step2.runs: '{run}' is not an imported run with ladder: false; "
                                  f"such runs: {[r for r, v in imported.items() if not v.ladder]}")
    analyses = config["analyses"]
    _check_tasks("analyses.variance.tasks", analyses["variance"]["tasks"], known)
    ladder_runs = [r for r, v in imported.items() if v.ladder] + trained
    if analyses["variance"]["run"] and analyses["variance"]["run"] not in ladder_runs:
        raise ConfigError(f"analyses.variance.run: '{analyses['variance']['run']}' is not a ladder run; "
                          f"expected one of {ladder_runs}")
    cve = analyses["compute_vs_error"]
    if cve["method"] not in config["methods"] or "ensemble" in config["methods"][cve["method"]]:
        raise ConfigError(f"analyses.compute_vs_error.method: '{cve['method']}' is not among the methods that fit laws "
                          f"{[m for m, s in config['methods'].items() if 'ensemble' not in s]}")
    measured = [t.name for t in targets.values() if t.measured]
    if cve["target"] and cve["target"] not in measured:
        raise ConfigError(f"analyses.compute_vs_error.target: '{cve['target']}' is not a target with measurements "
                          f"({measured})")
    return Experiment(
        config=config,
        name=config["experiment"],
        results=results_dir(config["experiment"]),
        imported=imported,
        trained=trained,
        targets=targets,
        tasks=list(config["fit"]["tasks"]),
        methods=config["methods"],
        cve_target=cve["target"] or (measured[0] if measured else None),
        ladder=ladder,
        checkpoints={r.name: list(r.checkpoints) for r in ladder.runs} if ladder else {},
        eval_tasks=eval_tasks,
    )


def fit_options(config: dict) -> dict:
    """The options every method's fit depends on (a change reruns every method): every key of the
    `fit` schema but the tasks (given apart), and the seed."""
    keys = [k for k in schema()["properties"]["fit"]["properties"] if k != "tasks"]
    return {k: config["fit"][k] for k in keys} | {"seed": config["seed"]}


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
