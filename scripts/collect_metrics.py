"""Workflow script: a run's evaluation tables -> results/{experiment}/metrics/{run}.csv."""
from taskladder.base.log import script
from taskladder.base.metrics_table import collect_metrics

with script(snakemake) as log:
    frame = collect_metrics(snakemake.input, snakemake.output[0])
    log.info("%s: %d checkpoints x %d tasks", snakemake.wildcards.run, frame["step"].nunique(), frame["task"].nunique())
