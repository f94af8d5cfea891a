"""The first page of `snakemake --report`: the predictions of the headline method, then its figures.

Written as reStructuredText holding raw HTML (Snakemake renders the workflow description with docutils),
so the page shows a plain table and the figures inline, without a click.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

# Snakemake shows the description in a narrow column beside the rule graph, centred vertically (a tall
# page then starts above the top of the window): widen it and start it at the top
STYLE = """<style>
.prose.max-w-lg { max-width: 72rem; }
.grow.flex.h-screen.overflow-auto { align-items: flex-start; }
table.predictions { border-collapse: collapse; font-size: 0.85rem; }
table.predictions th, table.predictions td { padding: 0.15rem 0.6rem; text-align: right; border-bottom: 1px solid #ddd; }
table.predictions th:nth-child(-n+2), table.predictions td:nth-child(-n+2) { text-align: left; }
table.predictions td.flag { color: #b00; text-align: left; }
img.headline { max-width: 100%; margin-top: 1rem; }
</style>"""


def _points(value) -> str:
    return "" if pd.isna(value) else f"{100 * value:.1f}"


def _interval(row) -> str:
    lo, hi = row.get("pred_lo"), row.get("pred_hi")
    return "" if lo is None or hi is None or pd.isna(lo) or pd.isna(hi) else f"{100 * lo:.1f} – {100 * hi:.1f}"


def predictions_table(predictions: pd.DataFrame) -> str:
    """One row per (target, task[, group]): predicted accuracy, its interval when there is one, the actual accuracy,
    the error (points) and the flags, as an HTML table."""
    grouped = "group" in predictions
    head = ["target", "task", *(["group"] if grouped else []), "predicted", "interval", "actual", "error", "flags"]
    rows = []
    for _, r in predictions.iterrows():
        error = "" if pd.isna(r["actual_acc"]) else f"{100 * (r['pred_acc'] - r['actual_acc']):+.1f}"
        flags = "" if pd.isna(r.get("flags", "")) else str(r.get("flags", ""))
        cells = [r["target"], r["task"], *([r["group"]] if grouped else []), _points(r["pred_acc"]), _interval(r),
                 _points(r["actual_acc"]), error]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + f'<td class="flag">{html.escape(flags)}</td></tr>')
    header = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    return "\n".join(['<table class="predictions">', f"<thead>{header}</thead>", "<tbody>", *rows, "</tbody></table>"])


def _image(path: Path) -> str:
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".pdf": "application/pdf"}[path.suffix]
    if kind == "application/pdf":
        return f"<p>{html.escape(path.name)} (PDF: under its method in the results)</p>"
    data = base64.encodebytes(path.read_bytes()).decode()  # in lines: docutils limits a line's length
    return f'<img class="headline" alt="{html.escape(path.stem)}" src="data:{kind};base64,\n{data}">'


def first_page(predictions: pd.DataFrame, method: str, figures, experiment: str) -> str:
    """The report's first page (reStructuredText) for the predictions of `method` and its figures."""
    keys = ["target", "task", *(["group"] if "group" in predictions else [])]
    ours = predictions[predictions["method"] == method].sort_values(keys, kind="stable")
    ladder = "each group's ladder" if "group" in predictions else "the ladder"
    intro = (f"Predicted accuracy (%) of each target from {ladder}, method <code>{html.escape(method)}</code>, "
             "with its calibrated interval. Error = predicted − actual, in points, where the target was measured. "
             "Flags name why a prediction is not to be trusted (at_chance: the ladder never leaves chance on the "
             "task; methods_disagree, backtest_error, noisy, wide_interval: see the README). Every method's "
             "predictions, the fits, the backtests and the analyses are under Results.")
    body = "\n".join([STYLE, f"<p>{intro}</p>", predictions_table(ours), *(_image(Path(f)) for f in figures)])
    title = f"taskladder: {experiment}"
    return f"{title}\n{'=' * len(title)}\n\n.. raw:: html\n\n" + "".join(f"   {line}\n" for line in body.splitlines())
