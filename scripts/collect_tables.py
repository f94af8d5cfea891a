"""Workflow script: gather the per-method tables into one table each (fits.csv, predictions.csv, ...)."""
from taskladder.io import concat_csv, script

with script(snakemake):
    for name, path in snakemake.output.items():
        concat_csv(snakemake.input[name], path)
