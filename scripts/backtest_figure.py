"""Workflow script: the backtests' figure (taskladder.plots.backtest_figure)."""
import pandas as pd

from taskladder import plots
from taskladder.io import script

with script(snakemake):
    plots.backtest_figure(pd.read_csv(snakemake.input[0]), snakemake.output[0], **snakemake.params.figures)
