"""Files between workflow stages: atomic writes, checked reads of the metrics table, and the metrics
table of a run from its per-checkpoint tables."""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

METRIC_COLUMNS = ["run", "n", "step", "tokens", "task", "task_loss", "acc", "task_ce", "lm_loss"]
# optional columns after the contract's: training FLOPs so far, MC-format accuracy
OPTIONAL_COLUMNS = ["flops", "acc_mc"]
NUMERIC_COLUMNS = ["n", "step", "tokens", "task_loss", "acc", "task_ce", "lm_loss"]


class InputError(ValueError):
    """Input data that cannot be used; the message names the file and the row or column."""


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **kwargs)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def read_metrics(paths) -> pd.DataFrame:
    """Read and concatenate per-run metrics tables, checking the columns and values.

    task_ce and lm_loss may be empty (a source without them); the step-1/step-2
    inputs (n, step, tokens, task_loss, acc) must be finite numbers.
    """
    frames = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise InputError(f"{path}: empty file") from None
        missing = [c for c in METRIC_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {missing}; expected {METRIC_COLUMNS}")
        if frame.empty:
            raise InputError(f"{path}: no rows after the header")
        for c in NUMERIC_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns]:
            values = pd.to_numeric(frame[c], errors="coerce")
            required = c in ("n", "step", "tokens", "task_loss", "acc")
            bad = values.isna() & (frame[c].notna() | required)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{path}: row {i + 2}, column '{c}': expected a number, found {frame[c].iloc[i]!r}")
            frame[c] = values
        dup = frame.duplicated(["run", "task", "step"])
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise InputError(f"{path}: row {i + 2}: duplicate (run, task, step) = "
                             f"({frame['run'].iloc[i]}, {frame['task'].iloc[i]}, {frame['step'].iloc[i]})")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def setup_logging(path: str | Path | None = None) -> logging.Logger:
    """Log to stderr and, when given, to a file (a Snakemake rule's log)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)
    return logging.getLogger("taskladder")


def concat_csv(paths, out: str | Path) -> pd.DataFrame:
    """Concatenate CSV tables with the same meaning into one (atomically written)."""
    frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    write_csv(frame, out)
    return frame


def collect_metrics(eval_paths, out: str | Path | None = None) -> pd.DataFrame:
    """Per-checkpoint tables -> a run's metrics table (DESIGN.md's long format, sorted by step and task).

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
