"""The metrics table, the contract between the stages: its columns, what each must hold, checked reads,
and a run's table from its evaluation tables."""

from __future__ import annotations

import csv
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.files import write_csv

METRIC_COLUMNS = ["run", "n", "step", "tokens", "task", "task_loss", "acc", "task_ce", "lm_loss"]


# optional columns after the contract's: training FLOPs so far, MC-format accuracy
OPTIONAL_COLUMNS = ["flops", "acc_mc"]


NUMERIC_COLUMNS = ["n", "step", "tokens", "task_loss", "acc", "task_ce", "lm_loss"]


# every row has these; the others may be empty: task_ce and lm_loss where a source lacks them, task_loss for a
# whole run and task where the source logs accuracy only (lm-eval without samples). A method that needs a metric
# a run lacks says so (taskladder.fit.points.check_metrics).
REQUIRED_NUMBERS = ("n", "step", "tokens", "acc")


ALL_OR_NONE = ("task_loss",)  # per run and task: at every checkpoint, or at none
MIN_PARAMS = 1000  # no language model has fewer parameters: an n below it is a count in millions or billions


# what each numeric column must hold: (test on the non-empty values, what was expected)
MEANING = {
    "n": (lambda v: v >= MIN_PARAMS, f"a parameter count >= {MIN_PARAMS} (a count, not millions or billions: 1.3e9, "
                                     "not 1.3)"),
    "step": (lambda v: v >= 0, "a step >= 0"),
    "tokens": (lambda v: v >= 0, "a token count >= 0"),
    "task_loss": (lambda v: v > 0, "a loss > 0"),
    "task_ce": (lambda v: v > 0, "a loss > 0"),
    "lm_loss": (lambda v: v > 0, "a loss > 0"),
    "acc": (lambda v: (v >= 0) & (v <= 1), "an accuracy in [0, 1] (a fraction, not percent)"),
    "acc_mc": (lambda v: (v >= 0) & (v <= 1), "an accuracy in [0, 1] (a fraction, not percent)"),
    "flops": (lambda v: v > 0, "a FLOP count > 0"),
}


class InputError(ValueError):
    """Input data that cannot be used; the message names the file and the row or column."""


def run_flops(n, d, logged=None):
    """Training FLOPs of a run (or of arrays of runs) of N parameters and D tokens: the logged count where the
    run's log has a finite positive one (it counts attention too), else 6 N D."""
    six = 6.0 * np.asarray(n, dtype=float) * np.asarray(d, dtype=float)
    if logged is None:
        out = six
    else:
        logged = np.asarray(logged, dtype=float)
        out = np.where(np.isfinite(logged) & (logged > 0), logged, six)
    return float(out) if np.ndim(out) == 0 else out


def _row_error(path: Path, frame: pd.DataFrame, bad, what) -> InputError:
    i = int(np.flatnonzero(np.asarray(bad))[0])
    return InputError(f"{path}: row {i + 2}{what(frame.iloc[i], i)}")


def _raw(path: Path, row: int, column: str) -> str:
    """The text of one cell, as the file has it."""
    return pd.read_csv(StringIO(read_csv_text(path)), dtype=str, keep_default_na=False)[column].iloc[row]


def read_csv_text(path: str | Path) -> str:
    """The text of a CSV file, checked to be UTF-8 and complete (the last line ends with a newline)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text (byte {path.read_bytes()[e.start]:#04x}); "
                         "expected a UTF-8 CSV file") from None
    if not text.strip():
        raise InputError(f"{path}: empty file; expected a CSV table with a header row")
    if not text.endswith("\n"):
        raise InputError(f"{path}: line {text.count(chr(10)) + 1} does not end with a newline: the file was cut "
                         "while being written or copied; expected a complete CSV file")
    return text


def _check_header(path: Path, text: str) -> None:
    """Each column named once: pandas would read a repeated name as another column (`acc.1`) and the first one
    would count, silently."""
    names = next(csv.reader(StringIO(text)), [])
    twice = next((i for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise InputError(f"{path}: row 1, column '{names[twice]}': expected each column name once, found it twice "
                         f"(columns {names.index(names[twice]) + 1} and {twice + 1})")


def _check_names(path: Path, frame: pd.DataFrame) -> None:
    """A run and a task name in every row: a row without one would be left out of its run's checks and fits."""
    for c in ("run", "task"):
        bad = frame[c].isna()
        if bad.any():
            raise _row_error(path, frame, bad, lambda r, i: f", column '{c}': expected a {c} name, found "
                                                            f"{_raw(path, i, c)!r}, which reads as an empty cell")


def _check_values(path: Path, frame: pd.DataFrame) -> None:
    for c in NUMERIC_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns]:
        values = pd.to_numeric(frame[c], errors="coerce")
        required = c in REQUIRED_NUMBERS
        if c in ALL_OR_NONE:
            required = values.notna().groupby([frame["run"], frame["task"]]).transform("any")
        bad = values.isna() & (frame[c].notna() | required)
        if bad.any():
            raise _row_error(path, frame, bad, lambda r, i: f", column '{c}': expected a number, found "
                                                            f"{_raw(path, i, c)!r}")
        frame[c] = values
        test, expected = MEANING[c]
        bad = values.notna() & ~(np.isfinite(values) & test(values.fillna(0)))
        if bad.any():
            raise _row_error(path, frame, bad,
                             lambda r, i: f", column '{c}': expected {expected}, found {_raw(path, i, c)}")
    bad = (frame["tokens"] == 0) & (frame["step"] > 0)  # only the initial checkpoint has seen no tokens
    if bad.any():
        raise _row_error(path, frame, bad, lambda r, i: f", column 'tokens': expected a token count > 0 at step "
                                                        f"{r['step']:g} (0 only at step 0), found 0")


