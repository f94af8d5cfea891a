"""Synthetic ladders with known laws, in every shape the importers read.

Every checkpoint's task loss follows step 1 of the paper's fitted laws (Table 7) at the tokens
seen so far, its accuracy follows step 2, and both get Gaussian noise. Fitting must give back the
generating parameters, and predicting a target must give back the target's truth.

- ``write_example``: the bundled example (``examples/synthetic-ladder``), OLMo-ladder CSVs.
- ``write_sweep``: the bundled sweep (``examples/sweep/sweep.csv``, read by ``configs/sweep-example.yaml``):
  three data recipes (``GROUPS``), one row per final model, per-task column names that differ.
- ``ladder_truth`` / ``isoflop_truth``: the long metrics table of a ladder (runs with many
  checkpoints; optionally several seeds and groups whose laws differ, see ``GROUPS``) or of an
  iso-FLOP sweep (one final model per run). ``table_for(truth, entry)`` is the table an
  ``imported`` entry reads (wide or long task columns, one row per checkpoint or per final model,
  any units and column names); ``write_table`` writes it as CSV, TSV, parquet or JSONL.
  ``write_lm_eval_run``: one run as an lm-eval output directory, with or without samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.files import write_csv
from taskladder.fit.points import chance
from taskladder.imports.entry import LM_LOSS_COLUMN, olmo_columns
from taskladder.synthetic.shapes import table_for, write_table
from taskladder.synthetic.truth import (
    MULTIPLES,
    SIZES,
    TARGET,
    TRUE_LAWS,
    _lm_loss,
    true_accuracy,
    true_task_loss,
)
from taskladder.tasks.olmes import MMLU_GROUPS

SWEEP_GROUPS = ("curated", "web", "noisy")  # the bundled sweep's data recipes


def run_frame(n: int, d: int, checkpoints: int, rng, loss_noise: float, acc_noise: float,
              batch_tokens: int = 4 * 1024 * 1024, final_only: bool = False) -> pd.DataFrame:
    """One run's rows in the OLMo-ladder format: checkpoints evenly spaced up to d tokens."""
    total_steps = max(1, round(d / batch_tokens))
    steps = np.array([total_steps]) if final_only else np.unique(
        np.linspace(total_steps / checkpoints, total_steps, checkpoints).round().astype(int))
    tokens = steps * batch_tokens
    cols: dict[str, np.ndarray] = {"_step": steps, "batch_size_in_tokens": np.full(len(steps), batch_tokens)}
    noise = lambda sd: rng.normal(0, sd, len(steps))  # noqa: E731
    cols[LM_LOSS_COLUMN] = 1.7 + 480.0 / n**0.3 + 1500.0 / tokens**0.27 + noise(loss_noise)
    tasks = [t for t in TRUE_LAWS if t != "mmlu"] + [f"mmlu_{g}" for g in MMLU_GROUPS]
    for task in tasks:
        law = "mmlu" if task.startswith("mmlu") else task
        loss = true_task_loss(law, n, tokens) + noise(loss_noise)
        acc = np.clip(true_accuracy(law, loss) + noise(acc_noise), 0, 1)
        c = olmo_columns(task)
        cols[c["task_loss"]], cols[c["acc"]] = loss, acc
        cols[c["task_ce"]] = np.log(0.15 + 0.7 * acc)  # the logs store the negated TaskCE
    return pd.DataFrame(cols)


def example_files(out_dir: str | Path) -> list[Path]:
    """The files write_example writes: the 16 ladder runs' logs, then the target's."""
    runs = [f"{size}-{xc}xC" for size in SIZES for xc in MULTIPLES] + [TARGET[0]]
    return [Path(out_dir) / f"{run}.csv" for run in runs]


def write_example(out_dir: str | Path, seed: int = 0, checkpoints: int = 20, loss_noise: float = 0.004,
                  acc_noise: float = 0.004) -> list[Path]:
    """Write the 16 ladder runs and the target's final evaluation (example_files); return the files written."""
    rng = np.random.default_rng(seed)
    files = example_files(out_dir)
    ladder = [(n, xc * 20 * n) for n in SIZES.values() for xc in MULTIPLES]
    for path, (n, d) in zip(files, ladder):
        write_csv(run_frame(n, d, checkpoints, rng, loss_noise, acc_noise), path, float_format="%.7g")
    _, n, d = TARGET
    write_csv(run_frame(n, d, 1, rng, loss_noise, acc_noise, final_only=True), files[-1], float_format="%.7g")
    return files


LADDER_TASKS = ("hellaswag", "arc_easy", "piqa", "openbookqa", "boolq")


