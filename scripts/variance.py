"""Workflow script: the variance analysis (paper 5.1) and its figure."""
from taskladder.base.log import script
from taskladder.report.jobs import variance_job

with script(snakemake):
    variance_job(snakemake.params.job, list(snakemake.input), dict(snakemake.output))
