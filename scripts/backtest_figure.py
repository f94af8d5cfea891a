"""Workflow script: the backtests' figure."""
import pandas as pd

from taskladder.base.log import script
from taskladder.report import analysis_figures

with script(snakemake):
    analysis_figures.backtest_figure(pd.read_csv(snakemake.input[0]), snakemake.output[0],
                                     **snakemake.params.job["figures"])
