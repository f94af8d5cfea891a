"""A sweep shaped like a real one trained elsewhere: several data recipes (groups), each a ladder of many model
sizes trained once (one final checkpoint per run), several tasks, task loss in nats per token with the bytes per
token it converts by, accuracy, and the LM loss; one recipe never learns one task (it stays at chance).

`recipe_sweep` is its long metrics table (the truth); `write_recipe_sweep` writes it as the wide CSV such a sweep
exports and returns the `imported` entry that reads it. `bench/sweep_fit.py` fits it; tests use small ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.shapes import table_for, write_table

RECIPES = ("curated", "web", "noisy", "books", "math", "code")  # taskladder.synthetic.truth.GROUPS
TASKS = ("mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa", "csqa", "openbookqa")
AT_CHANCE = {"code": ("arc_challenge",)}  # what a code-only corpus never learns at these sizes
MULTIPLES = (1, 2, 5, 10)
BYTES_PER_TOKEN = 4.2


def sweep_sizes(count: int = 23, smallest: float = 2e7, largest: float = 1.5e9) -> dict[str, int]:
    """`count` model sizes spaced evenly in log N, named by their millions of parameters."""
    ns = np.unique(np.geomspace(smallest, largest, count).round(-5).astype(np.int64))
    return {f"{n / 1e6:.1f}M": int(n) for n in ns}


def recipe_sweep(groups=RECIPES, sizes: int = 23, multiples=MULTIPLES, tasks=TASKS, at_chance=None,
                 noise: float = 0.004, seed: int = 0) -> pd.DataFrame:
    """The long metrics table: every recipe x size x multiple is one run with one final checkpoint."""
    return ladder_truth(tasks, sizes=sweep_sizes(sizes), multiples=multiples, checkpoints=1, groups=groups,
                        noise=noise, seed=seed, at_chance=AT_CHANCE if at_chance is None else at_chance)


def entry(file: str | Path, tasks=TASKS) -> dict:
    """The `imported` entry that reads a table written by `write_recipe_sweep`."""
    return {"file": str(file), "columns": {"run": "model", "n": "params", "tokens": "tokens", "group": "recipe"},
            "metrics": {"task_loss": "{task}_ce", "acc": "{task}_acc", "lm_loss": "val_loss"},
            "units": {"task_loss": "nats_per_token", "bytes_per_token": BYTES_PER_TOKEN}, "tasks": list(tasks)}


def write_recipe_sweep(path: str | Path, **kwargs) -> dict:
    """Write `recipe_sweep(**kwargs)` as a wide CSV (one row per model) and return the entry that reads it."""
    truth = recipe_sweep(**kwargs)
    spec = entry(path, sorted(set(truth["task"]), key=list(TASKS).index))
    table = table_for(truth, spec)
    write_table(table.round(7).astype({"params": "int64", "tokens": "int64"}), path)
    return spec
