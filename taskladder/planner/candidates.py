"""Candidate ladders: which model sizes, data multiples and seeds, and what each costs.

A candidate is a set of model sizes from a size grid x a set of data multiples xC (each rung trains
D = xC * 20 * N tokens), each rung trained `seeds` times. Its rungs are made by the training layer's own rule
(`taskladder.train.ladder.make_rung`): N by the paper's counting rule, and the batch, peak LR and warmup of paper
Table 1's scaling rules where a size does not set them, so a rung here is the rung `taskladder ladder` prints for
the config the planner writes. A candidate's compute is the sum of its rungs' 6 N D, times its seeds.

The size grid is the config's `ladder.sizes` (those with `ladder: true`) where the config trains a ladder, else
GRID: the paper's four sizes (Table 1) and the OLMo ladder's 3B (d_model 3328, 16 layers: N = 3,169,537,280, the
paper's rule), with the dolma2 vocabulary (100,352 rows) and 4096-token sequences, checkpointed as the released
ladder logs are (every 200 / 200 / 500 / 1000 steps at 1 / 2 / 5 / 10xC).

Candidates are every run of at least MIN_SIZES consecutive sizes of the grid below the target (with 2 sizes the
N exponent rests on two points; the backtests calibrate on 3 or more for the same reason; a ladder that skips a
size saves little, its largest rung costing most) x every set of at least MIN_MULTIPLES data multiples (with one,
D is proportional to N and step 1 cannot tell them apart) x each seed count.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field

import numpy as np

from taskladder.base.config import ConfigError
from taskladder.base.metrics_table import run_flops
from taskladder.train.ladder import (
    LadderError,
    Rung,
    build,
    make_rung,
    pad_vocab,
    xc_label,
)

MIN_SIZES = 3
MIN_MULTIPLES = 2
ROPE = {"rope_theta": 500000}
GRID = {  # the paper's Table 1 sizes and the OLMo ladder's 3B; batch, LR and warmup by the Table 1 rules
    "190M": {"d_model": 768, "n_layers": 12, "n_heads": 12, "mlp_ratio": 8, "model": ROPE},
    "370M": {"d_model": 1024, "n_layers": 16, "n_heads": 16, "mlp_ratio": 8, "model": ROPE},
    "760M": {"d_model": 1536, "n_layers": 16, "n_heads": 16, "mlp_ratio": 8, "model": ROPE},
    "1B": {"d_model": 2048, "n_layers": 16, "n_heads": 16, "mlp_ratio": 8, "model": ROPE},
    "3B": {"d_model": 3328, "n_layers": 16, "n_heads": 16, "mlp_ratio": 8, "model": ROPE},
}
GRID_LADDER = {"seq_len": 4096, "vocab_size": 100352, "batch_multiple": 64}
PAPER_EVERY = {1: 200, 2: 200, 5: 500, 10: 1000}  # steps between checkpoints per xC in the released ladder logs
PAPER_MULTIPLES = (1, 2, 5, 10)


@dataclass(frozen=True)
class Grid:
    """What candidates are made of: sizes (name -> a `ladder.sizes` entry), the data multiples and seed counts to
    combine, and the ladder keys every rung shares (seq_len, vocab_size, batch_multiple, the checkpoint schedule)."""

    sizes: dict
    multiples: tuple[float, ...]
    seeds: tuple[int, ...]
    # seq_len, vocab_size (padded), batch_multiple, and checkpoint_every (xC -> steps) or checkpoints_per_run
    ladder: dict
    source: str  # where the sizes come from: "the built-in grid" or the config's ladder.sizes

    def every(self, xc: float) -> int | None:
        """Steps between checkpoints of a rung of multiple `xc` (None: checkpoints_per_run)."""
        every = self.ladder.get("checkpoint_every")
        if not isinstance(every, dict):
            return every
        return every.get(xc) or every[min(every, key=lambda k: abs(np.log(k / xc)))]

    def rung(self, size: str, xc: float) -> Rung:
        return make_rung(f"{size}-{xc_label(xc)}xC", size, self.sizes[size], self.ladder, self.ladder["vocab_size"],
                         xc=xc, every=self.every(xc), per_run=self.ladder.get("checkpoints_per_run"),
                         where=f"planner: size {size}")


def grid(config: dict, multiples=None, seeds=(1,)) -> Grid:
    """The size grid of a validated config: its ladder's sizes where it trains one, else GRID. `multiples`: the
    data multiples to combine (default: the config's ladder.xc, else 1, 2, 5, 10)."""
    lc = config.get("ladder")
    if lc and any(spec.get("ladder", True) for spec in (lc.get("sizes") or {}).values()):
        sizes = {k: v for k, v in lc["sizes"].items() if v.get("ladder", True)}
        every = lc.get("checkpoint_every")
        xcs = list(lc.get("xc") or [])
        schedule = ({"checkpoint_every": dict(zip(xcs, every))} if isinstance(every, list) else
                    {"checkpoint_every": every} if every else {"checkpoints_per_run": lc.get("checkpoints_per_run")})
        try:
            vocab = build(config).rungs[0].vocab_size  # the rows the config's own rungs embed
        except LadderError as e:
            raise ConfigError(str(e)) from None
        keys = {"seq_len": lc["seq_len"], "vocab_size": vocab, "batch_multiple": lc["batch_multiple"]}
        found = Grid(sizes, tuple(multiples or xcs or PAPER_MULTIPLES), tuple(seeds), keys | schedule,
                     "the config's ladder.sizes")
    else:
        found = Grid(copy.deepcopy(GRID), tuple(multiples or PAPER_MULTIPLES), tuple(seeds),
                     GRID_LADDER | {"vocab_size": pad_vocab(GRID_LADDER["vocab_size"]),
                                    "checkpoint_every": dict(PAPER_EVERY)}, "the built-in grid (paper Table 1 and 3B)")
    if not found.multiples or any(not x > 0 for x in found.multiples):
        raise ConfigError(f"planner.multiples: {list(found.multiples)}; expected data multiples > 0")
    if any(not (isinstance(s, int) and s >= 1) for s in found.seeds):
        raise ConfigError(f"planner.seeds: {list(found.seeds)}; expected seed counts >= 1")
    return found


@dataclass(frozen=True)
class SimRun:
    """One run as the planner simulates it: N, its checkpoints' tokens (the last is its D)."""

    name: str
    n: float
    tokens: np.ndarray
    flops: float  # training compute (6 N D)

    @property
    def d(self) -> float:
        return float(self.tokens[-1])


@dataclass(frozen=True)
class Candidate:
    sizes: tuple[str, ...]
    multiples: tuple[float, ...]
    seeds: int
    rungs: tuple[Rung, ...] = field(repr=False)
    source: str = "grid"  # grid: trainable (its config can be written); from: the reference ladder as it is
    runs_override: tuple[SimRun, ...] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        if self.source == "from":
            return "from"
        seeds = f" x{self.seeds} seeds" if self.seeds > 1 else ""
        return f"{'+'.join(self.sizes)} @ {'+'.join(xc_label(x) for x in self.multiples)}xC{seeds}"

    @property
    def runs(self) -> tuple[SimRun, ...]:
        """Every run trained: each rung once per seed (seeds of a rung share its N, D and checkpoints)."""
        if self.runs_override is not None:
            return self.runs_override
        return tuple(SimRun(f"{r.name}-s{k}" if self.seeds > 1 else r.name, float(r.n),
                            np.asarray(r.checkpoints, dtype=float) * r.batch_tokens, float(r.flops))
                     for r in self.rungs for k in range(self.seeds))

    @property
    def compute(self) -> float:
        return float(sum(r.flops for r in self.runs))

    @property
    def largest(self) -> float:
        """The compute of its largest run."""
        return float(max(r.flops for r in self.runs))

    @property
    def span(self) -> float:
        """Decades of compute its runs cover."""
        flops = [r.flops for r in self.runs]
        return float(np.log10(max(flops) / min(flops)))

    def distance(self, target_flops: float) -> float:
        """Decades of compute from its largest run to the target."""
        return float(np.log10(target_flops / self.largest))


def target_flops(target: dict) -> float:
    return float(run_flops(target["n"], target["d"], target.get("flops")))


def candidates(grid: Grid, target: dict, min_sizes: int = MIN_SIZES, min_multiples: int = MIN_MULTIPLES
               ) -> list[Candidate]:
    """Every candidate of the grid below the target: sizes with fewer parameters than it, rungs with less compute.
    Raises ConfigError (one line) where the grid cannot make a ladder below the target."""
    flops = target_flops(target)
    rungs, skipped = {}, []
    for size in grid.sizes:
        try:
            made = {x: grid.rung(size, x) for x in grid.multiples}
        except LadderError as e:
            raise ConfigError(str(e)) from None
        if next(iter(made.values())).n >= target["n"] or any(r.flops >= flops for r in made.values()):
            skipped.append(size)
            continue
        rungs[size] = made
    sizes = sorted(rungs, key=lambda s: next(iter(rungs[s].values())).n)
    if len(sizes) < min_sizes or len(grid.multiples) < min_multiples:
        below = f"{len(sizes)} of its sizes ({', '.join(sizes) or 'none'})"
        raise ConfigError(f"--target: N={target['n']:.4g}, D={target['d']:.4g} ({flops:.3g} FLOPs) is not above the "
                          f"ladder: {below} of {grid.source} have fewer parameters than the target and rungs with "
                          f"less compute at every multiple {list(grid.multiples)}; a ladder needs {min_sizes} sizes "
                          f"and {min_multiples} multiples below it (a larger target, or a config with smaller "
                          "ladder.sizes)")
    multiples = sorted(grid.multiples)
    out = []
    for k in range(min_sizes, len(sizes) + 1):
        for chosen in (tuple(sizes[i:i + k]) for i in range(len(sizes) - k + 1)):
            for j in range(min_multiples, len(multiples) + 1):
                for xcs in itertools.combinations(multiples, j):
                    for seeds in grid.seeds:
                        out.append(Candidate(chosen, xcs, seeds, tuple(rungs[s][x] for s in chosen for x in xcs)))
    return out


def within_budget(candidate: Candidate, budget: float, target: dict) -> bool:
    """`budget`: a fraction of the target's compute (<= 1) or FLOPs."""
    return candidate.compute <= budget_flops(budget, target) * (1 + 1e-9)


MIN_FLOPS = 1e6  # a budget this large or larger is FLOPs; one in (0, 1] a fraction of the target's compute


def budget_flops(budget: float, target: dict, where: str = "--budget") -> float:
    """The budget in FLOPs; ConfigError where it is neither a fraction in (0, 1] nor FLOPs up to the target's.
    `where`: what gave it, as the error names it (the option, or the config key planner.budget)."""
    flops = target_flops(target)
    if not (np.isfinite(budget) and budget > 0):
        raise ConfigError(f"{where} {budget:g}: expected a fraction of the target's compute in (0, 1] or FLOPs > 0")
    if 1 < budget < MIN_FLOPS:
        raise ConfigError(f"{where} {budget:g}: as a fraction of the target's compute it must be in (0, 1]; as FLOPs "
                          f"expected at least {MIN_FLOPS:g}")
    out = budget * flops if budget <= 1 else budget
    if out > flops * (1 + 1e-9):
        raise ConfigError(f"{where} {budget:g} FLOPs: more than the target's own compute ({flops:.3g} FLOPs); "
                          "expected a fraction in (0, 1] or FLOPs below it")
    return float(out)
