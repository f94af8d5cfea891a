"""Workflow script: the groups (data recipes) ranked at each target and at the ladder's largest size, with decision
accuracy (taskladder.groups.compare) and its figure."""
import pandas as pd

from taskladder.analyses import groups
from taskladder.base.files import write_csv
from taskladder.base.log import script
from taskladder.report import analysis_figures

with script(snakemake) as log:
    p = snakemake.params
    table = groups.compare(pd.read_csv(snakemake.input.predictions), pd.read_csv(snakemake.input.backtest))
    write_csv(table, snakemake.output.table)
    analysis_figures.group_comparison_figure(table, p.method, snakemake.output.figure, **p.figures)
    scored = table[table["method"] == p.method].drop_duplicates(["source", "target", "task"])
    log.info("%s: decision accuracy per target and task:\n%s", p.method,
             scored[["source", "target", "task", "decision_accuracy", "pairs"]].to_string(index=False))
