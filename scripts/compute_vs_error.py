"""Workflow script: the compute-vs-error analysis (paper 5.2) and its figures."""
from taskladder.base.log import script
from taskladder.report.jobs import compute_vs_error_job

with script(snakemake):
    compute_vs_error_job(snakemake.params.job, list(snakemake.input.ladder), snakemake.input.target,
                         dict(snakemake.output))
