"""Check the planner on the paper's released ladder logs: does its expected error, from a sub-ladder alone, rank the
sub-ladders as their real fits' errors at 7B-4T do, and hold them in its range?

    python -m taskladder.planner.validate [--logs DIR] [--draws 64] [--out DIR]   # the table (markdown) and a CSV
    python -m taskladder.planner.validate --default                             # the default reference's constants

Sub-ladders: the released ladder with at most one model size and at most one data multiple dropped (5 x 5 = 25,
the whole ladder among them; every one keeps 3 sizes and 3 multiples, as the planner's candidates need). For each:

- expected: `taskladder plan --from` its metrics alone (`Reference.from_metrics`: its two_step fit, noise and
  backtests), the row of the sub-ladder itself: the expected mean absolute error over the paper's 8 tasks at
  7B-4T, and its 90% range;
- real: the two_step fit of the sub-ladder (`run_method`, as the workflow fits), its mean absolute error over the
  8 tasks against 7B-4T's actual accuracy (the mean of its last 5 evaluation rows).

Printed: one row per sub-ladder, then Spearman's rank correlation of expected against real error and how many
real errors lie in the expected range. No 7B-4T data enters the planner.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.config import validate
from taskladder.base.files import write_csv, write_text
from taskladder.fit.methods import fit_options, run_method
from taskladder.fit.predictability import spearman
from taskladder.planner.expected import expected_errors
from taskladder.planner.plan import reference_candidate
from taskladder.planner.reference import Reference
from taskladder.report.readme import planner_markdown

SIZES = {"190M": 190_354_176, "370M": 371_262_464, "760M": 758_220_288, "1B": 1_279_395_840}
MULTIPLES = (1, 2, 5, 10)
TASKS = ["mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa", "csqa", "socialiqa", "openbookqa"]
TARGET = ("7B-4T", 6_887_575_552, 3_945_065_873_408, "peteish7_eval_anneal.csv")
DEFAULT_LOGS = Path(__file__).resolve().parents[3] / "shared" / "olmo-ladder"


def read_logs(logs: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the 16 ladder runs' metrics, the target's) from the OLMo-ladder CSVs."""
    from taskladder.imports.tables import read_olmo_ladder

    ladder = pd.concat([read_olmo_ladder(logs / f"{s}-{x}xC.csv", f"{s}-{x}xC", n, TASKS)
                        for s, n in SIZES.items() for x in MULTIPLES], ignore_index=True)
    name, n, _, file = TARGET
    return ladder, read_olmo_ladder(logs / file, name, n, TASKS)


def sub_ladders() -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    """The whole ladder with at most one size and at most one multiple dropped."""
    size_sets = [tuple(SIZES)] + [tuple(s for s in SIZES if s != drop) for drop in SIZES]
    multiple_sets = [MULTIPLES] + [tuple(x for x in MULTIPLES if x != drop) for drop in MULTIPLES]
    return [(s, x) for s in size_sets for x in multiple_sets]


def label(sizes, multiples) -> str:
    drop_s = [s for s in SIZES if s not in sizes]
    drop_x = [x for x in MULTIPLES if x not in multiples]
    parts = [f"no {s}" for s in drop_s] + [f"no {x}xC" for x in drop_x]
    return ", ".join(parts) or "whole ladder"


def _settings() -> tuple[dict, dict, dict, dict]:
    """(fit options, intervals, evidence, two_step's method entry) of the default config on the paper's 8 tasks."""
    config = validate({"experiment": "planner-validation", "fit": {"tasks": TASKS}})
    return (fit_options(config), config["intervals"], {k: config["flags"][k] for k in ("min_snr", "min_monotone")},
            config["methods"]["two_step"])


def _runs(sizes, multiples) -> list[str]:
    return [f"{s}-{x}xC" for s in sizes for x in multiples]


