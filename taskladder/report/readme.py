"""The README's numbers, from runs: each block between `<!-- readme:NAME -->` and `<!-- /readme:NAME -->` is rendered
from a run's outputs by a function here, so no number in it is typed by hand.

    python -m taskladder.report.readme --check            # exit 1 and show what differs
    python -m taskladder.report.readme --write            # rewrite the blocks whose sources exist

Blocks and what they read (paths relative to the working folder; a block whose source is absent is skipped):

    paper          results/olmo-paper/predictions.csv (the paper import): 7B-4T, two_step and the ensemble
    paper-methods  the same: every method's error, coverage and interval width at 7B-4T
    weightings     results/olmo-paper/analyses/ensemble_weights.csv: the ensemble's weightings compared on the
                   longest-distance backtests of the released logs
    synthetic-weightings  results/coverage/ensemble_evidence.csv: the same on the synthetic ladders
    coverage       results/coverage/coverage.csv (python -m taskladder.synthetic.coverage -o ...): how often the
                   90% intervals hold the truth of synthetic ladders, by distance
    tiny           results/tiny/predictions.csv (the embedded default): its ensemble's predictions
    planner        results/planner/planner_validation.csv (python -m taskladder.planner.validate --out
                   results/planner): the planner checked on sub-ladders of the released logs
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.fit.predictability import spearman

README = Path(__file__).resolve().parents[2] / "README.md"
PAPER_FIG2 = {"mmlu": 48.4, "hellaswag": 82.5, "arc_challenge": 51.5, "arc_easy": 76.6, "piqa": 81.2, "csqa": 75.7,
              "socialiqa": 58.7, "openbookqa": 44.2}  # the paper's Figure 2 (PAPER_METHOD.md)
NAMES = {"mmlu": "MMLU", "hellaswag": "HellaSwag", "arc_challenge": "ARC-Challenge", "arc_easy": "ARC-Easy",
         "piqa": "PIQA", "csqa": "CSQA", "socialiqa": "Social IQa", "openbookqa": "OpenBookQA"}


def _pts(x: float) -> str:
    return "" if not np.isfinite(x) else f"{100 * x:.1f}"


def _interval(row) -> str:
    if not np.isfinite(row.pred_acc):
        return "—"
    if not np.isfinite(row.pred_lo):
        return _pts(row.pred_acc)
    return f"{_pts(row.pred_acc)} [{_pts(row.pred_lo)}, {_pts(row.pred_hi)}]"


def _at(predictions: pd.DataFrame, target: str) -> pd.DataFrame:
    p = predictions[predictions["target"] == target].copy()
    p["error"] = 100 * (p["pred_acc"] - p["actual_acc"])
    p["covered"] = (p["actual_acc"] >= p["pred_lo"]) & (p["actual_acc"] <= p["pred_hi"])
    p["width"] = 100 * (p["pred_hi"] - p["pred_lo"])
    return p


def _flags(value) -> str:
    return ", ".join(value.split(";")) if isinstance(value, str) else ""


def paper(results: Path) -> str:
    p = _at(pd.read_csv(results / "olmo-paper" / "predictions.csv"), "7B-4T").set_index(["method", "task"])
    lines = ["| task | `two_step` | paper Fig. 2 | `two_step` flags | `ensemble` | actual | `ensemble` flags |",
             "|---|---|---|---|---|---|---|"]
    for task, name in NAMES.items():
        two, ens = p.loc[("two_step", task)], p.loc[("ensemble", task)]
        lines.append(f"| {name} | {_interval(two)} | {PAPER_FIG2[task]} | {_flags(two['flags'])} | {_interval(ens)} | "
                     f"{_pts(ens.actual_acc)} | {_flags(ens['flags'])} |")
    two, ens = p.loc["two_step"], p.loc["ensemble"]
    worst = two["error"].abs().sort_values(ascending=False).index[:2]
    lines += ["", f"Mean absolute error: `two_step` {two['error'].abs().mean():.2f} points (largest: "
                  + ", ".join(f"{NAMES[t]} {two.loc[t, 'error']:+.1f}" for t in worst)
                  + f"), `ensemble` {ens['error'].abs().mean():.2f}. The ensemble's 90% intervals hold the actual on "
                  f"{int(ens['covered'].sum())} of {len(ens)} tasks, median width {ens['width'].median():.1f} "
                  f"points; the target lies {ens['distance'].iloc[0]:.2f} decades of compute beyond the ladder's "
                  "largest run."]
    return "\n".join(lines)


def paper_methods(results: Path) -> str:
    p = _at(pd.read_csv(results / "olmo-paper" / "predictions.csv"), "7B-4T")
    p = p[p["actual_acc"].notna() & p["pred_acc"].notna()]
    lines = ["| method | mean abs. error | mean signed error | intervals holding the actual | median width |",
             "|---|---|---|---|---|"]
    for method, rows in p.groupby("method", sort=False):
        lines.append(f"| `{method}` | {rows['error'].abs().mean():.2f} | {rows['error'].mean():+.2f} | "
                     f"{int(rows['covered'].sum())} of {len(rows)} | {rows['width'].median():.1f} |")
    return "\n".join(lines)


def _evidence(table: pd.DataFrame) -> str:
    """Per weighting: on the longest-distance backtests (fitted without them), the mixture's mean log score and the
    weighted prediction's mean absolute error."""
    evidence = table[table["kind"] == "evidence"].groupby("weighting")[["log_score", "abs_error"]].mean()
    lines = ["| weighting | mean log score | mean abs. error (points) |", "|---|---|---|"]
    for scheme, row in evidence.sort_values("log_score", ascending=False).iterrows():
        lines.append(f"| `{scheme}` | {row.log_score:.2f} | {100 * row.abs_error:.2f} |")
    return "\n".join(lines)


