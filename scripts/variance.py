"""Workflow script: SD_n of task loss and accuracy over a run's last checkpoints (paper sec 5.1)."""
from taskladder import analyses, plots
from taskladder.io import read_metrics, script, write_csv

with script(snakemake) as log:
    settings = snakemake.params.settings
    metrics = read_metrics(snakemake.input)
    run = settings["run"] or analyses.largest_run(metrics)
    table = analyses.variance(metrics, run, settings["tasks"], settings["last"])
    write_csv(table, snakemake.output.table)
    plots.variance_figure(table, snakemake.output.figure, **snakemake.params.figures)
    log.info("variance over the last %d checkpoints of %s:\n%s", settings["last"], run, table.to_string(index=False))