def validate_planner(logs: Path, draws: int = 64, seed: int = 0, progress=print) -> pd.DataFrame:
    """One row per sub-ladder: its expected error at 7B-4T (and range) from its own metrics, and its real error."""
    options, intervals, evidence, method = _settings()
    ladder, measured = read_logs(logs)
    name, n, d, _ = TARGET
    target = {"n": n, "d": d, "flops": None}
    rows = []
    for sizes, multiples in sub_ladders():
        start = time.time()
        runs = _runs(sizes, multiples)
        metrics = ladder[ladder["run"].isin(runs)]
        reference = Reference.from_metrics(metrics, TASKS, options, intervals, evidence, method,
                                           label(sizes, multiples))
        own = reference_candidate(reference)
        expected = expected_errors(reference, [own], target, options, draws, intervals["level"], seed).summary.iloc[0]
        real = run_method("two_step", method, metrics, {name: target | {"metrics": measured}}, TASKS, options,
                          {**intervals, "draws": 0}, evidence).predictions
        flops = 6.0 * n * d
        rows.append({"sub_ladder": label(sizes, multiples), "sizes": "+".join(sizes),
                     "multiples": "+".join(map(str, multiples)), "runs": len(runs),
                     "share": own.compute / flops, "tasks": len(reference.tasks),
                     "expected": expected["expected_error"], "lo": expected["error_lo"], "hi": expected["error_hi"],
                     "noise": expected["noise_error"], "misspecification": expected["misspecification"],
                     "real": float(real["abs_error"].mean())})
        rows[-1]["inside"] = bool(rows[-1]["lo"] <= rows[-1]["real"] <= rows[-1]["hi"])
        progress(f"{rows[-1]['sub_ladder']:<22} expected {100 * rows[-1]['expected']:.2f} "
                 f"[{100 * rows[-1]['lo']:.2f}, {100 * rows[-1]['hi']:.2f}] real {100 * rows[-1]['real']:.2f} "
                 f"({time.time() - start:.0f} s)")
    return pd.DataFrame(rows)


def oracle(logs: Path, draws: int = 64, seed: int = 0) -> np.ndarray:
    """What a planner that is right about the world would score in this validation: with the whole ladder's reference
    taken as the truth, each sub-ladder's expected error (its mean over the draws) against the error of one joint
    draw of all sub-ladders (common runs share their noise, every sub-ladder the target's misspecification, as the
    real sub-ladders share 7B-4T): Spearman's rank correlation, one per draw. The real validation scores one such
    realization, so its correlation is to be read against this distribution."""
    options, intervals, evidence, method = _settings()
    ladder, _ = read_logs(logs)
    reference = Reference.from_metrics(ladder, TASKS, options, intervals, evidence, method, "the released ladder")
    whole = reference_candidate(reference)
    subs = [replace(whole, runs_override=tuple(r for r in reference.runs if r.name in names))
            for names in (set(_runs(sizes, multiples)) for sizes, multiples in sub_ladders())]
    _, n, d, _ = TARGET
    errors = expected_errors(reference, subs, {"n": n, "d": d, "flops": None}, options, draws, intervals["level"],
                             seed).errors
    per_draw = np.nanmean(np.abs(errors), axis=1)  # (sub-ladders, draws): mean |error| over the tasks
    expected = per_draw.mean(axis=1)
    return np.array([spearman(expected, per_draw[:, k]) for k in range(per_draw.shape[1])])


def default_constants(logs: Path) -> str:
    """The default reference's measured constants (taskladder.planner.reference.DEFAULT), from the whole ladder."""
    config = validate({"experiment": "planner-default", "fit": {"tasks": TASKS}})
    ladder, _ = read_logs(logs)
    ref = Reference.from_metrics(ladder, TASKS, fit_options(config), config["intervals"],
                                 {k: config["flags"][k] for k in ("min_snr", "min_monotone")},
                                 config["methods"]["two_step"], "the released ladder logs")
    lines = ['    "tasks": {  # task: (run loss SD, run accuracy SD, floor, growth, origins)']
    lines += [f'        "{t}": ({m.run_loss_sd:.5f}, {m.run_acc_sd:.5f}, {m.error.floor:.5f}, {m.error.growth:.5f}, '
              f'{m.error.origins:.3f}),' for t, m in ref.tasks.items()]
    lines += ["    },", '    "correlation": [']
    lines += ["        [" + ", ".join(f"{v:.2f}" for v in row) + "]," for row in ref.correlation]
    lines += ["    ],", f'    "span": {ref.span:.4f},',
              f'    "max_reach": {max(m.error.max_distance for m in ref.tasks.values()):.4f},']
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskladder.planner.validate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=Path, default=DEFAULT_LOGS, help="the OLMo-ladder CSVs (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=64, help="simulated ladders per task (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="of the simulation (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as CSV and markdown here")
    parser.add_argument("--default", action="store_true", help="print the default reference's constants instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if not (args.logs / "1B-10xC.csv").exists():
        parser.error(f"--logs {args.logs}: the released ladder logs are not there (1B-10xC.csv ...)")
    if args.default:
        print(default_constants(args.logs))
        return 0
    table = validate_planner(args.logs, args.draws, args.seed)
    rhos = pd.DataFrame({"spearman": oracle(args.logs, args.draws, args.seed)})
    text = planner_markdown(table, rhos["spearman"])
    print(text)
    if args.out:
        write_csv(table, args.out / "planner_validation.csv")
        write_csv(rhos, args.out / "planner_oracle.csv")
        write_text(text + "\n", args.out / "planner_validation.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
