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
``taskladder.evaluate.metrics``) and TaskCE come from the per-sample log-likelihoods where lm-eval logged them
(``--log_samples``); without them they are empty and ``missing_metrics`` says so.

- ``filters``: per column, a value or a list of values (rows whose cell equals one are kept; an empty
  cell equals none), or a range ``{min, max}`` (bounds included; every cell must be a number: an
  empty or non-numeric cell is neither in nor out of the range, an error).

Only the columns an entry maps are read (its ``columns``, ``filters``, ``tokens_per_step`` and the
metric columns of its tasks): the others are never parsed, whatever they hold. A column that is read
and whose name the header (or a parquet schema) holds twice is an error, as is a CSV row with more or
fewer fields than the header. In JSONL, a number is a JSON number: a string such as "0.5", a
boolean or an array where a number is expected is an error.

Every value is checked for meaning: accuracy in [0, 1] (declared ``percent``: in [0, 100] and on one
scale in a column, not fractions at some rows and percent at others), losses finite and > 0, n >= 1000
(a count: not millions or billions without their ``units``), tokens > 0 (tokens 0 only at step 0, never in a
table of one checkpoint per run), n, step, tokens and seed within 64-bit integers, tokens non-decreasing with
step within a run, no duplicated (run, step, task). Errors name the file, the row (a CSV's row counts its
header line as row 1; parquet rows count from 1; JSONL lines count from 1) and the column, or the config key
(``ConfigError``).

The long table is assembled a slice of runs at a time (`entry_chunks`), so that memory stays
bounded; its values are checked on the whole table first."""

from __future__ import annotations

from collections.abc import Iterator
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.metrics_table import METRIC_COLUMNS, MIN_PARAMS, InputError
from taskladder.imports.entry import METRICS, PER_TASK, check_entry
from taskladder.imports.files import Rows, read_table
from taskladder.imports.lm_eval_dirs import lm_eval_table
from taskladder.imports.selection import (
    available_tasks,
    columns_read,
    filtered,
    leaves,
    numeric_columns,
    task_rows,
    template,
    with_metrics,
)
from taskladder.imports.values import check, convert, names, numbers

CHUNK_ROWS = 250_000  # rows of the long table assembled at a time (about 35 MB)

INT64_END = 2.0**63  # n, step and tokens are 64-bit integers in the metrics table: each is below this


def _metric(raw: pd.DataFrame, spec: dict, metric: str, task: str, rows: Rows) -> tuple[np.ndarray | None, str | None]:
    """One metric of one task in the contract's unit, and the column it came from (None, None: not in the table)."""
    templates = template(spec, metric, task)
    if templates is None:
        return None, None
    column = next((c for c in templates if c in raw.columns), None)
    if column is None:
        if metric in spec["optional"]:
            return None, None
        if spec["format"] == "lm_eval" and metric in ("task_loss", "task_ce"):
            raise InputError(f"{rows.path}: no {metric} of task '{task}': it is computed from the per-sample "
                             "log-likelihoods, which lm-eval writes with --log_samples (samples_*.jsonl)")
        what = f"for {metric} of task '{task}'" if metric in PER_TASK else f"for {metric}"
        raise InputError(f"{rows.path}: missing column '{templates[0]}' {what}"
                         + (f" (nor {templates[1:]})" if len(templates) > 1 else "")
                         + f"; the entry imported.{spec['name']} maps it there")
    required = metric not in spec["optional"]
    values = numbers(raw, column, rows, required=required)
    return convert(values, metric, spec, raw, column, rows), column