def weightings(results: Path) -> str:
    """The weightings compared on the released logs' longest-distance backtests (8 tasks)."""
    return _evidence(pd.read_csv(results / "olmo-paper" / "analyses" / "ensemble_weights.csv"))


def synthetic_weightings(results: Path) -> str:
    """The same on the synthetic ladders of the coverage run."""
    return _evidence(pd.read_csv(results / "coverage" / "ensemble_evidence.csv"))


def coverage(results: Path) -> str:
    from taskladder.synthetic.coverage import summary

    table = summary(pd.read_csv(results / "coverage" / "coverage.csv"))
    buckets = list(dict.fromkeys(sorted(table["bucket"], key=lambda b: float(b.split("-")[0]))))
    lines = ["| method | " + " | ".join(f"{b}: coverage, width" for b in buckets) + " |",
             "|---|" + "---|" * len(buckets)]
    for method, rows in table.groupby("method", sort=False):
        rows = rows.set_index("bucket")
        lines.append(f"| `{method}` | " + " | ".join(
            f"{100 * rows.loc[b, 'coverage']:.0f}%, {100 * rows.loc[b, 'width']:.1f}" for b in buckets) + " |")
    cases = int(table["cases"].sum() / table["method"].nunique())
    return "\n".join(lines + ["", f"({cases} cases per method: ladders x tasks x targets.)"])


def tiny(results: Path) -> str:
    p = pd.read_csv(results / "tiny" / "predictions.csv")
    p = p[p["method"] == "ensemble"]
    lines = ["| task | predicted | 90% interval | actual | error | flags |", "|---|---|---|---|---|---|"]
    for row in p.itertuples():
        predicted = np.isfinite(row.pred_acc)
        lines.append(f"| {row.task} | {_pts(row.pred_acc) or '—'} | "
                     f"{f'{_pts(row.pred_lo)}–{_pts(row.pred_hi)}' if predicted else '—'} | {_pts(row.actual_acc)} | "
                     f"{f'{100 * (row.pred_acc - row.actual_acc):+.1f}' if predicted else '—'} | {_flags(row.flags)} |")
    return "\n".join(lines)


