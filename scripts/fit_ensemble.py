"""Workflow script: an ensemble of the other methods, weighted by their backtests (taskladder.ensemble)."""
from taskladder.analyses.groups import tag
from taskladder.base.log import script
from taskladder.fit.ensemble import fit_and_write

with script(snakemake):
    p = snakemake.params
    fit_and_write(snakemake.wildcards.method, p.spec, snakemake.input.predictions, snakemake.input.backtest,
                  snakemake.input.draws, list(snakemake.input.ladder), p.tasks, p.options, p.interval,
                  dict(snakemake.output.items()))
    if snakemake.wildcards.get("group"):
        tag(snakemake.output, snakemake.wildcards.group)
