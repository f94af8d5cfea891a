"""Import ladder results logged elsewhere into the long metrics table, driven by config, no code.

An ``imported`` config entry names a source and how to read it:

    sweep:
      file: sweep.parquet             # csv, tsv, parquet, jsonl (by suffix), or a directory (format: lm_eval)
      columns: {run: name, n: params, tokens: tokens_seen, step: step, group: recipe, seed: seed}
      metrics:                        # per metric of the contract, a column template
        acc: "{task}_acc_norm"
        task_loss: "{task}_bpb"
      overrides: {boolq: {acc: "{task}_acc"}}   # per task, where its column is named otherwise
      task_names: {openbookqa: openbook_qa}     # our task name -> its name in the file
      tasks: [hellaswag, boolq, openbookqa]
      units: {acc: percent, task_loss: nats_per_byte}
      filters: {split: test}

- ``columns``: ``run`` (a column, or a list of columns joined by "-"; absent: the entry's name is
  the run), ``n``, ``tokens``, ``step`` (absent: one checkpoint per run), ``flops``, ``seed``,
  ``group``, and ``task`` for a table in long task layout (one row per checkpoint and task).
  ``n``, ``seed`` and ``group`` may instead be constants of the entry.
- ``metrics``: for each of ``task_loss, acc, task_ce, lm_loss, acc_mc`` a template with ``{task}``
  (the task's name in the file), or a list of templates: the first column present is read.
  A mapped metric must be in the file unless listed in ``optional``; metrics not mapped are empty.
- ``tokens_per_step`` (a column or a number): tokens = step x it where the tokens column is
  absent; step = tokens / it where the step column is absent.
- ``units``: task_loss and lm_loss in ``{bits,nats}_per_{byte,token}`` (the contract: task loss in
  bits per byte, lm_loss in nats per token; converting between per byte and per token needs
  ``bytes_per_token``), task_ce in ``nats``, ``bits`` or ``log_prob`` (the negated TaskCE, as OLMo
  logs it), accuracies as ``fraction`` or ``percent``; ``n``, ``tokens``, ``flops`` as a multiplier
  (``flops: 1e9`` for GFLOPs). A value that contradicts its unit is an error.
- ``aggregates``: a task computed as the weighted mean of others (MMLU of its subject groups).
- ``sparse: true``: rows without any metric value are not checkpoints and are skipped (W&B
  histories log training and evaluation at different steps); other empty cells of optional metrics
  are left empty.
- ``preset``: ``olmo_ladder`` (the OLMo ladder's released CSVs; an entry with no format, preset,
  columns or metrics is one), ``wandb`` (a run history exported from W&B), ``lm_eval`` (implied by
  ``format: lm_eval``). The entry's own keys override the preset's.

``format: lm_eval``: ``file`` is a directory of lm-eval ``results*.json`` files (``lm_eval
--output_path``), one checkpoint each, listed in a manifest (``manifest.yaml`` in the directory, or
``manifest:`` a path or the mapping itself)::

    n: 190354176                      # optional: group, seed
    checkpoints:
      - {results: step1000, step: 1000, tokens: 4194304000}   # a results file or a folder under the directory

Accuracy is lm-eval's ``acc_norm`` (else ``acc``). Task loss (bits per byte of the gold continuation,
``taskladder.metrics``) and TaskCE come from the per-sample log-likelihoods where lm-eval logged them
(``--log_samples``); without them they are empty and ``missing_metrics`` says so.

Every value is checked for meaning: accuracy in [0, 1], losses finite and > 0, n and tokens > 0,
tokens non-decreasing with step within a run, no duplicated (run, step, task). Errors name the file,
the row (a CSV's row counts its header line as row 1; parquet rows count from 1; JSONL lines count
from 1) and the column, or the config key (``ConfigError``).
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from taskladder.config import ConfigError
from taskladder.io import METRIC_COLUMNS, InputError
from taskladder.tasks import MMLU_GROUPS, OLMES_RC

METRICS = ("task_loss", "acc", "task_ce", "lm_loss", "acc_mc")
PER_TASK = ("task_loss", "acc", "task_ce", "acc_mc")  # lm_loss is one value per checkpoint
COLUMN_KEYS = ("run", "n", "tokens", "step", "flops", "seed", "group", "task")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
LOSS_UNITS = ("bits_per_byte", "nats_per_byte", "bits_per_token", "nats_per_token")
UNITS = {"task_loss": LOSS_UNITS, "lm_loss": LOSS_UNITS, "task_ce": ("nats", "bits", "log_prob"),
         "acc": ("fraction", "percent"), "acc_mc": ("fraction", "percent")}
CONTRACT_UNITS = {"task_loss": "bits_per_byte", "lm_loss": "nats_per_token", "task_ce": "nats", "acc": "fraction",
                  "acc_mc": "fraction"}
SCALES = ("n", "tokens", "flops")
ENTRY_KEYS = ("file", "format", "preset", "columns", "n", "seed", "group", "tokens_per_step", "metrics", "overrides",
              "task_names", "tasks", "optional", "units", "filters", "aggregates", "sparse", "manifest", "ladder")

# our task name -> the OLMo in-loop task name the logs use (without the _rc_5shot suffix)
OLMO_TASKS = {name: label.removesuffix("_rc_5shot") for name, label in OLMES_RC.items()}
KNOWN_TASKS = ["mmlu", *OLMO_TASKS]
LM_LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"
FLOPS_COLUMN = "throughput/total_training_Gflops"

PRESETS = {
    "olmo_ladder": {  # the CSVs the OLMo ladder released: one W&B-history row per checkpoint
        "format": "csv",
        "columns": {"step": "_step", "tokens": "throughput/total_tokens", "flops": FLOPS_COLUMN},
        "tokens_per_step": "batch_size_in_tokens",
        "units": {"flops": 1e9, "task_ce": "log_prob"},
        "metrics": {
            "task_loss": "eval/downstream_bpb/{task}_rc_5shot_bpb",
            "acc": "eval/downstream/{task}_rc_5shot_len_norm",
            "task_ce": "eval/downstream_soft_log/{task}_rc_5shot_soft_log",
            "lm_loss": LM_LOSS_COLUMN,
            "acc_mc": ["eval/downstream/{task}_mc_5shot_acc", "eval/downstream/{task}_mc_5shot_len_norm"],
        },
        "overrides": {"boolq": {"acc": "eval/downstream/{task}_rc_5shot_acc"}},
        "optional": ["step", "tokens", "flops", "acc_mc"],
        "task_names": OLMO_TASKS,
        "tasks": KNOWN_TASKS,
        "aggregates": {"mmlu": {f"mmlu_{g}": w for g, w in MMLU_GROUPS.items()}},
    },
    "wandb": {"format": "csv", "columns": {"step": "_step"}, "sparse": True},  # run.history() exported as CSV
    "lm_eval": {
        "format": "lm_eval",
        "columns": {"n": "n", "step": "step", "tokens": "tokens"},
        "metrics": {"acc": ["{task}/acc_norm,none", "{task}/acc,none"], "task_loss": "{task}/task_loss",
                    "task_ce": "{task}/task_ce"},
        "optional": ["task_loss", "task_ce"],
        "task_names": {"csqa": "commonsense_qa", "socialiqa": "social_iqa"},
    },
}


def olmo_columns(task: str) -> dict[str, str]:
    """The OLMo-ladder CSV columns of one task's task loss, accuracy and (negated) TaskCE."""
    preset = PRESETS["olmo_ladder"]
    templates = preset["metrics"] | preset["overrides"].get(task, {})
    return {m: templates[m].format(task=OLMO_TASKS[task]) for m in ("task_loss", "acc", "task_ce")}


