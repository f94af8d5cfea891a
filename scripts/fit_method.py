"""Workflow script: fit one method on the ladder metrics (of one group) and predict every target."""
from taskladder.base.log import script
from taskladder.fit.methods import FitJob, run_fit_job

with script(snakemake):
    i = snakemake.input
    run_fit_job(FitJob(**snakemake.params.job), list(i.ladder), list(i.targets), list(i.others), dict(snakemake.output))
