"""An `imported` config entry: its presets, units and keys, checked and completed (`check_entry`)."""

from __future__ import annotations

import math
import string
from pathlib import Path

from taskladder.base.config import ConfigError
from taskladder.tasks.olmes import MMLU_GROUPS, OLMES_RC

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


def _known_keys(key: str, entry: dict, spec: dict) -> None:
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        _fail(key, f"unknown key(s) {unknown}; expected among {list(ENTRY_KEYS)}")


def _file(key: str, entry: dict, spec: dict) -> None:
    if not isinstance(entry.get("file"), (str, Path)) or not str(entry["file"]):
        _fail(f"{key}.file", f"expected a table's path or an lm-eval output directory, found {entry.get('file')!r}")


def _preset(key: str, entry: dict, spec: dict) -> None:
    """The preset (named, or implied by the entry's form) with the entry's keys over its own, mappings merged key
    by key."""
    preset = entry.get("preset")
    if preset is None and entry.get("format") == "lm_eval":
        preset = "lm_eval"
    elif preset is None and not {"format", "columns", "metrics", "manifest"} & set(entry):
        preset = "olmo_ladder"  # the original form {file, n}: one OLMo-ladder CSV per run
    if preset is not None and preset not in PRESETS:
        _fail(f"{key}.preset", f"unknown preset {preset!r}; expected one of {list(PRESETS)}")
    spec.update(PRESETS.get(preset, {}))
    for k, v in entry.items():
        spec[k] = {**spec[k], **v} if isinstance(spec.get(k), dict) and isinstance(v, dict) else v
    spec["preset"], spec["name"], spec["file"] = preset, key.removeprefix("imported."), str(entry["file"])


def _format(key: str, entry: dict, spec: dict) -> None:
    fmt = spec.get("format") or FORMATS.get(Path(spec["file"]).suffix.lower())
    if fmt not in (*FORMATS.values(), "lm_eval"):
        _fail(f"{key}.format", f"cannot tell the format of {spec['file']!r}; give format: one of "
                               f"{sorted(set(FORMATS.values())) + ['lm_eval']}")
    spec["format"] = fmt
    if "manifest" in spec and fmt != "lm_eval":
        _fail(f"{key}.manifest", "only an lm-eval output directory (format: lm_eval) has a manifest")


def _columns(key: str, entry: dict, spec: dict) -> None:
    columns = _mapping(spec.get("columns"), f"{key}.columns")
    for k, v in columns.items():
        if k not in COLUMN_KEYS:
            _fail(f"{key}.columns.{k}", f"unknown column key; expected among {list(COLUMN_KEYS)}")
        if k == "run" and v is not None:
            _strings(v, f"{key}.columns.run")
        elif v is not None and (not isinstance(v, str) or not v):
            _fail(f"{key}.columns.{k}", f"expected a column name, found {v!r}")
    spec["columns"] = {k: columns.get(k) for k in COLUMN_KEYS}


def _constants(key: str, entry: dict, spec: dict) -> None:
    """n, seed and group: a constant of the entry or a column, not both; n one or the other."""
    for k in ("n", "seed", "group"):
        if spec.get(k) is not None and spec["columns"][k] and spec["format"] != "lm_eval":
            _fail(f"{key}.{k}", f"given both as a constant and as columns.{k}; give one")
    if spec.get("n") is not None:
        spec["n"] = _positive(spec["n"], f"{key}.n", integer=True)
    if spec.get("seed") is not None and (not isinstance(spec["seed"], int) or isinstance(spec["seed"], bool)):
        _fail(f"{key}.seed", f"expected an integer, found {spec['seed']!r}")
    if spec.get("group") is not None and not isinstance(spec["group"], str):
        _fail(f"{key}.group", f"expected a group name, found {spec['group']!r}")
    if spec.get("n") is None and not spec["columns"]["n"]:
        _fail(f"{key}", "no n: give n (non-embedding parameters) or columns.n")


def _tokens_per_step(key: str, entry: dict, spec: dict) -> None:
    tps = spec.get("tokens_per_step")
    if tps is not None and not isinstance(tps, str):
        _positive(tps, f"{key}.tokens_per_step")
    spec["tokens_per_step"] = tps


def _metrics(key: str, entry: dict, spec: dict) -> None:
    metrics = _mapping(spec.get("metrics"), f"{key}.metrics")
    for k in metrics:
        if k not in METRICS:
            _fail(f"{key}.metrics.{k}", f"unknown metric; expected among {list(METRICS)}")
    spec["metrics"] = {k: _strings(v, f"{key}.metrics.{k}") for k, v in metrics.items()}
    if not spec["metrics"]:
        _fail(f"{key}.metrics", f"no metric mapped; give a column template for at least one of {list(METRICS)}")


