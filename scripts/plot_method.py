"""Workflow script: the figures of one method (step 1, step 2, chained; an ensemble: its members)."""
import pandas as pd

from taskladder.base.log import script
from taskladder.report import figures

with script(snakemake):
    read = lambda name: pd.read_csv(snakemake.input[name])  # noqa: E731
    method = snakemake.wildcards.method
    summary = read("summary")
    if snakemake.wildcards.get("group"):  # one group's ladder
        summary = summary[summary["group"] == snakemake.wildcards.group]
    predictions = summary[summary["method"] == method]
    if "members" in snakemake.output.keys():
        figures.members_figure(summary, read("weights"), snakemake.output.members, method, **snakemake.params.figures)
    else:
        figures.method_figures(read("fits"), predictions, read("points"), dict(snakemake.output.items()),
                             **snakemake.params.figures)