# ----------------------------------------------------------------------------- the entry


def _fail(key: str, message: str):
    raise ConfigError(f"{key}: {message}")


def _strings(value, key: str) -> list[str]:
    """A template or a list of templates (the first column present is read)."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        _fail(key, f"expected a column name or a list of column names, found {value!r}")
    for v in values:
        fields = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        if fields - {"task"}:
            _fail(key, f"template {v!r} uses {sorted(fields - {'task'})}; only {{task}} can be filled in")
    return values


def _mapping(value, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(key, f"expected a mapping, found {value!r}")
    return value


def _positive(value, key: str, integer: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok or (integer and value != int(value)):
        _fail(key, f"expected a positive {'integer' if integer else 'number'}, found {value!r}")
    return int(value) if integer else value


def check_entry(name: str, entry: dict) -> dict:
    """Validate one `imported` entry and return it complete: its preset's keys under its own, every key
    present. Raises ConfigError naming the key (``imported.<name>.<key>``), what was expected and found."""
    key = f"imported.{name}"
    entry = _mapping(entry, key)
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        _fail(key, f"unknown key(s) {unknown}; expected among {list(ENTRY_KEYS)}")
    if not isinstance(entry.get("file"), (str, Path)) or not str(entry["file"]):
        _fail(f"{key}.file", f"expected a table's path or an lm-eval output directory, found {entry.get('file')!r}")
    preset = entry.get("preset")
    if preset is None and entry.get("format") == "lm_eval":
        preset = "lm_eval"
    elif preset is None and not {"format", "columns", "metrics", "manifest"} & set(entry):
        preset = "olmo_ladder"  # the original form {file, n}: one OLMo-ladder CSV per run
    if preset is not None and preset not in PRESETS:
        _fail(f"{key}.preset", f"unknown preset {preset!r}; expected one of {list(PRESETS)}")
    spec = {k: v for k, v in PRESETS.get(preset, {}).items()}
    for k, v in entry.items():  # the entry's keys over the preset's; mappings merged key by key
        spec[k] = {**spec[k], **v} if isinstance(spec.get(k), dict) and isinstance(v, dict) else v
    spec["preset"], spec["name"], spec["file"] = preset, name, str(entry["file"])

    fmt = spec.get("format") or FORMATS.get(Path(spec["file"]).suffix.lower())
    if fmt not in (*FORMATS.values(), "lm_eval"):
        _fail(f"{key}.format", f"cannot tell the format of {spec['file']!r}; give format: one of "
                               f"{sorted(set(FORMATS.values())) + ['lm_eval']}")
    spec["format"] = fmt
    if "manifest" in spec and fmt != "lm_eval":
        _fail(f"{key}.manifest", "only an lm-eval output directory (format: lm_eval) has a manifest")

    columns = _mapping(spec.get("columns"), f"{key}.columns")
    for k, v in columns.items():
        if k not in COLUMN_KEYS:
            _fail(f"{key}.columns.{k}", f"unknown column key; expected among {list(COLUMN_KEYS)}")
        if k == "run" and v is not None:
            _strings(v, f"{key}.columns.run")
        elif v is not None and (not isinstance(v, str) or not v):
            _fail(f"{key}.columns.{k}", f"expected a column name, found {v!r}")
    spec["columns"] = {k: columns.get(k) for k in COLUMN_KEYS}
    for k, column in (("n", "n"), ("seed", "seed"), ("group", "group")):
        if spec.get(k) is not None and columns.get(column) and fmt != "lm_eval":
            _fail(f"{key}.{k}", f"given both as a constant and as columns.{column}; give one")
    if spec.get("n") is not None:
        spec["n"] = _positive(spec["n"], f"{key}.n", integer=True)
    if spec.get("seed") is not None and (not isinstance(spec["seed"], int) or isinstance(spec["seed"], bool)):
        _fail(f"{key}.seed", f"expected an integer, found {spec['seed']!r}")
    if spec.get("group") is not None and not isinstance(spec["group"], str):
        _fail(f"{key}.group", f"expected a group name, found {spec['group']!r}")
    if spec.get("n") is None and not spec["columns"]["n"]:
        _fail(f"{key}", "no n: give n (non-embedding parameters) or columns.n")
    tps = spec.get("tokens_per_step")
    if tps is not None and not isinstance(tps, str):
        _positive(tps, f"{key}.tokens_per_step")
    spec["tokens_per_step"] = tps

    metrics = _mapping(spec.get("metrics"), f"{key}.metrics")
    for k in metrics:
        if k not in METRICS:
            _fail(f"{key}.metrics.{k}", f"unknown metric; expected among {list(METRICS)}")
    spec["metrics"] = {k: _strings(v, f"{key}.metrics.{k}") for k, v in metrics.items()}
    if not spec["metrics"]:
        _fail(f"{key}.metrics", f"no metric mapped; give a column template for at least one of {list(METRICS)}")
    overrides = _mapping(spec.get("overrides"), f"{key}.overrides")
    spec["overrides"] = {}
    for task, over in overrides.items():
        for k, v in _mapping(over, f"{key}.overrides.{task}").items():
            if k not in METRICS:
                _fail(f"{key}.overrides.{task}.{k}", f"unknown metric; expected among {list(METRICS)}")
            spec["overrides"].setdefault(task, {})[k] = _strings(v, f"{key}.overrides.{task}.{k}")
    task_names = _mapping(spec.get("task_names"), f"{key}.task_names")
    if not all(isinstance(v, str) and v for v in task_names.values()):
        _fail(f"{key}.task_names", f"expected task name -> its name in the file, found {task_names!r}")
    if len(set(task_names.values())) < len(task_names):
        _fail(f"{key}.task_names", f"two tasks share a name in the file: {task_names!r}")
    spec["task_names"] = dict(task_names)

    tasks = spec.get("tasks")
    if tasks is not None and (not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks)
                              or len(set(tasks)) < len(tasks)):
        _fail(f"{key}.tasks", f"expected a list of distinct task names, found {tasks!r}")
    if tasks is None and fmt != "lm_eval" and not spec["columns"]["task"]:
        _fail(f"{key}.tasks", "required: the table has one column per task (no columns.task), so name the tasks")
    spec["tasks"] = tasks
    aggregates = _mapping(spec.get("aggregates"), f"{key}.aggregates")
    for task, parts in aggregates.items():
        parts = _mapping(parts, f"{key}.aggregates.{task}")
        if not parts:
            _fail(f"{key}.aggregates.{task}", "expected {part task: weight}, found no parts")
        for part, w in parts.items():
            _positive(w, f"{key}.aggregates.{task}.{part}")
    spec["aggregates"] = aggregates

    optional = spec.get("optional") or []
    allowed = (*METRICS, "step", "tokens", "flops")
    if not isinstance(optional, list) or any(o not in allowed for o in optional):
        _fail(f"{key}.optional", f"expected a list among {list(allowed)}, found {optional!r}")
    spec["optional"] = list(optional)

    units = _mapping(spec.get("units"), f"{key}.units")
    for k, v in units.items():
        if k in UNITS:
            if v not in UNITS[k]:
                _fail(f"{key}.units.{k}", f"unknown unit {v!r}; expected one of {list(UNITS[k])}")
        elif k in SCALES:
            _positive(v, f"{key}.units.{k}")
        elif k == "bytes_per_token":
            _positive(v, f"{key}.units.bytes_per_token")
        else:
            _fail(f"{key}.units.{k}", f"unknown key; expected among {[*UNITS, *SCALES, 'bytes_per_token']}")
    spec["units"] = {**CONTRACT_UNITS, **{k: 1 for k in SCALES}, **units}
    for metric in ("task_loss", "lm_loss"):
        if units.get(metric) and _per(units[metric]) != _per(CONTRACT_UNITS[metric]) and "bytes_per_token" not in units:
            _fail(f"{key}.units.{metric}", f"{units[metric]} converts to the contract's {CONTRACT_UNITS[metric]} only "
                                           "with units.bytes_per_token")

    filters = _mapping(spec.get("filters"), f"{key}.filters")
    for column, f in filters.items():
        if isinstance(f, dict) and (not f or set(f) - {"min", "max"}
                                    or not all(isinstance(v, (int, float)) for v in f.values())):
            _fail(f"{key}.filters.{column}", f"expected a value, a list of values or {{min, max}}, found {f!r}")
        if isinstance(f, list) and not f:
            _fail(f"{key}.filters.{column}", "an empty list keeps no row")
    spec["filters"] = filters
    spec["sparse"] = bool(spec.get("sparse", False))
    spec["ladder"] = bool(spec.get("ladder", True))
    for k in ("n", "seed", "group"):
        spec.setdefault(k, None)
    return spec


def _per(unit: str) -> str:
    return unit.rsplit("_", 1)[-1]


def loss_factor(metric: str, unit: str, bytes_per_token: float | None = None) -> float:
    """What a loss of `metric` in `unit` (bits or nats, per byte or per token; TaskCE: bits or nats) is multiplied
    by to be in the contract's unit."""
    factor = 1.0
    if unit.startswith("bits") != CONTRACT_UNITS[metric].startswith("bits"):
        factor *= math.log(2) if unit.startswith("bits") else 1 / math.log(2)
    if "_per_" in unit and _per(unit) != _per(CONTRACT_UNITS[metric]):
        factor *= 1 / bytes_per_token if _per(unit) == "token" else bytes_per_token
    return factor


