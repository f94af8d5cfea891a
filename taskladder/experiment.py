"""What a validated config asks the workflow to do: which ladder runs, which targets, where.

The Snakefile and the CLI both build their plan here, so the rules stay thin.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from taskladder.config import ConfigError
from taskladder.importers import KNOWN_TASKS


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


@dataclass(frozen=True)
class Experiment:
    name: str
    results: Path
    imported: dict[str, ImportedRun]
    trained: list[str]  # ladder rungs this workflow trains and evaluates
    targets: dict[str, Target]
    tasks: list[str]
    methods: dict[str, dict]
    cve_target: str | None = None  # target of the compute-vs-error analysis (needs measurements)

    @property
    def ladder_runs(self) -> list[str]:
        return [r.name for r in self.imported.values() if r.ladder] + self.trained

    @property
    def other_runs(self) -> list[str]:
        return [r.name for r in self.imported.values() if not r.ladder]

    @property
    def measured_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.measured]

    @property
    def imported_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.path is not None]

    def source(self, run: str) -> ImportedRun | Target:
        """The imported run or measured target a metrics table is imported from."""
        return self.imported[run] if run in self.imported else self.targets[run]

    def runs_of(self, method: str) -> list[str]:
        """The non-ladder runs a method's step 2 is fitted on."""
        return list((self.methods[method].get("step2") or {}).get("runs", []))

    def metrics_path(self, run: str) -> Path:
        return self.results / "metrics" / f"{run}.csv"


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


def _known_tasks(config: dict, trained: bool, imported: bool) -> list[str]:
    """Task names the metrics will hold: what the logs carry and what the evaluation computes."""
    known = list(KNOWN_TASKS) if imported else []
    if trained:
        from taskladder.tasks import AGGREGATES, plan as eval_plan

        evaluated = list(eval_plan(config["evaluation"]))
        evaluated += [a for a, parts in AGGREGATES.items() if all(p in evaluated for p in parts)]
        known = [t for t in known if t in evaluated] if imported else evaluated
    return known


def _check_tasks(key: str, tasks: list[str], known: list[str]) -> None:
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ConfigError(f"{key}: unknown task(s) {unknown}; the ladder metrics will hold {known}")


def plan(config: dict, warn=warnings.warn) -> Experiment:
    """Resolve a validated config into runs and targets; check the files and names it uses.

    Ladder runs are imported (`imported`) or trained here (`ladder`); trained targets
    (`ladder.targets`) are evaluated like the rungs. A ladder log that is missing is an error;
    a target's log that is missing is skipped with a warning (it may not exist yet).
    """
    imported = _imported(config)
    trained, targets = [], {}
    if config.get("ladder"):
        from taskladder.data import check_sources
        from taskladder.ladder import build

        check_sources(config)
        ladder = build(config)
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

    known = _known_tasks(config, bool(trained), bool(imported))
    _check_tasks("fit.tasks", config["fit"]["tasks"], known)
    for name, method in config["methods"].items():
        for run in (method.get("step2") or {}).get("runs", []):
            if run not in imported or imported[run].ladder:
                raise ConfigError(f"methods.{name}.step2.runs: '{run}' is not an imported run with ladder: false; "
                                  f"such runs: {[r for r, v in imported.items() if not v.ladder]}")
    analyses = config["analyses"]
    _check_tasks("analyses.variance.tasks", analyses["variance"]["tasks"], known)
    cve = analyses["compute_vs_error"]
    if cve["method"] not in config["methods"]:
        raise ConfigError(f"analyses.compute_vs_error.method: '{cve['method']}' is not among methods "
                          f"{sorted(config['methods'])}")
    measured = [t.name for t in targets.values() if t.measured]
    if cve["target"] and cve["target"] not in measured:
        raise ConfigError(f"analyses.compute_vs_error.target: '{cve['target']}' is not a target with measurements "
                          f"({measured})")
    return Experiment(
        name=config["experiment"],
        results=Path("results") / config["experiment"],
        imported=imported,
        trained=trained,
        targets=targets,
        tasks=list(config["fit"]["tasks"]),
        methods=config["methods"],
        cve_target=cve["target"] or (measured[0] if measured else None),
    )


def fit_options(config: dict) -> dict:
    """The options every method's fit depends on (a change reruns every method)."""
    fit = config["fit"]
    keys = ("final_checkpoints", "target_checkpoints", "drop_first", "window", "huber_delta", "multistart",
            "use_best_start", "chance")
    return {k: fit[k] for k in keys} | {"seed": config["seed"]}


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
