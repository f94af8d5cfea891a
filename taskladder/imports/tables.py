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
from 1) and the column, or the config key (``ConfigError``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import METRIC_COLUMNS, InputError
from taskladder.imports.entry import METRICS, PER_TASK, check_entry, loss_factor
from taskladder.imports.files import Rows, read_table
from taskladder.imports.lm_eval_dirs import lm_eval_table


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