# ----------------------------------------------------------------------------- reading files


@dataclass
class Rows:
    """Where a table's rows come from, for error messages: `label(i)` names row i (its index label)."""

    path: Path
    kind: str = "row"  # row (CSV, TSV, parquet) or line (JSONL)
    offset: int = 2  # CSV: the header is row 1, the first data row is row 2
    files: dict | None = None  # lm-eval: index -> results file

    def label(self, index) -> str:
        return self.files[index] if self.files else f"{self.kind} {index + self.offset}"

    def labels(self, indices) -> str:
        if self.files:
            return ", ".join(self.files[i] for i in indices)
        return f"{self.kind}s {[int(i) + self.offset for i in indices]}"


def read_table(path: str | Path, fmt: str) -> tuple[pd.DataFrame, Rows]:
    """A CSV, TSV, parquet or JSONL file as a frame (CSV cells as strings), index = position in the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if fmt in ("csv", "tsv"):
        try:
            raw = pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise InputError(f"{path}: empty file (no header, no rows)") from None
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); expected a UTF-8 "
                             f"{fmt.upper()} file") from None
        except pd.errors.ParserError as e:
            raise InputError(f"{path}: not a readable {fmt.upper()} file ({e})") from None
        rows = Rows(path)
    elif fmt == "parquet":
        try:
            raw = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
            raise InputError(f"{path}: not a readable parquet file ({e})") from None
        rows = Rows(path, offset=1)
    elif fmt == "jsonl":
        records, index = [], []
        for i, line in enumerate(path.read_text().splitlines()):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}: line {i + 1}: not JSON ({e.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}: line {i + 1}: expected a JSON object, found {line[:60]!r}")
                records.append(record)
                index.append(i)
        if not records:
            raise InputError(f"{path}: empty file (no JSON lines)")
        raw = pd.DataFrame.from_records(records, index=index)
        rows = Rows(path, kind="line", offset=1)
    else:
        raise ValueError(f"unknown table format {fmt!r}")
    if raw.empty:
        raise InputError(f"{path}: no rows after the header")
    raw.columns = [str(c) for c in raw.columns]
    return raw, rows


def _empty(series: pd.Series) -> np.ndarray:
    return (series.isna() | series.astype(str).str.strip().isin(["", "nan", "NaN", "None", "null"])).to_numpy()


def _numbers(raw: pd.DataFrame, column: str, rows: Rows, required: bool = True) -> np.ndarray:
    """A column as floats; a non-numeric cell, or an empty one where `required`, names file, row and column."""
    if column not in raw.columns:
        raise InputError(f"{rows.path}: missing column '{column}'")
    cells = raw[column]
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any() and not required:  # an empty cell of an optional column is a missing value
        bad[bad] = ~_empty(cells[bad])
    if bad.any():
        i = np.flatnonzero(bad)
        more = f" ({i.size} bad cells in this column)" if i.size > 1 else ""
        raise InputError(f"{rows.path}: {rows.label(raw.index[i[0]])}, column '{column}': expected a finite number, "
                         f"found {cells.iloc[i[0]]!r}{more}")
    return values


def _check(ok: np.ndarray, raw: pd.DataFrame, values, column: str, rows: Rows, expected: str) -> None:
    bad = np.flatnonzero(~ok & ~np.isnan(values))
    if bad.size:
        i = bad[0]
        raise InputError(f"{rows.path}: {rows.label(raw.index[i])}, column '{column}': {expected}, found {values[i]:g}"
                         + (f" ({bad.size} such cells in this column)" if bad.size > 1 else ""))


def _keep(raw: pd.DataFrame, filters: dict, rows: Rows) -> pd.DataFrame:
    for column, f in filters.items():
        if column not in raw.columns:
            raise InputError(f"{rows.path}: missing column '{column}' (used in filters)")
        cells = raw[column]
        if isinstance(f, dict):
            values = pd.to_numeric(cells, errors="coerce")
            mask = values.between(f.get("min", -np.inf), f.get("max", np.inf))
        else:
            wanted = f if isinstance(f, list) else [f]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in wanted):
                mask = pd.to_numeric(cells, errors="coerce").isin(wanted)
            else:
                mask = cells.astype(str).isin([str(v) for v in wanted])
        raw = raw[mask.to_numpy()]
    if raw.empty:
        raise InputError(f"{rows.path}: no rows left after the filters {filters}")
    return raw


# ----------------------------------------------------------------------------- one metric, one task


def _template(spec: dict, metric: str, task: str) -> list[str] | None:
    templates = spec["overrides"].get(task, {}).get(metric, spec["metrics"].get(metric))
    if templates is None:
        return None
    name = spec["task_names"].get(task, task)
    return [t.format(task=name) for t in templates]


def _convert(values: np.ndarray, metric: str, spec: dict, raw, column: str, rows: Rows) -> np.ndarray:
    """Values in their declared unit -> the contract's unit, checked for meaning."""
    units = spec["units"]
    unit = units[metric]
    where = f"imported.{spec['name']}.units.{metric}"
    if metric in ("acc", "acc_mc"):
        if unit == "percent":
            _check((values >= 0) & (values <= 100), raw, values, column, rows, "expected a percent in [0, 100]")
            finite = values[np.isfinite(values)]
            if finite.size and finite.max() <= 1:
                raise InputError(f"{rows.path}: column '{column}': every value is at most 1 (largest {finite.max():g}) "
                                 f"but {where} is percent; is it a fraction? set {where}: fraction")
            return values / 100
        _check(values <= 1, raw, values, column, rows, f"accuracy above 1 but {where} is fraction; if the column holds "
                                                       f"percent, set {where}: percent")
        _check(values >= 0, raw, values, column, rows, "expected an accuracy in [0, 1]")
        return values
    if unit == "log_prob":
        _check(values <= 0, raw, values, column, rows, f"expected a log-probability <= 0 ({where} is log_prob; "
                                                       "set nats if the column holds the TaskCE itself)")
        values = -values
    else:
        factor = loss_factor(metric, unit, units.get("bytes_per_token"))
        if factor != 1.0:
            values = values * factor
    _check(values > 0, raw, values, column, rows, "expected a loss > 0")
    return values


