"""Import ladder logs trained elsewhere into the long metrics table.

Format ``olmo_ladder``: the CSV files the OLMo ladder released (one W&B-export row per
checkpoint). Per task it reads

    eval/downstream_bpb/<task>_rc_5shot_bpb             -> task_loss (bits per byte)
    eval/downstream/<task>_rc_5shot_len_norm (_acc)     -> acc
    eval/downstream_soft_log/<task>_rc_5shot_soft_log   -> task_ce (its negation)
    eval/c4_en-validation/CrossEntropyLoss              -> lm_loss
    throughput/total_training_Gflops                    -> flops (else 6 N tokens)
    eval/downstream/<task>_mc_5shot_acc (MMLU len_norm) -> acc_mc (MC format, where logged)

MMLU is the weighted mean of its four test subject groups. Tokens are
``throughput/total_tokens`` where present, else ``_step * batch_size_in_tokens``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.io import METRIC_COLUMNS, InputError
from taskladder.tasks import MMLU_GROUPS, OLMES_RC

# our task name -> the OLMo in-loop task name the logs use (without the _rc_5shot suffix)
OLMO_TASKS = {name: label.removesuffix("_rc_5shot") for name, label in OLMES_RC.items()}
KNOWN_TASKS = ["mmlu", *OLMO_TASKS]
LM_LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"
FLOPS_COLUMN = "throughput/total_training_Gflops"


def olmo_columns(task: str) -> dict[str, str]:
    name = OLMO_TASKS[task]
    acc_kind = "acc" if task == "boolq" else "len_norm"
    return {
        "task_loss": f"eval/downstream_bpb/{name}_rc_5shot_bpb",
        "acc": f"eval/downstream/{name}_rc_5shot_{acc_kind}",
        "task_ce": f"eval/downstream_soft_log/{name}_rc_5shot_soft_log",
    }


def _mc_accuracy(raw: pd.DataFrame, task: str, path: Path) -> np.ndarray:
    """MC-format accuracy where the log has it (`_mc_5shot_acc`, MMLU `_len_norm`), else NaN."""
    name = OLMO_TASKS[task]
    for kind in ("acc", "len_norm"):
        column = f"eval/downstream/{name}_mc_5shot_{kind}"
        if column in raw.columns:
            return _numeric(raw, column, path)
    return np.full(len(raw), np.nan)


def _numeric(raw: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """A column as floats; any non-numeric or missing cell is an error naming file, row and column."""
    if column not in raw.columns:
        raise InputError(f"{path}: missing column '{column}'")
    values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        # +2: one for the header line, one because CSV rows count from 1
        raise InputError(
            f"{path}: row {i + 2}, column '{column}': expected a finite number, found {raw[column].iloc[i]!r}"
            + (f" ({bad.size} bad cells in this column)" if bad.size > 1 else "")
        )
    return values


def read_olmo_ladder(path: str | Path, run: str, n: int, tasks: list[str]) -> pd.DataFrame:
    """Read one OLMo-ladder CSV into the long metrics table for `tasks`."""
    path = Path(path)
    unknown = [t for t in tasks if t not in KNOWN_TASKS]
    if unknown:
        raise InputError(f"unknown task name(s) {unknown} for format olmo_ladder; known: {KNOWN_TASKS}")
    if not path.exists():
        raise InputError(f"ladder log not found: {path}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file (no header, no rows)") from None
    if raw.empty:
        raise InputError(f"{path}: no rows after the header")

    if "throughput/total_tokens" in raw.columns:
        tokens = _numeric(raw, "throughput/total_tokens", path)
    else:
        tokens = _numeric(raw, "_step", path) * _numeric(raw, "batch_size_in_tokens", path)
    if "_step" in raw.columns:
        step = _numeric(raw, "_step", path)
    else:  # a file of final evaluations only: number the rows by tokens seen
        step = np.round(tokens / _numeric(raw, "batch_size_in_tokens", path))
    _check_unique_steps(step, path)

    lm_loss = _numeric(raw, LM_LOSS_COLUMN, path)
    flops = _numeric(raw, FLOPS_COLUMN, path) * 1e9 if FLOPS_COLUMN in raw.columns else 6.0 * n * tokens
    base = pd.DataFrame({"run": run, "n": int(n), "step": step.astype(np.int64), "tokens": tokens.astype(np.int64),
                         "lm_loss": lm_loss, "flops": flops})
    frames = []
    for task in tasks:
        frame = base.copy()
        frame["task"] = task
        if task == "mmlu":
            for metric in ("task_loss", "acc", "task_ce"):
                frame[metric] = sum(w * _numeric(raw, olmo_columns(f"mmlu_{g}")[metric], path)
                                    for g, w in MMLU_GROUPS.items())
            frame["acc_mc"] = sum(w * _mc_accuracy(raw, f"mmlu_{g}", path) for g, w in MMLU_GROUPS.items())
        else:
            for metric, column in olmo_columns(task).items():
                frame[metric] = _numeric(raw, column, path)
            frame["acc_mc"] = _mc_accuracy(raw, task, path)
        frame["task_ce"] = -frame["task_ce"]  # the logs store the soft log-probability of the gold choice
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)[METRIC_COLUMNS + ["flops", "acc_mc"]]
    return out.sort_values(["task", "step"], kind="stable").reset_index(drop=True)


def _check_unique_steps(step: np.ndarray, path: Path) -> None:
    values, counts = np.unique(step, return_counts=True)
    if (counts > 1).any():
        dup = values[counts > 1][0]
        rows = (np.flatnonzero(step == dup) + 2).tolist()
        raise InputError(f"{path}: duplicate step {int(dup)} in rows {rows}; each checkpoint must appear once")


IMPORTERS = {"olmo_ladder": read_olmo_ladder}