def planner_markdown(table: pd.DataFrame, oracle: pd.Series | None = None) -> str:
    """The planner's validation (taskladder.planner.validate): one row per sub-ladder, then the agreement, and what a
    planner right about the world would score (`oracle`: its Spearman correlations, one per simulated realization)."""
    lines = ["| sub-ladder | runs | compute (% of 7B-4T) | expected error | 90% range | real error | in range |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.sub_ladder} | {r.runs} | {100 * r.share:.2f} | {100 * r.expected:.2f} | "
                     f"{100 * r.lo:.2f}–{100 * r.hi:.2f} | {100 * r.real:.2f} | {'yes' if r.inside else 'no'} |")
    lines.append("")
    one = table[table["runs"] >= 12]  # at most one size or one multiple dropped
    both = table[table["runs"] < 12]
    parts = [f"{spearman(t['expected'], t['real']):.2f} over the {len(t)} {what}" for t, what in (
        (one, "with one size or one multiple dropped (or none)"), (both, "with both dropped"))]
    rho = spearman(table["expected"], table["real"])
    lines.append(f"Spearman's rank correlation of expected and real error: {rho:.2f} "
                 f"({len(table)} sub-ladders; {parts[0]}, {parts[1]}); real error in the expected 90% range: "
                 f"{int(table['inside'].sum())} of {len(table)}.")
    if oracle is not None:
        q10, median, q90 = np.quantile(oracle, [0.1, 0.5, 0.9])
        lines.append(f"A planner right about the world (the whole ladder's laws, noise and misspecification taken as "
                     f"the truth) scores a median of {median:.2f} against one realization of the real errors "
                     f"(10-90%: {q10:.2f}–{q90:.2f}; 0.7 or more in {np.mean(oracle >= 0.7):.0%} of "
                     f"{len(oracle)} realizations): the sub-ladders share one target and most of their runs, so "
                     "one validation ranks them with that much luck.")
    return "\n".join(lines)


def planner(results: Path) -> str:
    folder = results / "planner"
    oracle = folder / "planner_oracle.csv"
    return planner_markdown(pd.read_csv(folder / "planner_validation.csv"),
                            pd.read_csv(oracle)["spearman"] if oracle.exists() else None)


BLOCKS = {"paper": paper, "paper-methods": paper_methods, "weightings": weightings, "coverage": coverage,
          "synthetic-weightings": synthetic_weightings, "tiny": tiny, "planner": planner}
MARK = re.compile(r"<!-- readme:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n?<!-- /readme:(?P=name) -->", re.S)


def render(results: Path, names=None) -> dict[str, str]:
    """Each block whose source exists, rendered."""
    out = {}
    for name in names or BLOCKS:
        try:
            out[name] = BLOCKS[name](Path(results))
        except FileNotFoundError:
            continue
    return out


def differences(text: str, rendered: dict[str, str]) -> dict[str, str]:
    """block -> a diff of the README's block against its rendering (only where they differ)."""
    found = {m["name"]: m["body"] for m in MARK.finditer(text)}
    out = {}
    for name, body in rendered.items():
        if name not in found:
            out[name] = f"no block <!-- readme:{name} --> in the README"
        elif found[name].strip() != body.strip():
            out[name] = "\n".join(difflib.unified_diff(found[name].splitlines(), body.splitlines(), "README",
                                                       "rendered", lineterm=""))
    return out


def write(text: str, rendered: dict[str, str]) -> str:
    def block(m):
        body = rendered.get(m["name"], m["body"]).strip("\n")
        return f"<!-- readme:{m['name']} -->\n{body}\n<!-- /readme:{m['name']} -->"

    return MARK.sub(block, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskladder.report.readme", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="the folder of the runs (default: %(default)s)")
    p.add_argument("--readme", default=str(README))
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="show what differs, exit 1 if anything does (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the blocks")
    p.add_argument("blocks", nargs="*", metavar="BLOCK", help=f"only these blocks: {', '.join(BLOCKS)}")
    args = p.parse_args(argv)
    unknown = [b for b in args.blocks if b not in BLOCKS]
    if unknown:
        p.error(f"no block named {', '.join(unknown)} (blocks: {', '.join(BLOCKS)})")
    readme = Path(args.readme)
    rendered = render(Path(args.results), args.blocks or None)
    if not rendered:
        print(f"no block's source found under {args.results}", file=sys.stderr)
        return 1
    if args.write:
        from taskladder.base.files import write_text

        write_text(write(readme.read_text(), rendered), readme)
        print(f"rewrote {', '.join(rendered)} in {readme}")
        return 0
    diffs = differences(readme.read_text(), rendered)
    for name, diff in diffs.items():
        print(f"== {name}\n{diff}")
    print(f"checked {', '.join(rendered)}: {'differs' if diffs else 'as rendered'}")
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
