"""The runs of an experiment and where each comes from, and the targets it predicts.

Ladder runs are imported (`imported`: run logs, each read by its own import job, and tables, read and checked
now), trained here (`ladder`) or existing checkpoints evaluated here (`checkpoints`); trained targets
(`ladder.targets`) are evaluated like the rungs. Every run name is unique across the sources (it names its metrics
file). A ladder log that is missing is an error; a target's log that is missing is skipped with a warning (it may
not exist yet). With groups (data recipes), every ladder run has one and each group is its own ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from taskladder.base.config import ConfigError
from taskladder.base.names import check_name
from taskladder.imports.sources import (
    ExternalRun,
    ImportedTable,
    is_run_log,
    plan_checkpoints,
    read_table,
)


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

    def spec(self, group: str | None = None) -> dict:
        """What a fit predicts it from: n, d, flops, and the run that measures it where named otherwise."""
        run = self.run_in(group)
        return {"n": self.n, "d": self.d, "flops": self.flops} | ({"run": run} if run not in (None, self.name) else {})


@dataclass(frozen=True)
class Runs:
    imported: dict[str, ImportedRun]  # run logs
    tables: dict[str, ImportedTable]  # imported entries read as tables
    external: dict[str, ExternalRun]  # runs of existing checkpoints
    trained: list[str]  # ladder rungs trained here
    targets: dict[str, Target]
    groups: list[str]  # one ladder per group, fitted separately

    @property
    def ladder_runs(self) -> list[str]:
        return ([r.name for r in self.imported.values() if r.ladder]
                + [r for t in self.tables.values() if t.ladder for r in t.runs] + self.trained
                + [r for r in self.external if r not in self.targets])

    @cached_property
    def group_of(self) -> dict[str, str | None]:
        """The group of every run (None: the experiment has no groups)."""
        return ({r.name: r.group for r in self.imported.values()} | {r.name: r.group for r in self.external.values()}
                | {r: g for t in self.tables.values() for r, g in t.runs.items()})

    def ladder_of(self, group: str | None) -> list[str]:
        """The ladder runs of a group (all of them where the experiment has no groups)."""
        return [r for r in self.ladder_runs if group is None or self.group_of.get(r) == group]

    @property
    def parts(self) -> list[str | None]:
        """The groups, or [None]: one ladder, one fit per method."""
        return self.groups or [None]

    @cached_property
    def table_of(self) -> dict[str, str]:
        """run -> the imported table entry that holds it."""
        return {r: t.name for t in self.tables.values() for r in t.runs}

    @property
    def imported_targets(self) -> list[str]:
        return [t.name for t in self.targets.values() if t.path is not None]

    @property
    def imported_logs(self) -> list[str]:
        """Runs whose metrics table is imported from a run log: imported runs and measured targets with a file."""
        return list(self.imported) + self.imported_targets

    def log_source(self, run: str) -> ImportedRun | Target:
        """The imported run or measured target a run log's metrics table is imported from."""
        return self.imported[run] if run in self.imported else self.targets[run]

    def tables_by_groups(self, grouped: bool) -> list[str]:
        """The table entries whose import jobs are one per group (`grouped`) or one per entry."""
        return [t.name for t in self.tables.values() if bool(t.groups) == grouped]

    @property
    def table_groups(self) -> list[str]:
        return sorted({g for t in self.tables.values() for g in t.groups})

    @property
    def step2_runs(self) -> dict[str, str]:
        """The runs a method's step 2 may name (imported with ladder: false) -> their entry."""
        return ({r.name: r.name for r in self.imported.values() if not r.ladder}
                | {r: t.name for t in self.tables.values() if not t.ladder for r in t.runs})


def logs_dir(config: dict) -> Path:
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
            group = spec.get("group") and check_name("group", spec["group"], f"imported.{name}.group")
            path = logs_dir(config) / spec["file"]
            if not path.exists():
                raise ConfigError(f"imported.{name}.file: ladder log not found: {path}")
            if path.is_dir():
                raise ConfigError(f"imported.{name}.file: {path} is a directory; expected a ladder log (a CSV file)")
            runs[name] = ImportedRun(name, spec["n"], path, spec.get("ladder", True), group)
        else:
            if config.get("olmo_ladder_dir"):
                logs_dir(config)
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
        path = logs_dir(config) / spec["file"]
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


def plan_runs(config: dict, ladder, warn) -> Runs:
    """Every run of a validated config (`ladder`: the rungs and targets trained here, or None) and its targets."""
    imported, tables = _imported(config)
    external = plan_checkpoints(config.get("checkpoints") or [])
    trained = [r.name for r in ladder.rungs] if ladder else []
    targets = {r.name: Target(r.name, r.n, r.tokens, None, trained=True, runs={None: r.name})
               for r in (ladder.targets if ladder else [])}
    _unique_runs({"ladder": trained + list(targets), "checkpoints": list(external),
                  **{f"imported.{n}": [n] for n in imported},
                  **{f"imported.{t.name}": list(t.runs) for t in tables.values()}})
    for name, spec in config.get("targets", {}).items():
        check_name("target", name, f"targets.{name}")
        if name in targets or name in imported or name in trained or any(name in t.runs for t in tables.values()):
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
    return Runs(imported, tables, external, trained, targets, groups)
