"""What of a table an `imported` entry reads: its columns (only those it maps are read at all), its rows (the
filters; in a sparse table, the rows that hold a metric) and its tasks."""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import InputError
from taskladder.imports.entry import METRICS
from taskladder.imports.files import Rows
from taskladder.imports.values import check_json_numbers, empty, found, parse


def template(spec: dict, metric: str, task: str) -> list[str] | None:
    """The columns that may hold `metric` of `task` (the first present is read); None: not mapped."""
    templates = spec["overrides"].get(task, {}).get(metric, spec["metrics"].get(metric))
    if templates is None:
        return None
    name = spec["task_names"].get(task, task)
    return [t.format(task=name) for t in templates]


def leaves(spec: dict, tasks: list[str]) -> list[str]:
    """The tasks read from columns: each task, or the parts of an aggregate."""
    return [p for t in tasks for p in spec["aggregates"].get(t, {t: 1})]


def _pattern(text: str) -> str:
    """A template's columns for any task: {task} matches any text."""
    return "".join(re.escape(literal) + (".+" if field is not None else "")
                   for literal, field, _, _ in string.Formatter().parse(text))


def columns_read(spec: dict, tasks: list[str] | None = None):
    """Which columns of the file an entry reads (a predicate on a column's name): its key columns, its filters' and
    the metric columns of its tasks (in a table with a task column, where the tasks are what that column holds, a
    template with {task} reads every column it matches). Others are never read."""
    exact = {c for v in spec["columns"].values() for c in ([v] if isinstance(v, str) else v or [])}
    exact |= set(spec["filters"]) | ({spec["tokens_per_step"]} if isinstance(spec["tokens_per_step"], str) else set())
    chosen = tasks if tasks is not None else spec["tasks"]
    patterns = []
    if chosen is not None:
        exact |= {c for t in leaves(spec, chosen) for m in METRICS for c in (template(spec, m, t) or [])}
    else:
        templates = [*spec["metrics"].values(), *(v for o in spec["overrides"].values() for v in o.values())]
        patterns = [_pattern(t) for ts in templates for t in ts]
    matches = re.compile("|".join(f"(?:{p})" for p in patterns)).fullmatch if patterns else None
    return lambda name: name in exact or bool(matches and matches(name))


def numeric_columns(spec: dict):
    """Which columns read are numbers (a predicate): all but the names (run, group, task) and the columns a filter
    compares as text."""
    cols = spec["columns"]
    text = {c for k in ("run", "group", "task") for c in ([cols[k]] if isinstance(cols[k], str) else cols[k] or [])}
    for column, f in spec["filters"].items():
        values = f if isinstance(f, list) else [f]
        if not isinstance(f, dict) and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            text.add(column)
    return lambda name: name not in text


def _range(raw: pd.DataFrame, column: str, f: dict, spec: dict, rows: Rows) -> np.ndarray:
    """The rows a {min, max} filter keeps; a cell that is not a number (an empty one too) is an error: it is
    neither in the range nor out of it."""
    cells = raw[column]
    if rows.kind == "line":
        check_json_numbers(cells, column, rows)
    values = parse(cells)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        cell = "an empty cell" if empty(cells.iloc[bad[:1]])[0] else found(cells.iloc[bad[0]])
        raise InputError(f"{rows.path}: {rows.label(raw.index[bad[0]])}, column '{column}': expected a number to "
                         f"compare with imported.{spec['name']}.filters.{column} {f}, found {cell}"
                         + (f" ({bad.size} such cells in this column)" if bad.size > 1 else ""))
    return (values >= f.get("min", -np.inf)) & (values <= f.get("max", np.inf))


def filtered(raw: pd.DataFrame, spec: dict, rows: Rows) -> pd.DataFrame:
    """The rows the filters keep: a value or a list of values (a cell equal to one of them; an empty cell equals
    none), or a range {min, max} (every cell a number)."""
    filters = spec["filters"]
    for column, f in filters.items():
        if column not in raw.columns:
            raise InputError(f"{rows.path}: missing column '{column}' (used in filters)")
        cells = raw[column]
        if isinstance(f, dict):
            keep = _range(raw, column, f, spec, rows)
        else:
            wanted = f if isinstance(f, list) else [f]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in wanted):
                if rows.kind == "line":
                    check_json_numbers(cells, column, rows)
                keep = np.isin(parse(cells), wanted)
            else:
                keep = cells.astype(str).isin([str(v) for v in wanted]).to_numpy()
        raw = raw[keep]
    if not len(raw):  # not raw.empty: a frame of no columns read (none of the file's is mapped) is empty too
        raise InputError(f"{rows.path}: no rows left after the filters {filters}")
    return raw


def with_metrics(raw: pd.DataFrame, spec: dict, rows: Rows, tasks: list[str]) -> pd.DataFrame:
    """A sparse table's checkpoints: the rows that hold a value of a mapped metric."""
    columns = {c for t in leaves(spec, tasks) for m in METRICS for c in (template(spec, m, t) or [])
               if c in raw.columns}
    raw = raw[~np.logical_and.reduce([empty(raw[c]) for c in columns] or [np.zeros(len(raw), bool)])]
    if raw.empty:
        raise InputError(f"{rows.path}: no row holds a value of the mapped metrics")
    return raw


def available_tasks(raw: pd.DataFrame, spec: dict, rows: Rows) -> list[str]:
    if spec["tasks"] is not None:
        return list(spec["tasks"])
    in_file = {v: k for k, v in spec["task_names"].items()}
    if spec["columns"]["task"]:
        if spec["columns"]["task"] not in raw.columns:
            raise InputError(f"{rows.path}: missing column '{spec['columns']['task']}' (the task)")
        found = raw[spec["columns"]["task"]].astype(str).unique()
    else:  # lm-eval: every task of the results files
        found = sorted({c.split("/", 1)[0] for c in raw.columns if "/" in c})
    return [in_file.get(t, t) for t in found] + [a for a in spec["aggregates"] if a not in found]


def task_rows(raw: pd.DataFrame, spec: dict, task: str) -> np.ndarray:
    """The positions of a task's rows: every row, or those of its name in the task column."""
    column = spec["columns"]["task"]
    if not column:
        return np.arange(len(raw))
    return np.flatnonzero((raw[column].astype(str) == spec["task_names"].get(task, task)).to_numpy())
