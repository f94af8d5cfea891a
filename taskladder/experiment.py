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
    path: Path | None  # measured metrics to import, if any

    def as_dict(self) -> dict:
        return {"n": self.n, "d": self.d, "flops": self.flops}


@dataclass(frozen=True)
class Experiment:
    name: str
    results: Path
    imported: dict[str, ImportedRun]
    targets: dict[str, Target]
    tasks: list[str]
    methods: dict[str, dict]
    cve_target: str | None = None  # target of the compute-vs-error analysis (needs measurements)

    @property
    def ladder_runs(self) -> list[str]:
        return [r.name for r in self.imported.values() if r.ladder]

    @property
    def other_runs(self) -> list[str]:
        return [r.name for r in self.imported.values() if not r.ladder]

    def runs_of(self, method: str) -> list[str]:
        """The non-ladder runs a method's step 2 is fitted on."""
        return list((self.methods[method].get("step2") or {}).get("runs", []))

    @property
    def measured_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.path is not None]

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


def plan(config: dict, warn=warnings.warn) -> Experiment:
    """Resolve a validated config into runs and targets; check the files it names exist.

    A ladder run whose log is missing is an error. A target whose log is missing is
    skipped with a warning (it cannot be checked, and may not have been trained yet).
    """
    imported, targets = {}, {}
    if config.get("imported"):
        logs = _logs_dir(config)
        for name, spec in config["imported"].items():
            path = logs / spec["file"]
            if not path.exists():
                raise ConfigError(f"imported.{name}.file: ladder log not found: {path}")
            imported[name] = ImportedRun(name, spec["n"], path, spec.get("ladder", True))
    if not any(r.ladder for r in imported.values()):
        raise ConfigError("the config names no ladder runs (key 'imported' is empty)")

    for name, spec in config.get("targets", {}).items():
        path = None
        if spec.get("file"):
            path = _logs_dir(config) / spec["file"]
            if not path.exists():
                warn(f"target {name}: {path} not found; skipping this target")
                continue
        if name in imported:
            raise ConfigError(f"targets.{name}: the name is also a ladder run; names must be unique")
        targets[name] = Target(name, spec["n"], spec["d"], spec.get("flops"), path)

    fit = config["fit"]
    unknown = [t for t in fit["tasks"] if t not in KNOWN_TASKS]
    if unknown:  # every run is imported, so only tasks the logs hold can be fitted
        raise ConfigError(f"fit.tasks: unknown task(s) {unknown}; the OLMo-ladder logs hold {KNOWN_TASKS}")
    for name, method in config["methods"].items():
        for run in (method.get("step2") or {}).get("runs", []):
            if run not in imported or imported[run].ladder:
                raise ConfigError(f"methods.{name}.step2.runs: '{run}' is not an imported run with ladder: false; "
                                  f"such runs: {[r for r, v in imported.items() if not v.ladder]}")
    analyses = config["analyses"]
    bad = [t for t in analyses["variance"]["tasks"] if t not in KNOWN_TASKS]
    if bad:
        raise ConfigError(f"analyses.variance.tasks: unknown task(s) {bad}; the OLMo-ladder logs hold {KNOWN_TASKS}")
    cve = analyses["compute_vs_error"]
    if cve["method"] not in config["methods"]:
        raise ConfigError(f"analyses.compute_vs_error.method: '{cve['method']}' is not among methods "
                          f"{sorted(config['methods'])}")
    measured = [t.name for t in targets.values() if t.path is not None]
    cve_target = cve["target"] or (measured[0] if measured else None)
    if cve["target"] and cve["target"] not in measured:
        raise ConfigError(f"analyses.compute_vs_error.target: '{cve['target']}' is not a target with measurements "
                          f"({measured})")
    return Experiment(
        name=config["experiment"],
        results=Path("results") / config["experiment"],
        imported=imported,
        targets=targets,
        tasks=list(fit["tasks"]),
        methods=config["methods"],
        cve_target=cve_target,
    )


def fit_options(config: dict) -> dict:
    """The options every method's fit depends on (a change reruns every method)."""
    fit = config["fit"]
    keys = ("final_checkpoints", "target_checkpoints", "drop_first", "window", "huber_delta", "multistart",
            "use_best_start", "chance")
    return {k: fit[k] for k in keys} | {"seed": config["seed"]}