def _metric(raw: pd.DataFrame, spec: dict, metric: str, task: str, rows: Rows) -> tuple[np.ndarray, str | None]:
    """One metric of one task in the contract's unit, and the column it came from (None: not in the table)."""
    templates = _template(spec, metric, task)
    if templates is None:
        return np.full(len(raw), np.nan), None
    column = next((c for c in templates if c in raw.columns), None)
    if column is None:
        if metric in spec["optional"]:
            return np.full(len(raw), np.nan), None
        if spec["format"] == "lm_eval" and metric in ("task_loss", "task_ce"):
            raise InputError(f"{rows.path}: no {metric} of task '{task}': it is computed from the per-sample "
                             "log-likelihoods, which lm-eval writes with --log_samples (samples_*.jsonl)")
        what = f"for {metric} of task '{task}'" if metric in PER_TASK else f"for {metric}"
        raise InputError(f"{rows.path}: missing column '{templates[0]}' {what}"
                         + (f" (nor {templates[1:]})" if len(templates) > 1 else "")
                         + f"; the entry imported.{spec['name']} maps it there")
    required = metric not in spec["optional"]
    values = _numbers(raw, column, rows, required=required)
    return _convert(values, metric, spec, raw, column, rows), column


# ----------------------------------------------------------------------------- the table


