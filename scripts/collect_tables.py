"""Snakemake script: concatenate the per-method tables into fits.csv and predictions.csv."""
from taskladder.io import concat_csv, setup_logging

setup_logging(snakemake.log[0])
concat_csv(snakemake.input.fits, snakemake.output.fits)
concat_csv(snakemake.input.predictions, snakemake.output.predictions)
