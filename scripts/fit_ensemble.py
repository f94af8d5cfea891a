"""Workflow script: an ensemble of the other methods, weighted by their backtests (taskladder.fit.ensemble)."""
from taskladder.base.log import script
from taskladder.fit.ensemble import EnsembleJob, run_ensemble_job

with script(snakemake):
    i = snakemake.input
    run_ensemble_job(EnsembleJob(**snakemake.params.job), list(i.predictions), list(i.backtest), list(i.draws),
                     list(i.calibration), dict(snakemake.output))