def _names(raw: pd.DataFrame, column: str, rows: Rows, what: str) -> pd.Series:
    """A column of names (runs, groups); an empty cell names file, row and column."""
    if column not in raw.columns:
        raise InputError(f"{rows.path}: missing column '{column}' (the {what})")
    empty = _empty(raw[column])
    if empty.any():
        raise InputError(f"{rows.path}: {rows.label(raw.index[np.flatnonzero(empty)[0]])}, column '{column}': "
                         f"expected a {what}, found an empty cell")
    return raw[column].astype(str)


def _keys(raw: pd.DataFrame, spec: dict, rows: Rows) -> pd.DataFrame:
    """run, n, step, tokens, flops (+ seed, group) of every row, checked."""
    cols, units, optional = spec["columns"], spec["units"], spec["optional"]
    present = lambda k: cols[k] and (cols[k] in raw.columns or k not in optional)  # noqa: E731
    out = pd.DataFrame(index=raw.index)
    if cols["run"]:
        names = [cols["run"]] if isinstance(cols["run"], str) else cols["run"]
        out["run"] = pd.concat([_names(raw, c, rows, "run name") for c in names], axis=1).agg("-".join, axis=1)
    else:
        out["run"] = spec["name"]

    if cols["n"]:
        n = _numbers(raw, cols["n"], rows) * units["n"]
        _check(n > 0, raw, n, cols["n"], rows, "expected n (non-embedding parameters) > 0")
        out["n"] = np.rint(n).astype(np.int64)
    else:
        out["n"] = np.int64(spec["n"])
    tps = spec["tokens_per_step"]
    per_step = lambda: _numbers(raw, tps, rows) if isinstance(tps, str) else np.full(len(raw), float(tps))  # noqa: E731
    step = _numbers(raw, cols["step"], rows) if present("step") else None
    if present("tokens"):
        tokens = _numbers(raw, cols["tokens"], rows) * units["tokens"]
    elif step is not None and tps is not None:
        tokens = step * per_step()
    else:
        why = f"missing column '{cols['tokens']}'" if cols["tokens"] else f"no imported.{spec['name']}.columns.tokens"
        raise InputError(f"{rows.path}: no tokens: {why}, and no step and tokens_per_step to count them")
    if step is None:
        if tps is not None:
            step = np.round(tokens / per_step())
        else:  # one checkpoint per run: its step is unknown
            step = np.zeros(len(raw))
    # the initial checkpoint (step 0) has seen no tokens; every other has
    _check((tokens > 0) | ((tokens == 0) & (step == 0)), raw, tokens, cols["tokens"] or "tokens", rows,
           "expected tokens > 0 (0 only at step 0)")
    _check((step >= 0) & (step == np.round(step)), raw, step, cols["step"] or "step", rows,
           "expected a whole step >= 0")
    out["step"], out["tokens"] = step.astype(np.int64), np.rint(tokens).astype(np.int64)
    if present("flops"):
        flops = _numbers(raw, cols["flops"], rows) * units["flops"]
        _check(flops > 0, raw, flops, cols["flops"], rows, "expected FLOPs > 0")
    else:
        flops = 6.0 * out["n"].to_numpy() * tokens
    out["flops"] = flops
    if cols["seed"]:
        seed = _numbers(raw, cols["seed"], rows)
        _check(seed == np.round(seed), raw, seed, cols["seed"], rows, "expected a whole seed")
        out["seed"] = seed.astype(np.int64)
    elif spec.get("seed") is not None:
        out["seed"] = np.int64(spec["seed"])
    if cols["group"]:
        out["group"] = _names(raw, cols["group"], rows, "group name")
    elif spec.get("group") is not None:
        out["group"] = spec["group"]
    return out


