"""Workflow script: a run's evaluation tables -> results/{experiment}/metrics/{run}.csv."""
from taskladder.io import collect_metrics, script

with script(snakemake) as log:
    frame = collect_metrics(snakemake.input, snakemake.output[0])
    log.info("%s: %d checkpoints x %d tasks", snakemake.wildcards.run, frame["step"].nunique(), frame["task"].nunique())
