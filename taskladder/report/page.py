"""The first page of `snakemake --report`: the predictions of the headline method, then its figures. With groups
(data recipes) it leads with the answer: one line per target and task saying which group wins, by how many points,
in what share of draws, and how often such calls were right on backtests (analyses/group_ranking.csv).

Written as reStructuredText holding raw HTML (Snakemake renders the workflow description with docutils),
so the page shows a plain table and the figures inline, without a click.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from taskladder.analyses.groups import target_order

# Snakemake shows the description in a narrow column beside the rule graph, centred (a tall or wide page then
# starts above the top of the window, or left of its edge): widen it and start it at the top left
STYLE = """<style>
.prose.max-w-lg { max-width: 72rem; }
.grow.flex.h-screen.overflow-auto { align-items: flex-start; justify-content: flex-start; }
table.predictions { border-collapse: collapse; font-size: 0.85rem; width: auto; }
table.predictions th, table.predictions td { padding: 0.15rem 0.6rem; text-align: right; border-bottom: 1px solid #ddd;
  white-space: nowrap; }
table.predictions th:nth-child(-n+2), table.predictions td:nth-child(-n+2) { text-align: left; }
table.predictions td.flag { color: #b00; text-align: left; }
table.predictions tr.cell-start td { border-top: 2px solid #999; }
ul.lead { margin: 0.3rem 0 0.6rem 0; font-size: 0.9rem; line-height: 1.35; }
ul.lead li { margin: 0.05rem 0; }
p.lead-note { font-size: 0.85rem; color: #555; }
img.headline { max-width: 100%; margin-top: 1rem; }
</style>"""


def _points(value) -> str:
    return "" if pd.isna(value) else f"{100 * value:.1f}"


def _interval(row) -> str:
    lo, hi = row.get("pred_lo"), row.get("pred_hi")
    return "" if lo is None or hi is None or pd.isna(lo) or pd.isna(hi) else f"{100 * lo:.1f} – {100 * hi:.1f}"


def share_text(share) -> str:
    """A share as the page says it: '94%', '>99%' short of all, '<1%' short of none, '' when unknown."""
    if share is None or pd.isna(share):
        return ""
    if 0.995 <= share < 1:
        return ">99%"
    if 0 < share < 0.005:
        return "<1%"
    return f"{100 * share:.0f}%"


def _left_out(row) -> str:
    note = str(row["note"]) if not pd.isna(row["note"]) else ""
    found = [part.removeprefix("left out: ") for part in note.split("; ") if part.startswith("left out: ")]
    words = {"at_chance": "at chance", "not_fitted": "not fitted", "bounded": "no trend, bounded"}
    return re.sub("|".join(words), lambda m: words[m.group(0)], found[0]) if found else ""


def lead_line(row) -> str:
    """One row of analyses/group_ranking.csv as a sentence: 'On hellaswag at 7B-4T, curated wins by 2.3 points (in
    94% of draws); decision accuracy on backtests 83%'."""
    where = f"On {row['task']} at {row['target']}"
    if isinstance(row["winner"], str) and row["winner"]:
        margin = row["margin_points"]
        by = "less than 0.1 points" if margin < 0.05 else f"{margin:.1f} points"
        text = f"{where}, {row['winner']} wins by {by}"
        if row["draws"]:
            text += f" (in {share_text(row['win_share'])} of draws)"
    elif row["margin_points"] == 0:
        tied = str(row["note"]).split(";")[0].removeprefix("tie: ")
        names, _, level = tied.partition(" at ")
        text = f"{where}, {' and '.join(names.split(', '))} tie at {level}"
    elif row["ranked"] == 1:
        text = f"{where}, only {str(row['note']).split(' ')[1]} can be predicted: no ranking"
    else:
        text = f"{where}, no group can be predicted: no ranking"
    measured = f"{share_text(row['decision_accuracy'])} as measured at {row['target']}" if row["pairs"] else ""
    if row["backtest_pairs"]:
        text += f"; decision accuracy on backtests {share_text(row['backtest_decision_accuracy'])}"
        text += f", and {measured}" if measured else ""
    elif measured:
        text += f"; decision accuracy {measured}"
    flags = row.get("winner_flags")
    if isinstance(flags, str) and flags:
        text += f"; {row['winner']} flagged: {flags.replace(';', ', ')}"
    left = _left_out(row)
    return text + (f"; left out: {left}" if left else "")


def lead_lines(ranking: pd.DataFrame, method: str) -> list[str]:
    """The page's first lines: one per target and task of `method`'s ranking, in the ranking's order."""
    return [lead_line(r) for _, r in ranking[ranking["method"] == method].iterrows()]


def _order(predictions: pd.DataFrame) -> pd.DataFrame:
    """With groups: targets by compute, tasks as they come, the groups of each best first (as the ranking)."""
    frame = predictions.assign(_t=pd.Categorical(predictions["target"], target_order(predictions), ordered=True),
                               _k=pd.Categorical(predictions["task"], list(dict.fromkeys(predictions["task"])),
                                                 ordered=True))
    frame = frame.sort_values(["_t", "_k", "pred_acc", "group"], ascending=[True, True, False, True],
                              na_position="last", kind="stable")
    return frame.drop(columns=["_t", "_k"])


def predictions_table(predictions: pd.DataFrame) -> str:
    """One row per (target, task[, group]): predicted accuracy, its interval when there is one, the actual accuracy,
    the error (points) and the flags, as an HTML table. With groups, a line above each target and task (class
    cell-start: the report's stylesheet has Tailwind's, where `block` is taken)."""
    grouped = "group" in predictions
    head = ["target", "task", *(["group"] if grouped else []), "predicted", "interval", "actual", "error", "flags"]
    rows, last = [], None
    for _, r in predictions.iterrows():
        error = ("" if pd.isna(r["actual_acc"]) or pd.isna(r["pred_acc"])
                 else f"{100 * (r['pred_acc'] - r['actual_acc']):+.1f}")
        flags = "" if pd.isna(r.get("flags", "")) else str(r.get("flags", ""))
        cells = [r["target"], r["task"], *([r["group"]] if grouped else []), _points(r["pred_acc"]), _interval(r),
                 _points(r["actual_acc"]), error]
        block = grouped and last is not None and (r["target"], r["task"]) != last
        last = (r["target"], r["task"])
        rows.append(("<tr class=\"cell-start\">" if block else "<tr>")
                    + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + f'<td class="flag">{html.escape(flags)}</td></tr>')
    header = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    return "\n".join(['<table class="predictions">', f"<thead>{header}</thead>", "<tbody>", *rows, "</tbody></table>"])


def _image(path: Path) -> str:
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".pdf": "application/pdf"}[path.suffix]
    if kind == "application/pdf":
        return f"<p>{html.escape(path.name)} (PDF: under its method in the results)</p>"
    data = base64.encodebytes(path.read_bytes()).decode()  # in lines: docutils limits a line's length
    return f'<img class="headline" alt="{html.escape(path.stem)}" src="data:{kind};base64,\n{data}">'


def first_page(predictions: pd.DataFrame, method: str, figures, experiment: str,
               ranking: pd.DataFrame | None = None) -> str:
    """The report's first page (reStructuredText) for the predictions of `method` and its figures; with groups and
    their `ranking` (analyses/group_ranking.csv), led by one line per target and task."""
    grouped = "group" in predictions
    ours = predictions[predictions["method"] == method]
    ours = _order(ours) if grouped else ours.sort_values(["target", "task"], kind="stable")
    ladder = "each group's ladder" if grouped else "the ladder"
    intro = (f"Predicted accuracy (%) of each target from {ladder}, method <code>{html.escape(method)}</code>, "
             "with its calibrated interval. Error = predicted − actual, in points, where the target was measured. "
             "Flags name why a prediction is not to be trusted (at_chance: the ladder never leaves chance on the "
             "task; methods_disagree, backtest_error, noisy, wide_interval: see the README). Every method's "
             "predictions, the fits, the backtests and the analyses are under Results.")
    lead = []
    if ranking is not None:
        lines = lead_lines(ranking, method)
        lead = [f"<p><b>Which group wins</b> (method <code>{html.escape(method)}</code>):</p>",
                '<ul class="lead">', *(f"<li>{html.escape(line)}</li>" for line in lines), "</ul>",
                '<p class="lead-note">Wins: the highest predicted accuracy; by: points over the runner-up; in x% of '
                "draws: the share of the ladders' resamples (draw i of every group) in which it stays first, which "
                "measures the ladders' noise, not the extrapolation's error; decision accuracy on backtests: the "
                "share of pairs of groups put in the right order when each group's largest size is predicted from "
                "its smaller sizes (and as measured, where the target was). A group whose task is at chance, not "
                "fitted, or without a trend (its number only a bound) is left out of the ranking. "
                "analyses/group_ranking.csv has every method's.</p>"]
        if not lines:
            lead[2:2] = ["<li>no ranking: no target and task that the groups predict</li>"]
    body = "\n".join([STYLE, *lead, f"<p>{intro}</p>", predictions_table(ours), *(_image(Path(f)) for f in figures)])
    title = f"taskladder: {experiment}"
    return f"{title}\n{'=' * len(title)}\n\n.. raw:: html\n\n" + "".join(f"   {line}\n" for line in body.splitlines())
