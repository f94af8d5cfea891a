"""Workflow script: plan a ladder for the target of planner.target from this experiment's ladder."""
from taskladder.base.log import script
from taskladder.planner.plan import run_plan_job

with script(snakemake):
    run_plan_job(snakemake.params.job, list(snakemake.input), dict(snakemake.output))
