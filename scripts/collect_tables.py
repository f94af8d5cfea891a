"""Workflow script: every method's tables -> predictions.csv (with flags), fits.csv and the analyses' tables."""
from taskladder.analyses.summary import SummaryJob, run_summary_job
from taskladder.base.log import script

with script(snakemake):
    run_summary_job(SummaryJob(**snakemake.params.job), {k: list(v) for k, v in snakemake.input.items()},
                    dict(snakemake.output))