def _checkpoints(run: str, n: int, tokens: np.ndarray, steps: np.ndarray, tasks, rng, noise: float,
                 group: str | None, seed: int | None, at_chance=()) -> pd.DataFrame:
    """One run's rows of the long metrics table: every task at every checkpoint, with noise. A task in `at_chance`
    is never learned: its accuracy is chance (TRUE_LAWS' floor) plus noise, whatever the loss."""
    lm_loss = _lm_loss(n, tokens) + rng.normal(0, noise, len(steps))
    frames = []
    for task in tasks:
        loss = true_task_loss(task, n, tokens, group) + rng.normal(0, noise, len(steps))
        acc = true_accuracy(task, loss) if task not in at_chance else np.full(len(steps), chance(task))
        acc = np.clip(acc + rng.normal(0, noise, len(steps)), 0, 1)
        frames.append(pd.DataFrame({"run": run, "n": n, "step": steps, "tokens": tokens, "task": task,
                                    "task_loss": loss, "acc": acc, "task_ce": -np.log(0.15 + 0.7 * acc),
                                    "lm_loss": lm_loss, "flops": 6.0 * n * tokens}))
    frame = pd.concat(frames, ignore_index=True)
    if seed is not None:
        frame["seed"] = seed
    if group is not None:
        frame["group"] = group
    return frame


def ladder_truth(tasks=LADDER_TASKS, *, sizes=SIZES, multiples=MULTIPLES, checkpoints: int = 10, seeds=None,
                 groups=None, noise: float = 0.003, seed: int = 0, batch_tokens: int = 4 * 1024 * 1024,
                 at_chance: dict | None = None) -> pd.DataFrame:
    """The long metrics table of a ladder: every size x data multiple is a run of `checkpoints` checkpoints;
    with `seeds`, one run per seed (named ...-s<seed>; they differ only by the noise), with `groups` (names of
    GROUPS), one ladder per group (runs named <group>-...); `at_chance`: group -> tasks it never learns."""
    rng = np.random.default_rng(seed)
    frames = []
    for group in groups or [None]:
        for size, n in sizes.items():
            for xc in multiples:
                total = max(1, round(xc * 20 * n / batch_tokens))
                steps = np.unique(np.linspace(total / checkpoints, total, checkpoints).round().astype(np.int64))
                for s in seeds or [None]:
                    run = "-".join(p for p in (group, f"{size}-{xc}xC", None if s is None else f"s{s}") if p)
                    frames.append(_checkpoints(run, n, steps * batch_tokens, steps, tasks, rng, noise, group, s,
                                               (at_chance or {}).get(group, ())))
    return pd.concat(frames, ignore_index=True)


def isoflop_truth(tasks=LADDER_TASKS, *, budgets=(1e19, 4e19, 1.6e20), per_budget: int = 5, groups=SWEEP_GROUPS,
                  noise: float = 0.002, seed: int = 0) -> pd.DataFrame:
    """An iso-FLOP sweep: at each compute budget C, `per_budget` model sizes around 20 tokens per parameter
    (D = C / 6N), each trained once to its end (one checkpoint per run), for every group (data recipe)."""
    rng = np.random.default_rng(seed)
    frames = []
    for group in groups:
        for c in budgets:
            n_opt = math.sqrt(c / 120)  # C = 6 N D with D = 20 N
            for n in np.unique((n_opt * np.geomspace(0.4, 2.5, per_budget)).round(-6).astype(np.int64)):
                tokens = np.array([round(c / (6 * n))], dtype=np.int64)
                run = f"{group}-{c:.1e}-{n // 1_000_000}M"
                frames.append(_checkpoints(run, int(n), tokens, np.zeros(1, np.int64), tasks, rng, noise, group, None))
    return pd.concat(frames, ignore_index=True)


SWEEP_TASKS = LADDER_TASKS


SWEEP_TARGET = ("3B", 3_000_000_000, 5)  # each recipe's largest model, trained at 5xC: a target with actuals


SWEEP_ENTRY = {  # how configs/sweep-example.yaml reads examples/sweep/sweep.csv
    "columns": {"run": "model", "n": "params", "tokens": "tokens", "group": "recipe"},
    "metrics": {"acc": "{task}_acc_norm", "task_loss": "{task}_bpb"},
    "overrides": {"boolq": {"acc": "{task}_acc"}},
    "task_names": {"openbookqa": "openbook_qa"},
    "units": {"acc": "percent"},
    "tasks": list(SWEEP_TASKS),
}


def sweep_truth(seed: int = 0) -> pd.DataFrame:
    """A sweep of the data recipes of GROUPS: the ladder's 16 sizes x multiples and the 3B model at 5xC for each,
    trained once each (one final checkpoint per run)."""
    ladder = ladder_truth(SWEEP_TASKS, checkpoints=1, groups=SWEEP_GROUPS, seed=seed)
    name, n, xc = SWEEP_TARGET
    target = ladder_truth(SWEEP_TASKS, sizes={name: n}, multiples=(xc,), checkpoints=1, groups=SWEEP_GROUPS,
                          seed=seed + 1)
    return pd.concat([ladder, target], ignore_index=True)


SWEEP_FILE = "sweep.csv"


def write_sweep(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the bundled sweep table (SWEEP_FILE in `out_dir`): one row per final model, the recipe in `recipe`,
    accuracy in percent as `<task>_acc_norm` (`boolq_acc` for BoolQ), openbookqa named openbook_qa."""
    table = table_for(sweep_truth(seed), {"file": SWEEP_FILE, **SWEEP_ENTRY})
    return write_table(table.round(6).astype({"params": "int64", "tokens": "int64"}), Path(out_dir) / SWEEP_FILE)
