"""Snakemake script: a run's per-checkpoint tables -> results/{experiment}/metrics/{run}.csv."""
from taskladder.io import collect_metrics, setup_logging

log = setup_logging(snakemake.log[0])
frame = collect_metrics(snakemake.input, snakemake.output[0])
log.info("%s: %d checkpoints x %d tasks", snakemake.wildcards.run, frame["step"].nunique(), frame["task"].nunique())
