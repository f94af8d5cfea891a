"""A synthetic ladder with known laws, written in the OLMo-ladder CSV format.

Used as the bundled example (``examples/synthetic-ladder``) and by tests: every checkpoint's
task loss follows step 1 of the paper's fitted laws (Table 7) at the tokens seen so far, its
accuracy follows step 2, and both get Gaussian noise. Fitting the example must give back
the generating parameters, and predicting its target must give back the target's truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.importers import LM_LOSS_COLUMN, MMLU_GROUPS, olmo_columns
from taskladder.io import write_csv
from taskladder.laws import power_nd, sigmoid

# paper Table 7: step 1 (A, alpha, B, beta, E) and step 2 (a, L0, k, b)
TRUE_LAWS = {
    "mmlu": ((38.07, 0.23, 100.09, 0.24, 0.45), (-0.74, 0.62, 4.83, 1.00)),
    "hellaswag": ((11.23, 0.20, 60.37, 0.26, 0.50), (-0.73, 0.77, 12.74, 0.99)),
    "arc_challenge": ((702974.93, 0.79, 38.45, 0.20, 0.65), (-0.78, 0.71, 5.91, 1.00)),
    "arc_easy": ((79412.07, 0.66, 3957.51, 0.42, 0.56), (-0.65, 0.74, 4.13, 1.00)),
    "piqa": ((405.66, 0.40, 10.16, 0.15, 0.72), (-0.46, 0.96, 5.03, 1.00)),
    "csqa": ((56.86, 0.23, 10.91, 0.11, 0.00), (-0.86, 1.13, 2.21, 1.00)),
    "socialiqa": ((1200.94, 0.45, 7897.19, 0.48, 0.95), (-0.60, 0.89, 7.16, 1.00)),
    "openbookqa": ((86346.32, 0.69, 137.35, 0.26, 1.20), (-0.79, 1.08, 4.31, 1.00)),
    # not fitted by the paper; present so the example has every column
    "boolq": ((40.0, 0.2, 40.0, 0.2, 0.1), (-0.45, 0.8, 4.0, 1.00)),
    "winogrande": ((40.0, 0.2, 40.0, 0.2, 1.0), (-0.45, 1.6, 4.0, 1.00)),
}
SIZES = {"190M": 190_354_176, "370M": 371_262_464, "760M": 758_220_288, "1B": 1_279_395_840}
MULTIPLES = (1, 2, 5, 10)
TARGET = ("7B-4T", 6_887_575_552, 3_945_065_873_408)


def step1_params(task: str) -> np.ndarray:
    a_, alpha, b_, beta, e = TRUE_LAWS[task][0]
    return np.array([np.log(a_), np.log(b_), alpha, beta, e])


def true_task_loss(task: str, n, d) -> np.ndarray:
    return power_nd(step1_params(task), {"n": np.atleast_1d(np.asarray(n, float)), "d": np.atleast_1d(np.asarray(d, float))})


def true_accuracy(task: str, loss) -> np.ndarray:
    return sigmoid(np.array(TRUE_LAWS[task][1]), {"x": np.atleast_1d(np.asarray(loss, float))})


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


def write_example(out_dir: str | Path, seed: int = 0, checkpoints: int = 20, loss_noise: float = 0.004,
                  acc_noise: float = 0.004) -> list[Path]:
    """Write the 16 ladder runs and the target's final evaluation; return the files written."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    written = []
    for size, n in SIZES.items():
        for xc in MULTIPLES:
            path = out_dir / f"{size}-{xc}xC.csv"
            write_csv(run_frame(n, xc * 20 * n, checkpoints, rng, loss_noise, acc_noise), path, float_format="%.7g")
            written.append(path)
    name, n, d = TARGET
    path = out_dir / f"{name}.csv"
    write_csv(run_frame(n, d, 1, rng, loss_noise, acc_noise, final_only=True), path, float_format="%.7g")
    return written + [path]