def _available_tasks(raw: pd.DataFrame, spec: dict, rows: Rows) -> list[str]:
    if spec["tasks"] is not None:
        return list(spec["tasks"])
    in_file = {v: k for k, v in spec["task_names"].items()}
    if spec["columns"]["task"]:
        if spec["columns"]["task"] not in raw.columns:
            raise InputError(f"{rows.path}: missing column '{spec['columns']['task']}' (the task)")
        names = raw[spec["columns"]["task"]].astype(str).unique()
    else:  # lm-eval: every task of the results files
        names = sorted({c.split("/", 1)[0] for c in raw.columns if "/" in c})
    return [in_file.get(t, t) for t in names] + [a for a in spec["aggregates"] if a not in names]


def _task_rows(raw: pd.DataFrame, spec: dict, task: str) -> pd.DataFrame:
    column = spec["columns"]["task"]
    if not column:
        return raw
    return raw[(raw[column].astype(str) == spec["task_names"].get(task, task)).to_numpy()]


def _leaf(raw: pd.DataFrame, keys: pd.DataFrame, spec: dict, task: str, rows: Rows, seen: dict) -> pd.DataFrame:
    """One task (not an aggregate): its rows' keys and metrics."""
    part = _task_rows(raw, spec, task)
    frame = keys.loc[part.index].copy()
    frame["task"] = task
    for metric in METRICS:
        frame[metric], column = _metric(part, spec, metric, task, rows)
        if column and metric in PER_TASK and not spec["columns"]["task"]:
            if (metric, column) in seen:
                raise InputError(f"{rows.path}: column '{column}' is mapped to {metric} of both task "
                                 f"'{seen[metric, column]}' and task '{task}'; put {{task}} in the template of "
                                 f"imported.{spec['name']}.metrics.{metric} or give overrides")
            seen[metric, column] = task
    return frame


def _aggregate(task: str, parts: dict, frames: dict, rows: Rows) -> pd.DataFrame:
    """An aggregate task: the weighted mean of its parts' metrics at each checkpoint."""
    keys = ["run", "step"]
    first = frames[next(iter(parts))]
    out = first.drop(columns=list(PER_TASK)).assign(task=task)  # lm_loss: the same for every part
    at = pd.MultiIndex.from_frame(first[keys])
    aligned = {}
    for part in parts:
        indexed = frames[part].set_index(keys)
        if len(indexed) != len(at) or not at.isin(indexed.index).all():
            raise InputError(f"{rows.path}: task '{task}' averages {list(parts)}, but '{part}' is not at every "
                             f"checkpoint of '{next(iter(parts))}'")
        aligned[part] = indexed.reindex(at)
    total = sum(parts.values())
    for metric in PER_TASK:
        out[metric] = sum(w * aligned[part][metric].to_numpy() for part, w in parts.items()) / total
    return out


def _check_runs(frame: pd.DataFrame, spec: dict, rows: Rows) -> None:
    """No duplicated (run, step, task); tokens non-decreasing with step within a run."""
    dup = frame.duplicated(["run", "step", "task"], keep=False).to_numpy()
    if dup.any():
        first = frame[dup].iloc[0]
        same = frame[dup & (frame["run"] == first["run"]).to_numpy() & (frame["step"] == first["step"]).to_numpy()
                     & (frame["task"] == first["task"]).to_numpy()]
        hint = ""
        if spec["columns"]["seed"] and spec["columns"]["run"]:
            hint = (f"; if they are runs with different seeds, name runs by seed too: imported.{spec['name']}"
                    f".columns.run: [{spec['columns']['run']}, {spec['columns']['seed']}]")
        elif not spec["columns"]["step"] and spec["tokens_per_step"] is None:
            hint = f"; without a step column (imported.{spec['name']}.columns.step) each run has one checkpoint"
        raise InputError(f"{rows.path}: duplicate step {first['step']} in {rows.labels(same['_row'])} (run "
                         f"'{first['run']}', task '{first['task']}'); each checkpoint must appear once{hint}")
    for (run, task), part in frame.groupby(["run", "task"], sort=False):
        part = part.sort_values("step", kind="stable")
        drop = np.flatnonzero(np.diff(part["tokens"].to_numpy()) < 0)
        if drop.size:
            a, b = part.iloc[drop[0]], part.iloc[drop[0] + 1]
            raise InputError(f"{rows.path}: run '{run}': tokens decrease with step, {a['tokens']} at step "
                             f"{a['step']} ({rows.label(a['_row'])}) then {b['tokens']} at step {b['step']} "
                             f"({rows.label(b['_row'])})")


