"""Workflow script: the step-1, step-2 and chained figures of one method."""
import pandas as pd

from taskladder import plots
from taskladder.io import script

with script(snakemake):
    fits, predictions, points = (pd.read_csv(snakemake.input[t]) for t in ("fits", "predictions", "points"))
    plots.method_figures(fits, predictions, points, dict(snakemake.output.items()), **snakemake.params.figures)
