"""Snakemake script: the step-1, step-2 and chained figures of one method."""
import pandas as pd

from taskladder import plots
from taskladder.io import setup_logging

setup_logging(snakemake.log[0])
fits, predictions, points = (pd.read_csv(p) for p in snakemake.input)
plots.method_figures(fits, predictions, points, dict(snakemake.output.items()), **snakemake.params.figures)