def table_metrics(raw: pd.DataFrame, spec: dict, rows: Rows, tasks: list[str] | None = None) -> pd.DataFrame:
    """A read table (one row per checkpoint, or per checkpoint and task) -> the long metrics table."""
    raw = _keep(raw, spec["filters"], rows)
    available = _available_tasks(raw, spec, rows)
    tasks = list(tasks) if tasks is not None else available
    unknown = [t for t in tasks if t not in available]
    if unknown:
        source = f"preset {spec['preset']}" if spec["preset"] else f"imported.{spec['name']}"
        raise InputError(f"unknown task name(s) {unknown} for {source} ({rows.path}); known: {available}")
    leaves = [p for t in tasks for p in spec["aggregates"].get(t, {t: 1})]
    if spec["sparse"]:  # rows with no metric value are not checkpoints
        columns = {c for t in leaves for m in METRICS for c in (_template(spec, m, t) or []) if c in raw.columns}
        raw = raw[~np.logical_and.reduce([_empty(raw[c]) for c in columns] or [np.zeros(len(raw), bool)])]
        if raw.empty:
            raise InputError(f"{rows.path}: no row holds a value of the mapped metrics")
    keys = _keys(raw, spec, rows).assign(_row=raw.index)
    frames, seen = {}, {}
    for task in dict.fromkeys(leaves):
        frames[task] = _leaf(raw, keys, spec, task, rows, seen)
        if frames[task].empty:
            raise InputError(f"{rows.path}: no rows of task '{spec['task_names'].get(task, task)}' in column "
                             f"'{spec['columns']['task']}'")
    out = [_aggregate(t, spec["aggregates"][t], frames, rows) if t in spec["aggregates"] else frames[t] for t in tasks]
    frame = pd.concat(out, ignore_index=True)
    _check_runs(frame, spec, rows)
    extra = ["flops", "acc_mc"] + [c for c in ("seed", "group") if c in frame.columns]
    frame = frame[METRIC_COLUMNS + extra]
    return frame.sort_values(["run", "task", "step"], kind="stable").reset_index(drop=True)


def read_entry(name: str, entry: dict, base_dir: str | Path | None = None, tasks: list[str] | None = None
               ) -> pd.DataFrame:
    """Every run an `imported` entry holds, as the long metrics table (io.METRIC_COLUMNS + flops, acc_mc, and seed
    and group where the entry has them). A relative `file` is read from `base_dir`. `tasks`: the tasks to import
    (default: every task the entry holds); a task it does not hold is an error. Metrics the source lacks are empty
    (see `missing_metrics`)."""
    spec = check_entry(name, entry)
    path = Path(spec["file"])
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if spec["format"] == "lm_eval":  # one row per checkpoint; n, group and seed are columns of it
        raw, rows = lm_eval_table(path, spec)
        spec = {**spec, "n": None, "columns": {**spec["columns"], **{k: k for k in ("group", "seed") if k in raw}}}
    else:
        raw, rows = read_table(path, spec["format"])
    return table_metrics(raw, spec, rows, tasks)


