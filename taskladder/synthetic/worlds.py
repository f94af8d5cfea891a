"""Synthetic ladders that are wrong in realistic ways: truths outside the fitted law families, with the paper's
noise, and targets 3x to 100x beyond the ladder, for checking that intervals hold at every distance.

A `World` is the truth of one task: its task loss as a function of (N, D) and its accuracy as a function of the
task loss (and of N, for a late rise), one of

- law: the paper's laws (Table 7): what the methods fit;
- shape: step 2 of another shape: a Richards curve, asymmetric, whose tails differ from the sigmoid's
  (`skew` > 1: a slower approach to the ceiling);
- late_rise: accuracy rises again at losses reached only by the ladder's largest runs (an ability that emerges
  at scale: the largest rungs show its start, the law cannot follow it, every method under-predicts beyond);
- data_shift: the data's effect changes at the largest sizes: beyond `pivot` parameters (370M: the ladder's two
  largest sizes show it), more tokens help less (the data term's exponent shrinks), so the target's loss is
  higher than the ladder's law says.

Each departure starts inside the ladder's range, at its largest runs: what starts only beyond the ladder no
backtest can see, and only the `far_extrapolation` flag (distance) speaks for it.

Two more kinds, for checking that a ladder with nothing to extrapolate gives no wild prediction: `chance` (the
ladder never leaves chance on the task) and `flat` (its accuracy sits at a level above chance, unrelated to scale:
pure noise around it).

Checkpoints carry the paper's noise (NOISE: per task, the checkpoint-to-checkpoint SD of accuracy and the relative
SD of task loss around their trend, measured on the released ladder logs; `taskladder.fit.predictability._noise`).
`world_ladder` draws a ladder of the paper's shape (4 sizes x 1/2/5/10xC, a checkpoint every ~3% of a run);
`targets` are the models 3x to 100x beyond its largest run, at 10xC and at 40xC (over-trained, like 7B-4T).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from taskladder.fit.laws import power_nd
from taskladder.fit.points import chance
from taskladder.synthetic.truth import MULTIPLES, SIZES, TRUE_LAWS, _lm_loss

KINDS = ("law", "shape", "late_rise", "data_shift")
TASKS = ("mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa", "csqa", "socialiqa", "openbookqa")
# per task: (SD of accuracy, relative SD of task loss) between checkpoints, around their trend (released logs)
NOISE = {"mmlu": (0.0012, 0.0026), "hellaswag": (0.0015, 0.0012), "arc_challenge": (0.0041, 0.0038),
         "arc_easy": (0.0040, 0.0052), "piqa": (0.0029, 0.0022), "csqa": (0.0042, 0.0053),
         "socialiqa": (0.0032, 0.0030), "openbookqa": (0.0063, 0.0035)}
FACTORS = (3, 5, 10, 20, 30, 50, 100)  # targets' compute over the ladder's largest run
BUCKETS = {"3-10x": (3, 10), "10-30x": (10, 30), "30-100x": (30, 100.001)}


@dataclass(frozen=True)
class World:
    task: str
    kind: str = "law"
    extra: dict = field(default_factory=dict)

    def loss(self, n, d) -> np.ndarray:
        n, d = np.atleast_1d(np.asarray(n, float)), np.atleast_1d(np.asarray(d, float))
        a_, alpha, b_, beta, e = TRUE_LAWS[self.task][0]
        if self.kind == "data_shift":  # beyond the pivot, the data term's exponent shrinks with log N
            shrink = self.extra["shrink"] * np.maximum(np.log10(n / self.extra["pivot"]), 0.0)
            return a_ / n ** alpha + b_ / d ** (beta * (1 - shrink)) + e
        p = np.array([np.log(a_), np.log(b_), alpha, beta, e])
        return power_nd(p, {"n": n, "d": d})

    def accuracy(self, loss) -> np.ndarray:
        loss = np.atleast_1d(np.asarray(loss, float))
        if self.kind in ("chance", "flat"):
            return np.full(loss.shape, self.extra["level"])
        a, l0, k, b = TRUE_LAWS[self.task][1]
        if self.kind == "shape":
            return a * expit(k * (loss - l0)) ** self.extra["skew"] + b
        acc = a * expit(k * (loss - l0)) + b
        if self.kind == "late_rise":  # an extra rise below the ladder's losses, toward the ceiling
            acc = acc + (b - acc) * self.extra["gain"] * expit(self.extra["k"] * (self.extra["onset"] - loss))
        return acc

    def truth(self, n, d) -> float:
        return float(self.accuracy(self.loss(n, d))[0])


def world(task: str, kind: str, rng: np.random.Generator) -> World:
    """A random world of `kind` for `task` (its departure from the laws drawn at random, realistic in size; KINDS,
    or chance and flat)."""
    if kind == "shape":
        return World(task, kind, {"skew": float(rng.choice([0.6, 0.8, 1.3, 1.6]))})
    if kind == "late_rise":  # the rise starts at the losses of the ladder's largest runs
        onset = float(World(task).loss(SIZES["760M"], 200 * SIZES["760M"])[0])
        return World(task, kind, {"onset": onset * float(rng.uniform(0.97, 1.0)), "k": 20.0,
                                  "gain": float(rng.uniform(0.1, 0.3))})
    if kind == "data_shift":
        return World(task, kind, {"pivot": float(SIZES["370M"]), "shrink": float(rng.uniform(0.05, 0.15))})
    if kind == "chance":
        return World(task, kind, {"level": chance(task)})
    if kind == "flat":
        return World(task, kind, {"level": chance(task) + float(rng.uniform(0.05, 0.2))})
    return World(task)


def world_ladder(worlds: dict[str, World], seed: int = 0, checkpoints: int = 36,
                 batch_tokens: int = 4 * 1024 * 1024) -> pd.DataFrame:
    """The long metrics table of a ladder of the paper's shape drawn from `worlds` (task -> World)."""
    rng = np.random.default_rng(seed)
    frames = []
    for size, n in SIZES.items():
        for xc in MULTIPLES:
            total = max(1, round(xc * 20 * n / batch_tokens))
            steps = np.unique(np.linspace(total / checkpoints, total, checkpoints).round().astype(np.int64))
            tokens = steps * batch_tokens
            lm = _lm_loss(n, tokens) * (1 + rng.normal(0, 0.002, len(steps)))
            for task, w in worlds.items():
                acc_sd, loss_sd = NOISE[task]
                loss = w.loss(n, tokens) * (1 + rng.normal(0, loss_sd, len(steps)))
                acc = np.clip(w.accuracy(w.loss(n, tokens)) + rng.normal(0, acc_sd, len(steps)), 0, 1)
                frames.append(pd.DataFrame({"run": f"{size}-{xc}xC", "n": n, "step": steps, "tokens": tokens,
                                            "task": task, "task_loss": loss, "acc": acc,
                                            "task_ce": -np.log(0.15 + 0.7 * acc), "lm_loss": lm,
                                            "flops": 6.0 * n * tokens}))
    return pd.concat(frames, ignore_index=True)


def targets(factors=FACTORS, largest: tuple[float, float] = (SIZES["1B"], 10 * 20 * SIZES["1B"])) -> dict[str, dict]:
    """name -> {n, d, factor}: at each compute factor beyond the ladder's largest run, a model trained at 10xC and
    one at 40xC (over-trained)."""
    top = 6.0 * largest[0] * largest[1]
    out = {}
    for f in factors:
        for xc in (10, 40):
            n = float(np.sqrt(f * top / (6 * 20 * xc)))
            out[f"{f}x-{xc}xC"] = {"n": n, "d": 20 * xc * n, "flops": None, "factor": f}
    return out


def bucket(factor: float) -> str | None:
    return next((b for b, (lo, hi) in BUCKETS.items() if lo <= factor < hi), None)
