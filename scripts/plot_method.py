"""Workflow script: the figures of one method (step 1, step 2, chained; an ensemble: its members)."""
from taskladder.base.log import script
from taskladder.report.jobs import figures_job

with script(snakemake):
    figures_job(snakemake.wildcards.method, snakemake.params.job, dict(snakemake.input), dict(snakemake.output))
