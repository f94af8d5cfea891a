"""Where an experiment's runs come from besides the ladder it trains, read and checked when the plan is made.

- Run logs (`imported: {name: {file, n, ladder}}`): one OLMo-ladder CSV per run, read by its import job.
- Tables (any other `imported` entry: a CSV, TSV, parquet or JSONL table of many runs, or an lm-eval output
  directory; `taskladder.imports.tables`): read when the plan is made, so a unit mismatch or a missing column stops
  the workflow before any job, naming file, row and column; what the read found is kept (`taskladder.imports.cache`)
  so that the next start reads an unchanged table no more. Its runs become runs of the experiment; one import
  job per entry (or per entry and group) writes their metrics table. The job reruns only when its own rows
  change: the plan gives it a digest of them.
- Existing checkpoints (`checkpoints:` a list of {run, n, tokens, step, path | hub and revision}): each is
  linked into the results layout (`link_checkpoint`) and evaluated and fitted as a trained rung is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.config import ConfigError
from taskladder.base.files import atomic_dir, atomic_path, write_text
from taskladder.base.metrics_table import InputError, check_runs
from taskladder.base.names import check_name
from taskladder.imports.cache import cached
from taskladder.imports.entry import METRICS, check_entry
from taskladder.imports.tables import entry_chunks

RUN_LOG_KEYS = {"file", "n", "ladder", "group"}  # the original form: one OLMo-ladder CSV per run
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_run_log(entry: dict) -> bool:
    return isinstance(entry, dict) and set(entry) <= RUN_LOG_KEYS


def base_dir(config: dict) -> Path:
    """Where a relative `imported` file is read from: olmo_ladder_dir when set, else the working directory."""
    return Path(config.get("olmo_ladder_dir") or ".")


class Digest:
    """A digest of a metrics table's rows (their order, values and the columns' names and types), fed a slice of
    rows at a time: the import job of a table (or of one group of it) reruns when it changes. Vectorised (a million
    rows in about a second); the same rows give the same digest however they are sliced."""

    def __init__(self):
        self._hash = None  # started by the first slice, with its columns

    def update(self, frame: pd.DataFrame) -> None:
        if self._hash is None:
            self._hash = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
        self._hash.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())

    def hexdigest(self) -> str:
        return (self._hash or hashlib.sha256()).hexdigest()[:16]


def digest(frame: pd.DataFrame) -> str:
    """The `Digest` of a whole table."""
    d = Digest()
    d.update(frame)
    return d.hexdigest()


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class ImportedTable:
    """An `imported` entry that holds a table of runs (or an lm-eval output directory), as read for the plan."""

    name: str
    path: Path
    ladder: bool
    runs: dict[str, str | None]  # run -> its group (None: the entry has no groups)
    digests: dict[str | None, str]  # group (None: the whole entry) -> digest of its rows
    missing: dict[str, list[str]]  # task -> metrics with no value at any checkpoint
    tasks: list[str]
    checkpoints: int  # the most checkpoints of any of its runs

    @property
    def groups(self) -> list[str]:
        return [g for g in self.digests if g is not None]


class _Summary:
    """What the plan needs of a table entry, gathered a slice of whole runs at a time (slices in the order of the
    runs' names: together, the table sorted by run, task and step)."""

    def __init__(self, path: Path):
        self.path, self.runs, self.digests, self.tasks, self.checkpoints = path, {}, {}, {}, 0
        self.valued: dict[str, set] = {}  # task -> metrics with a value somewhere

    def add(self, frame: pd.DataFrame) -> None:
        check_runs(self.path, frame)
        if "group" in frame:
            for group in frame["group"].unique():
                check_name("group", group, f"{self.path}: column group", InputError)
            spread = frame.groupby("run", sort=False)["group"].nunique()
            if (spread > 1).any():
                run = spread.index[np.flatnonzero(spread.to_numpy() > 1)[0]]
                groups = sorted(frame.loc[frame["run"] == run, "group"].unique())
                raise InputError(f"{self.path}: run '{run}' is in groups {groups}; expected one group per run")
            parts = dict(iter(frame.groupby("group", sort=True)))
        else:
            parts = {None: frame}
        for group, rows in parts.items():
            self.digests.setdefault(group, Digest()).update(rows)
        runs = frame.drop_duplicates("run")
        self.runs.update(zip(runs["run"], runs["group"] if "group" in runs else [None] * len(runs)))
        self.tasks.update(dict.fromkeys(pd.unique(frame["task"])))
        self.checkpoints = max(self.checkpoints, int(frame.groupby(["run", "task"]).size().max()))
        for task, rows in frame.groupby("task", sort=False):
            self.valued.setdefault(task, set()).update(m for m in METRICS if m in rows and rows[m].notna().any())

    def json(self) -> dict:
        missing = {t: [m for m in METRICS if m not in self.valued[t]] for t in sorted(self.valued)}
        return {"runs": [[r, g] for r, g in self.runs.items()],
                "digests": [[g, d.hexdigest()] for g, d in sorted(self.digests.items(), key=lambda x: str(x[0]))],
                "missing": {t: m for t, m in missing.items() if m}, "tasks": list(self.tasks),
                "checkpoints": self.checkpoints}


def _summary(name: str, entry: dict, config: dict, path: Path) -> dict:
    """Read and check a table entry (every value, the metrics contract): what the plan needs of it, as JSON."""
    summary = _Summary(path)
    for frame in entry_chunks(name, entry, base_dir=base_dir(config)):
        summary.add(frame)
    return summary.json()


def read_table(name: str, entry: dict, config: dict) -> ImportedTable:
    """Read and check an `imported` table entry for the plan, or take what an earlier read of the same file content
    by the same entry found (`taskladder.imports.cache`)."""
    path = Path(entry["file"])
    if not path.is_absolute():
        path = base_dir(config) / path
    summary = cached(path, check_entry(name, entry), lambda: _summary(name, entry, config, path))
    return ImportedTable(name=name, path=path, ladder=bool(entry.get("ladder", True)),
                         runs={r: g for r, g in summary["runs"]}, digests={g: d for g, d in summary["digests"]},
                         missing=summary["missing"], tasks=summary["tasks"], checkpoints=summary["checkpoints"])


def import_table(job: dict, out: str | Path) -> dict:
    """The import job of a table entry (of one of its groups; `job`: entry, spec, base_dir, group, digest): its runs'
    metrics table, written to `out` a slice of runs at a time. Returns how many runs, checkpoints and tasks."""
    rows, runs, checkpoints, tasks = Digest(), 0, 0, set()
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        for i, frame in enumerate(entry_chunks(job["entry"], job["spec"], base_dir=job["base_dir"])):
            if job["group"] is not None:
                frame = frame[(frame["group"] == job["group"]).to_numpy()]
            frame.to_csv(f, index=False, header=i == 0)
            if len(frame):
                rows.update(frame)
            runs += frame["run"].nunique()
            checkpoints += len(frame.drop_duplicates(["run", "step"]))
            tasks |= set(frame["task"])
        if rows.hexdigest() != job["digest"]:
            raise InputError(f"imported.{job['entry']}: {job['spec']['file']} changed since the workflow started; "
                             "run it again")
    return {"runs": runs, "checkpoints": checkpoints, "tasks": len(tasks)}


# ----------------------------------------------------------------------------- existing checkpoints


@dataclass(frozen=True)
class ExternalRun:
    """A run whose checkpoints exist already (config key `checkpoints`): evaluated and fitted as a trained rung."""

    name: str
    n: int
    group: str | None
    checkpoints: dict[int, dict] = field(default_factory=dict)  # step -> {tokens, path | hub, revision}

    @property
    def steps(self) -> list[int]:
        return sorted(self.checkpoints)

    def source(self, step: int) -> dict:
        """What the link job of checkpoint `step` links: where it is, and what it is (run, n, step, tokens)."""
        ck = self.checkpoints[step]
        where = {k: ck[k] for k in ("path", "hub", "revision") if ck.get(k) is not None}
        return {**where, "info": {"run": self.name, "n": self.n, "step": step, "tokens": ck["tokens"]}}


def plan_checkpoints(items: list[dict]) -> dict[str, ExternalRun]:
    """The `checkpoints` list by run, checked: one n and group per run, each step once, tokens non-decreasing with
    step, a local path that is a save_pretrained directory or a hub id."""
    runs: dict[str, ExternalRun] = {}
    for i, item in enumerate(items):
        where = f"checkpoints[{i}]"
        name = check_name("run", item["run"], f"{where}.run")
        if item.get("group") is not None:
            check_name("group", item["group"], f"{where}.group")
        if ("path" in item) == ("hub" in item):
            raise ConfigError(f"{where}: give path (a local save_pretrained directory) or hub (a hub id, with "
                              "revision), not " + ("both" if "path" in item else "neither"))
        if "path" in item:
            path = Path(item["path"])
            if not (path / "config.json").is_file():
                found = "no such directory" if not path.is_dir() else "no config.json in it"
                raise ConfigError(f"{where}.path: {path}: {found}; expected a save_pretrained model directory")
        elif not HUB_ID.match(item["hub"]):
            raise ConfigError(f"{where}.hub: {item['hub']!r} is not a hub id; expected org/name")
        if item["tokens"] == 0 and item["step"] > 0:
            raise ConfigError(f"{where}.tokens: 0 at step {item['step']}; expected tokens > 0 after step 0 (only the "
                              "initial checkpoint has seen none)")
        run = runs.setdefault(name, ExternalRun(name, item["n"], item.get("group")))
        if (item["n"], item.get("group")) != (run.n, run.group):
            raise ConfigError(f"{where}: run {name} has n = {item['n']}, group {item.get('group')!r} here but n = "
                              f"{run.n}, group {run.group!r} in an earlier checkpoint; expected one n and group per "
                              "run")
        if item["step"] in run.checkpoints:
            raise ConfigError(f"{where}: run {name} lists step {item['step']} twice; expected each checkpoint once")
        run.checkpoints[item["step"]] = {k: v for k, v in item.items() if k in ("tokens", "path", "hub", "revision")}
    for run in runs.values():
        tokens = [run.checkpoints[s]["tokens"] for s in run.steps]
        down = next((k for k in range(1, len(tokens)) if tokens[k] < tokens[k - 1]), None)
        if down is not None:
            raise ConfigError(f"checkpoints: run {run.name}: tokens go down from {tokens[down - 1]} at step "
                              f"{run.steps[down - 1]} to {tokens[down]} at step {run.steps[down]}; expected tokens "
                              "non-decreasing with step")
    return runs


def link_checkpoint(source: dict, out: str | Path) -> Path:
    """Make checkpoint `out` of the results layout from an existing one: links to the files of its save_pretrained
    directory (a hub checkpoint is downloaded to the Hugging Face cache first) and taskladder.json (run, n, step,
    tokens), as training writes it. The directory appears only complete."""
    if "path" in source:
        src = Path(source["path"]).resolve()
    else:
        from huggingface_hub import snapshot_download

        src = Path(snapshot_download(source["hub"], revision=source.get("revision")))
    if not (src / "config.json").is_file():
        raise ValueError(f"checkpoint {source.get('path') or source['hub']}: no config.json in {src}; expected a "
                         "save_pretrained model directory")
    with atomic_dir(out) as tmp:
        for item in src.iterdir():
            if item.name != "taskladder.json":
                os.symlink(item.resolve(), tmp / item.name)
        write_text(json.dumps(source["info"]), tmp / "taskladder.json")
    return Path(out)
