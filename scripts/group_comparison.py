"""Workflow script: the groups (data recipes) ranked per target and task, with intervals and decision
accuracy (taskladder.analyses.groups.compare), the answer per target and task (group_ranking) and the figure."""
from taskladder.base.log import script
from taskladder.report.jobs import comparison_job

with script(snakemake):
    comparison_job(snakemake.params.job, snakemake.input.predictions, snakemake.input.backtest, dict(snakemake.output),
                   list(snakemake.input.draws))