def _keys(raw: pd.DataFrame, spec: dict, rows: Rows) -> pd.DataFrame:
    """run, n, step, tokens, flops (+ seed, group) of every row, checked."""
    cols, units, optional = spec["columns"], spec["units"], spec["optional"]
    present = lambda k: cols[k] and (cols[k] in raw.columns or k not in optional)  # noqa: E731
    out = pd.DataFrame(index=raw.index)
    if cols["run"]:
        columns = [cols["run"]] if isinstance(cols["run"], str) else cols["run"]
        out["run"] = reduce(lambda a, b: a + "-" + b, [names(raw, c, rows, "run name") for c in columns])
    else:
        out["run"] = spec["name"]

    if cols["n"]:
        n = numbers(raw, cols["n"], rows) * units["n"]
        check(n >= MIN_PARAMS, raw, n, cols["n"], rows, f"expected n (non-embedding parameters) >= {MIN_PARAMS}: a "
              "count (1.3e9, not 1.3); a column in millions or billions needs its unit (`units: {n: 1e6}`)")
        check(n < INT64_END, raw, n, cols["n"], rows, "expected n (non-embedding parameters) below 2^63")
        out["n"] = np.rint(n).astype(np.int64)
    else:
        out["n"] = np.int64(spec["n"])
    tps = spec["tokens_per_step"]
    per_step = lambda: numbers(raw, tps, rows) if isinstance(tps, str) else np.full(len(raw), float(tps))  # noqa: E731
    step = numbers(raw, cols["step"], rows) if present("step") else None
    if present("tokens"):
        tokens = numbers(raw, cols["tokens"], rows) * units["tokens"]
    elif step is not None and tps is not None:
        tokens = step * per_step()
    else:
        why = f"missing column '{cols['tokens']}'" if cols["tokens"] else f"no imported.{spec['name']}.columns.tokens"
        raise InputError(f"{rows.path}: no tokens: {why}, and no step and tokens_per_step to count them")
    final = step is None and tps is None  # one checkpoint per run, the end of its training: its step is unknown
    if step is None:
        step = np.round(tokens / per_step()) if tps is not None else np.zeros(len(raw))
    # the initial checkpoint (step 0) has seen no tokens; every other has
    check((tokens > 0) | ((tokens == 0) & (step == 0)), raw, tokens, cols["tokens"] or "tokens", rows,
          "expected tokens > 0 (0 only at step 0)")
    if final:
        check(tokens > 0, raw, tokens, cols["tokens"] or "tokens", rows,
              "expected tokens > 0 (one checkpoint per run: its final model)")
    check(tokens < INT64_END, raw, tokens, cols["tokens"] or "tokens", rows, "expected tokens below 2^63")
    check((step >= 0) & (step == np.round(step)), raw, step, cols["step"] or "step", rows, "expected a whole step >= 0")
    check(step < INT64_END, raw, step, cols["step"] or "step", rows, "expected a step below 2^63")
    out["step"], out["tokens"] = step.astype(np.int64), np.rint(tokens).astype(np.int64)
    if present("flops"):
        flops = numbers(raw, cols["flops"], rows) * units["flops"]
        check(flops > 0, raw, flops, cols["flops"], rows, "expected FLOPs > 0")
    else:
        flops = 6.0 * out["n"].to_numpy() * tokens
    out["flops"] = flops
    if cols["seed"]:
        seed = numbers(raw, cols["seed"], rows)
        check(seed == np.round(seed), raw, seed, cols["seed"], rows, "expected a whole seed")
        check(np.abs(seed) < INT64_END, raw, seed, cols["seed"], rows, "expected a seed between -2^63 and 2^63")
        out["seed"] = seed.astype(np.int64)
    elif spec.get("seed") is not None:
        out["seed"] = np.int64(spec["seed"])
    if cols["group"]:
        out["group"] = names(raw, cols["group"], rows, "group name")
    elif spec.get("group") is not None:
        out["group"] = spec["group"]
    return out


def _leaves(raw: pd.DataFrame, spec: dict, tasks: list[str], rows: Rows) -> dict[str, tuple]:
    """Per task read from columns: the positions of its rows, and each metric's values there (None: not in the
    table), checked. A column every task reads (lm_loss) is read once."""
    out, seen, shared = {}, {}, {}
    for task in dict.fromkeys(leaves(spec, tasks)):
        at = task_rows(raw, spec, task)
        part = raw if len(at) == len(raw) else raw.iloc[at]
        metrics = {}
        for metric in METRICS:
            key = (metric, tuple(template(spec, metric, task) or ()))
            if part is raw and metric not in PER_TASK and key in shared:
                metrics[metric] = shared[key]
                continue
            metrics[metric], column = _metric(part, spec, metric, task, rows)
            if part is raw and metric not in PER_TASK:
                shared[key] = metrics[metric]
            if column and metric in PER_TASK and not spec["columns"]["task"]:
                if (metric, column) in seen:
                    raise InputError(f"{rows.path}: column '{column}' is mapped to {metric} of both task "
                                     f"'{seen[metric, column]}' and task '{task}'; put {{task}} in the template of "
                                     f"imported.{spec['name']}.metrics.{metric} or give overrides")
                seen[metric, column] = task
        if not len(at):
            raise InputError(f"{rows.path}: no rows of task '{spec['task_names'].get(task, task)}' in column "
                             f"'{spec['columns']['task']}'")
        out[task] = at, metrics
    return out


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
    group = frame.groupby(["run", "task"], sort=False).ngroup().to_numpy()  # in the order they first appear
    order = np.lexsort((frame["step"].to_numpy(), group))  # stable: by group, then step
    tokens = frame["tokens"].to_numpy()[order]
    drop = np.flatnonzero((np.diff(tokens) < 0) & (np.diff(group[order]) == 0))
    if drop.size:
        a, b = frame.iloc[order[drop[0]]], frame.iloc[order[drop[0] + 1]]
        raise InputError(f"{rows.path}: run '{a['run']}': tokens decrease with step, {a['tokens']} at step "
                         f"{a['step']} ({rows.label(a['_row'])}) then {b['tokens']} at step {b['step']} "
                         f"({rows.label(b['_row'])})")