def missing_metrics(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per task, the metrics with no value at any checkpoint (e.g. task loss of an lm-eval run logged without
    samples); methods that chain through or predict them cannot use this source."""
    out = {}
    for task, rows in frame.groupby("task", sort=True):
        absent = [m for m in METRICS if m in rows.columns and rows[m].isna().all()]
        if absent:
            out[task] = absent
    return out


def read_olmo_ladder(path: str | Path, run: str, n: int, tasks: list[str]) -> pd.DataFrame:
    """Read one OLMo-ladder CSV into the long metrics table for `tasks`."""
    return read_entry(run, {"file": str(path), "n": int(n)}, tasks=tasks)


IMPORTERS = {"olmo_ladder": read_olmo_ladder}


# ----------------------------------------------------------------------------- lm-eval output directories


def read_manifest(run_dir: Path, spec: dict) -> tuple[dict, str]:
    """The manifest of an lm-eval run directory (n, optional group and seed, checkpoints) and where it is."""
    manifest = spec.get("manifest", "manifest.yaml")
    where = f"imported.{spec['name']}.manifest"
    if isinstance(manifest, str):
        path = run_dir / manifest
        where = str(path)
        if not path.is_file():
            raise InputError(f"{path}: manifest not found (it lists the checkpoints of {run_dir}: n, and per "
                             "checkpoint its results, step and tokens)")
        try:
            manifest = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise InputError(f"{path}: not YAML ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("checkpoints"), list) or not manifest.get(
            "checkpoints"):
        raise InputError(f"{where}: expected a mapping with `checkpoints`: a list of {{results, step, tokens}}")
    unknown = sorted(set(manifest) - {"n", "group", "seed", "checkpoints"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; expected n, group, seed, checkpoints")
    for i, ck in enumerate(manifest["checkpoints"]):
        if not isinstance(ck, dict) or set(ck) != {"results", "step", "tokens"}:
            raise InputError(f"{where}: checkpoints[{i}]: expected {{results, step, tokens}}, found {ck!r}")
        for k in ("step", "tokens"):
            if not isinstance(ck[k], (int, float)) or isinstance(ck[k], bool) or not ck[k] >= 0:
                raise InputError(f"{where}: checkpoints[{i}].{k}: expected a number >= 0, found {ck[k]!r}")
    return manifest, where


def lm_eval_table(run_dir: str | Path, spec: dict) -> tuple[pd.DataFrame, Rows]:
    """An lm-eval run directory as a table: one row per checkpoint of its manifest, columns n, step, tokens (and
    group, seed where given) and `<task>/<lm-eval metric key>` (e.g. `hellaswag/acc_norm,none`), plus
    `<task>/task_loss` and `<task>/task_ce` where lm-eval logged the samples."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"lm-eval output directory not found: {run_dir}")
    manifest, where = read_manifest(run_dir, spec)
    n = manifest.get("n", spec.get("n"))
    if spec.get("n") is not None and n != spec["n"]:
        raise InputError(f"{where}: n = {n}, but imported.{spec['name']}.n = {spec['n']}")
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise InputError(f"{where}: n: expected the run's non-embedding parameters (an integer > 0), found {n!r}")
    listed, records, files = set(), [], {}
    for i, ck in enumerate(manifest["checkpoints"]):
        target = run_dir / str(ck["results"])
        found = sorted(target.rglob("results*.json")) if target.is_dir() else [target] if target.is_file() else []
        if not found:
            raise InputError(f"{where}: checkpoints[{i}].results: no lm-eval results*.json at {target}")
        listed.update(found)
        record = {"n": n, "step": ck["step"], "tokens": ck["tokens"], "group": manifest.get("group", spec.get("group")),
                  "seed": manifest.get("seed", spec.get("seed"))}
        owner: dict[str, Path] = {}
        for path in found:
            for task, values in _lm_eval_results(path).items():
                if task in owner:
                    raise InputError(f"{run_dir}: task '{task}' of checkpoint step {ck['step']} is in both "
                                     f"{owner[task].relative_to(run_dir)} and {path.relative_to(run_dir)}; "
                                     "list one of them in the manifest")
                owner[task] = path
                record.update({f"{task}/{k}": v for k, v in values.items()})
        records.append(record)
        files[i] = " + ".join(str(p.relative_to(run_dir)) for p in found)
    unlisted = sorted(set(run_dir.rglob("results*.json")) - listed)
    if unlisted:
        raise InputError(f"{run_dir}: results file(s) {[str(p.relative_to(run_dir)) for p in unlisted]} are not in the "
                         f"manifest ({where}); list every checkpoint with its step and tokens")
    raw = pd.DataFrame.from_records(records)
    return raw.drop(columns=[k for k in ("group", "seed") if raw[k].isna().all()]), Rows(run_dir, files=files)


def _lm_eval_results(path: Path) -> dict[str, dict]:
    """Per task of one results file: its metric values, and task_loss and task_ce from the logged samples
    (leaves' samples pooled for a group, weighted by their sizes as lm-eval weights group metrics)."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise InputError(f"{path}: not an lm-eval results file (no `results` mapping)")
    date = path.stem.rsplit("_", 1)[1] if "_" in path.stem else None  # lm-eval's date id has no "_"
    out, pooled = {}, {}
    for task, values in data["results"].items():
        out[task] = {k: v for k, v in values.items()
                     if "," in k and "stderr" not in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
        samples = path.parent / f"samples_{task}_{date}.jsonl"
        if date and samples.is_file():
            metric = "len_norm" if "acc_norm,none" in values else "acc"
            pooled[task] = _sample_sums(samples, metric)
    groups = data.get("group_subtasks") or {}

    def leaves(task: str) -> list[str]:
        return [leaf for sub in groups[task] for leaf in leaves(sub)] if groups.get(task) else [task]

    for task in out:
        parts = leaves(task)
        if all(p in pooled for p in parts):
            loss, ce, docs = (sum(pooled[p][k] for p in parts) for k in range(3))
            out[task] |= {"task_loss": loss / docs, "task_ce": ce / docs}
    return out


def _sample_sums(path: Path, metric: str) -> tuple[float, float, int]:
    """Summed task loss (bpb of the gold continuation) and TaskCE over the documents of an lm-eval samples file."""
    from taskladder.metrics import doc_metrics  # imports torch: only where samples are read

    loss = ce = 0.0
    docs, kept_filter = set(), None
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}: line {line_no}"
            try:
                sample = json.loads(line)
                kept_filter = kept_filter or sample.get("filter", "none")
                if sample.get("filter", "none") != kept_filter:
                    continue
                args = sample["arguments"]
                pairs = [args[f"gen_args_{k}"] for k in range(len(args))] if isinstance(args, dict) else args
                continuations = [p["arg_1"] if isinstance(p, dict) else p[1] for p in pairs]
                logliks = [float(r[0]) for r in sample["filtered_resps"]]
                doc_id = sample["doc_id"]
            except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as e:
                raise InputError(f"{where}: not an lm-eval sample of a multiple-choice task "
                                 f"({type(e).__name__}: {e})") from None
            if len(logliks) != len(continuations):
                raise InputError(f"{where}: {len(logliks)} log-likelihoods for {len(continuations)} choices")
            if doc_id in docs:
                raise InputError(f"{where}: doc_id {doc_id} appears twice")
            docs.add(doc_id)
            gold = _gold(sample, continuations, logliks, where)

            task_loss, _, task_ce = doc_metrics(logliks, continuations, gold, metric)
            loss, ce = loss + task_loss, ce + task_ce
    if not docs:
        raise InputError(f"{path}: no samples")
    return loss, ce, len(docs)


def _gold(sample: dict, continuations: list[str], logliks: list[float], where: str) -> int:
    """The gold choice of a logged sample: lm-eval logs str(doc_to_target), an index or the choice's text;
    where both readings fit, the sample's logged `acc` tells them apart."""
    target = str(sample.get("target"))
    candidates = {k for k, c in enumerate(continuations) if target in (c, c.strip(), c[1:])}
    if re.fullmatch(r"\d+", target) and int(target) < len(continuations):
        candidates.add(int(target))
    if len(candidates) > 1 and "acc" in sample:
        best = int(np.argmax(logliks))
        candidates = {k for k in candidates if float(k == best) == float(sample["acc"])}
    if len(candidates) != 1:
        raise InputError(f"{where}: cannot tell the gold choice from target {target!r} among {len(continuations)} "
                         f"choices {continuations!r}")
    return candidates.pop()