def _check_run(path: Path, run, rows: pd.DataFrame) -> None:
    if rows["n"].nunique() > 1:
        raise InputError(f"{path}: run {run}: column 'n' holds {sorted(rows['n'].unique().tolist())}; expected one "
                         "parameter count per run")
    tokens = rows.groupby("step", sort=True)["tokens"]
    first, last = tokens.min(), tokens.max()
    down = np.flatnonzero(first.to_numpy()[1:] < last.to_numpy()[:-1])
    if down.size:
        a, b = last.index[down[0]], first.index[down[0] + 1]
        raise InputError(f"{path}: run {run}: tokens go down from {last[a]:g} at step {a:g} to {first[b]:g} at step "
                         f"{b:g}; expected tokens non-decreasing with step")
    tasks = set(rows["task"])
    counts = rows.groupby("step", sort=True).size()
    if (counts != len(tasks)).any():
        step = counts.index[int(np.flatnonzero(counts.to_numpy() != len(tasks))[0])]
        found = set(rows.loc[rows["step"] == step, "task"])
        raise InputError(f"{path}: run {run}, step {step:g}: no rows for task(s) {sorted(tasks - found)}; "
                         "expected one row per task at every step")


def _bad_runs(frame: pd.DataFrame) -> pd.Series:
    """Per run (in the order runs first appear), whether it breaks a rule of `_check_run`: all runs at once."""
    by_run = frame.groupby("run", sort=False)
    bad = by_run["n"].nunique() > 1
    steps = frame.groupby(["run", "step"], sort=True)
    tokens = steps["tokens"].agg(["min", "max"])
    same_run = tokens.index.get_level_values(0)[1:] == tokens.index.get_level_values(0)[:-1]
    down = same_run & (tokens["min"].to_numpy()[1:] < tokens["max"].to_numpy()[:-1])
    runs_down = set(tokens.index.get_level_values(0)[1:][down])
    counts = steps.size()
    tasks = by_run["task"].nunique()
    short = counts.to_numpy() != tasks.reindex(counts.index.get_level_values(0)).to_numpy()
    runs_short = set(counts.index.get_level_values(0)[short])
    return bad | bad.index.isin(list(runs_down | runs_short))


def check_runs(path: Path, frame: pd.DataFrame) -> None:
    """One row per (run, task, step), one N per run, tokens non-decreasing with step, every task at every step."""
    dup = frame.duplicated(["run", "task", "step"])
    if dup.any():
        raise _row_error(path, frame, dup,
                         lambda r, i: f": duplicate (run, task, step) = ({r['run']}, {r['task']}, {r['step']:g})")
    bad = _bad_runs(frame)
    if bad.any():  # the first run that breaks a rule, checked again on its own for the message
        run = bad.index[np.flatnonzero(bad.to_numpy())[0]]
        _check_run(path, run, frame[(frame["run"] == run).to_numpy()])


def read_metrics(paths) -> pd.DataFrame:
    """Read and concatenate metrics tables (the long format: one row per checkpoint and task), checking them for meaning.

    Each file must be complete UTF-8 CSV with the contract's columns, each named once; a run and a task name in
    every row, accuracies in [0, 1], losses > 0, n >= MIN_PARAMS, tokens > 0 after step 0; one row per (run, task,
    step), every task at every step of a run, tokens non-decreasing with step, and a run in one file only. task_ce and
    lm_loss may be empty (a source without them), and so may task_loss at every checkpoint of a run's task (a source
    of accuracy only).
    Raises InputError naming the file, the row or run, the column, the value and what was expected.
    """
    frames, seen = [], {}
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        text = read_csv_text(path)
        _check_header(path, text)
        frame = pd.read_csv(StringIO(text))
        missing = [c for c in METRIC_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {missing}; expected {METRIC_COLUMNS}")
        if frame.empty:
            raise InputError(f"{path}: no rows after the header")
        _check_names(path, frame)
        _check_values(path, frame)
        check_runs(path, frame)
        for run in frame["run"].unique():
            if run in seen:
                raise InputError(f"{path}: run {run} is also in {seen[run]}; expected each run in one metrics file")
            seen[run] = path
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def collect_metrics(eval_paths, out: str | Path | None = None) -> pd.DataFrame:
    """Evaluation tables -> a run's metrics table (the long format, sorted by step and task).

    Extra column `acc_mc`: the MC-format accuracy of the task (from its `<task>_mc` row), if evaluated.
    """
    frame = pd.concat([pd.read_csv(p) for p in eval_paths], ignore_index=True)
    mc = frame[frame["task"].str.endswith("_mc")][["step", "task", "acc"]]
    mc = mc.assign(task=mc["task"].str.removesuffix("_mc")).rename(columns={"acc": "acc_mc"})
    frame = frame.merge(mc, on=["step", "task"], how="left").sort_values(["step", "task"], kind="stable")
    columns = METRIC_COLUMNS + [c for c in frame.columns if c not in METRIC_COLUMNS]
    frame = frame[columns].reset_index(drop=True)
    if out is not None:
        write_csv(frame, out)
        read_metrics(out)  # the contract the fitting stages rely on
    return frame
