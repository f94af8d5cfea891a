"""The known laws synthetic ladders are drawn from: the paper's fitted laws (Table 7) per task, and the groups
(data recipes) whose laws differ."""

from __future__ import annotations

import numpy as np

from taskladder.fit.laws import power_nd, sigmoid

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


# data recipes whose step-1 laws differ: (shift of E, factor on B); lower loss, higher accuracy
GROUPS = {"curated": (-0.05, 0.8), "web": (0.0, 1.0), "noisy": (0.06, 1.25), "books": (-0.02, 0.9),
          "math": (0.03, 1.1), "code": (0.12, 1.5)}


def step1_params(task: str, group: str | None = None) -> np.ndarray:
    a_, alpha, b_, beta, e = TRUE_LAWS[task][0]
    de, fb = GROUPS[group] if group else (0.0, 1.0)
    return np.array([np.log(a_), np.log(b_ * fb), alpha, beta, e + de])


def true_task_loss(task: str, n, d, group: str | None = None) -> np.ndarray:
    x = {"n": np.atleast_1d(np.asarray(n, float)), "d": np.atleast_1d(np.asarray(d, float))}
    return power_nd(step1_params(task, group), x)


def true_accuracy(task: str, loss) -> np.ndarray:
    return sigmoid(np.array(TRUE_LAWS[task][1]), {"x": np.atleast_1d(np.asarray(loss, float))})


def _lm_loss(n, tokens) -> np.ndarray:
    return 1.7 + 480.0 / np.asarray(n, float) ** 0.3 + 1500.0 / np.asarray(tokens, float) ** 0.27