def _overrides(key: str, entry: dict, spec: dict) -> None:
    overrides = _mapping(spec.get("overrides"), f"{key}.overrides")
    spec["overrides"] = {}
    for task, over in overrides.items():
        for k, v in _mapping(over, f"{key}.overrides.{task}").items():
            if k not in METRICS:
                _fail(f"{key}.overrides.{task}.{k}", f"unknown metric; expected among {list(METRICS)}")
            spec["overrides"].setdefault(task, {})[k] = _strings(v, f"{key}.overrides.{task}.{k}")


def _task_names(key: str, entry: dict, spec: dict) -> None:
    task_names = _mapping(spec.get("task_names"), f"{key}.task_names")
    if not all(isinstance(v, str) and v for v in task_names.values()):
        _fail(f"{key}.task_names", f"expected task name -> its name in the file, found {task_names!r}")
    if len(set(task_names.values())) < len(task_names):
        _fail(f"{key}.task_names", f"two tasks share a name in the file: {task_names!r}")
    spec["task_names"] = dict(task_names)


def _tasks(key: str, entry: dict, spec: dict) -> None:
    tasks = spec.get("tasks")
    if tasks is not None and (not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks)
                              or len(set(tasks)) < len(tasks)):
        _fail(f"{key}.tasks", f"expected a list of distinct task names, found {tasks!r}")
    if tasks is None and spec["format"] != "lm_eval" and not spec["columns"]["task"]:
        _fail(f"{key}.tasks", "required: the table has one column per task (no columns.task), so name the tasks")
    spec["tasks"] = tasks


def _aggregates(key: str, entry: dict, spec: dict) -> None:
    aggregates = _mapping(spec.get("aggregates"), f"{key}.aggregates")
    for task, parts in aggregates.items():
        parts = _mapping(parts, f"{key}.aggregates.{task}")
        if not parts:
            _fail(f"{key}.aggregates.{task}", "expected {part task: weight}, found no parts")
        for part, w in parts.items():
            _positive(w, f"{key}.aggregates.{task}.{part}")
    spec["aggregates"] = aggregates


def _optional(key: str, entry: dict, spec: dict) -> None:
    optional = spec.get("optional") or []
    allowed = (*METRICS, "step", "tokens", "flops")
    if not isinstance(optional, list) or any(o not in allowed for o in optional):
        _fail(f"{key}.optional", f"expected a list among {list(allowed)}, found {optional!r}")
    spec["optional"] = list(optional)


def _units(key: str, entry: dict, spec: dict) -> None:
    """Each unit known; a loss per token converts to the contract's per byte (or back) only with bytes_per_token."""
    units = _mapping(spec.get("units"), f"{key}.units")
    for k, v in units.items():
        if k in UNITS:
            if v not in UNITS[k]:
                _fail(f"{key}.units.{k}", f"unknown unit {v!r}; expected one of {list(UNITS[k])}")
        elif k in (*SCALES, "bytes_per_token"):
            _positive(v, f"{key}.units.{k}")
        else:
            _fail(f"{key}.units.{k}", f"unknown key; expected among {[*UNITS, *SCALES, 'bytes_per_token']}")
    spec["units"] = {**CONTRACT_UNITS, **{k: 1 for k in SCALES}, **units}
    for metric in ("task_loss", "lm_loss"):
        if units.get(metric) and _per(units[metric]) != _per(CONTRACT_UNITS[metric]) and "bytes_per_token" not in units:
            _fail(f"{key}.units.{metric}", f"{units[metric]} converts to the contract's {CONTRACT_UNITS[metric]} only "
                                           "with units.bytes_per_token")


def _filters(key: str, entry: dict, spec: dict) -> None:
    filters = _mapping(spec.get("filters"), f"{key}.filters")
    for column, f in filters.items():
        if isinstance(f, dict) and (not f or set(f) - {"min", "max"}
                                    or not all(isinstance(v, (int, float)) for v in f.values())):
            _fail(f"{key}.filters.{column}", f"expected a value, a list of values or {{min, max}}, found {f!r}")
        if isinstance(f, list) and not f:
            _fail(f"{key}.filters.{column}", "an empty list keeps no row")
    spec["filters"] = filters


def _flags(key: str, entry: dict, spec: dict) -> None:
    spec["sparse"] = bool(spec.get("sparse", False))
    spec["ladder"] = bool(spec.get("ladder", True))
    for k in ("n", "seed", "group"):
        spec.setdefault(k, None)


# the checks of an entry, in order, each of one concern: check(key, entry, spec) reads the entry and fills in the
# spec (the preset's keys first, then each key checked and completed); the first to fail names its key
ENTRY_CHECKS = (_known_keys, _file, _preset, _format, _columns, _constants, _tokens_per_step, _metrics, _overrides,
                _task_names, _tasks, _aggregates, _optional, _units, _filters, _flags)


def check_entry(name: str, entry: dict) -> dict:
    """Validate one `imported` entry and return it complete: its preset's keys under its own, every key
    present. Raises ConfigError naming the key (``imported.<name>.<key>``), what was expected and found."""
    key = f"imported.{name}"
    entry = _mapping(entry, key)
    spec: dict = {}
    for check in ENTRY_CHECKS:
        check(key, entry, spec)
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
