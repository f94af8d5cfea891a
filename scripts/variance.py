"""Workflow script: SD_n of task loss and accuracy over a run's last checkpoints (paper sec 5.1)."""
from taskladder.analyses import paper
from taskladder.base.files import write_csv
from taskladder.base.log import script
from taskladder.base.metrics_table import read_metrics
from taskladder.report import analysis_figures

with script(snakemake) as log:
    settings = snakemake.params.settings
    metrics = read_metrics(snakemake.input)
    run = settings["run"] or paper.largest_run(metrics)
    table = paper.variance(metrics, run, settings["tasks"], settings["last"])
    write_csv(table, snakemake.output.table)
    analysis_figures.variance_figure(table, snakemake.output.figure, **snakemake.params.figures)
    log.info("variance over the last %d checkpoints of %s:\n%s", settings["last"], run, table.to_string(index=False))