def _assemble(keys: pd.DataFrame, parts: dict, inside: np.ndarray, spec: dict, tasks: list[str], rows: Rows
              ) -> pd.DataFrame:
    """The long table of the key rows `inside` (every row of the runs they hold), checked and sorted."""
    frames = {}
    for task, (at, metrics) in parts.items():
        chosen = inside[at]
        frame = keys.iloc[at[chosen]].assign(task=task)
        for metric in METRICS:
            values = metrics[metric]
            frame[metric] = np.full(len(frame), np.nan) if values is None else values[chosen]
        frames[task] = frame
    out = [_aggregate(t, spec["aggregates"][t], frames, rows) if t in spec["aggregates"] else frames[t] for t in tasks]
    frame = pd.concat(out, ignore_index=True)
    del frames, out
    _check_runs(frame, spec, rows)
    extra = ["flops", "acc_mc"] + [c for c in ("seed", "group") if c in frame.columns]
    frame = frame[METRIC_COLUMNS + extra]
    return frame.sort_values(["run", "task", "step"], kind="stable").reset_index(drop=True)


def _slices(run: pd.Series, per_row: int, limit: int) -> Iterator[np.ndarray]:
    """Which key rows each slice holds: whole runs, in the order of their names, about `limit` long rows each."""
    codes, names_ = pd.factorize(run, sort=True)
    if len(run) * per_row <= limit:
        yield np.ones(len(run), bool)
        return
    ends = np.cumsum(np.bincount(codes, minlength=len(names_)) * per_row)
    bounds = np.unique(np.searchsorted(ends, np.arange(limit, ends[-1], limit), side="right"))
    for lo, hi in zip([0, *bounds], [*bounds, len(names_)]):
        if hi > lo:
            yield (codes >= lo) & (codes < hi)


def metric_chunks(raw: pd.DataFrame, spec: dict, rows: Rows, tasks: list[str] | None = None,
                  limit: int | None = None) -> Iterator[pd.DataFrame]:
    """A read table (one row per checkpoint, or per checkpoint and task) -> the long metrics table, in slices of
    whole runs in the order of their names (concatenated: the table sorted by run, task and step). Every value is
    checked before the first slice; each slice's runs are checked as it is assembled."""
    raw = filtered(raw, spec, rows)
    available = available_tasks(raw, spec, rows)
    tasks = list(tasks) if tasks is not None else available
    if not tasks:  # lm-eval: the tasks are those of its results with metric values that are numbers
        raise InputError(f"{rows.path}: no task to import: none of its results holds a metric value that is a number "
                         "(\"acc,none\": 0.5)")
    unknown = [t for t in tasks if t not in available]
    if unknown:
        source = f"preset {spec['preset']}" if spec["preset"] else f"imported.{spec['name']}"
        raise InputError(f"unknown task name(s) {unknown} for {source} ({rows.path}); known: {available}")
    if spec["sparse"]:  # rows with no metric value are not checkpoints
        raw = with_metrics(raw, spec, rows, tasks)
    keys = _keys(raw, spec, rows).assign(_row=raw.index)
    parts = _leaves(raw, spec, tasks, rows)
    wide = not spec["columns"]["task"]
    del raw  # what is left of it is in keys and parts
    for inside in _slices(keys["run"], len(parts) if wide else 1, limit or CHUNK_ROWS):
        yield _assemble(keys, parts, inside, spec, tasks, rows)


def table_metrics(raw: pd.DataFrame, spec: dict, rows: Rows, tasks: list[str] | None = None) -> pd.DataFrame:
    """A read table (one row per checkpoint, or per checkpoint and task) -> the long metrics table."""
    return _concat(metric_chunks(raw, spec, rows, tasks))


def _concat(chunks) -> pd.DataFrame:
    chunks = list(chunks)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _read(name: str, entry: dict, base_dir, tasks) -> tuple[pd.DataFrame, dict, Rows]:
    spec = check_entry(name, entry)
    path = Path(spec["file"])
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if spec["format"] == "lm_eval":  # one row per checkpoint; n, group and seed are columns of it
        raw, rows = lm_eval_table(path, spec)
        spec = {**spec, "n": None, "columns": {**spec["columns"], **{k: k for k in ("group", "seed") if k in raw}}}
    else:
        raw, rows = read_table(path, spec["format"], keep=columns_read(spec, tasks), numeric=numeric_columns(spec))
    return raw, spec, rows


def entry_chunks(name: str, entry: dict, base_dir: str | Path | None = None, tasks: list[str] | None = None,
                 limit: int | None = None) -> Iterator[pd.DataFrame]:
    """`read_entry`'s table in slices of whole runs (`metric_chunks`): for tables of millions of rows."""
    yield from metric_chunks(*_read(name, entry, base_dir, tasks), tasks, limit)


def read_entry(name: str, entry: dict, base_dir: str | Path | None = None, tasks: list[str] | None = None
               ) -> pd.DataFrame:
    """Every run an `imported` entry holds, as the long metrics table (io.METRIC_COLUMNS + flops, acc_mc, and seed
    and group where the entry has them). A relative `file` is read from `base_dir`. `tasks`: the tasks to import
    (default: every task the entry holds); a task it does not hold is an error. Metrics the source lacks are empty
    (see `missing_metrics`)."""
    return _concat(entry_chunks(name, entry, base_dir, tasks))


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
