"""Workflow script: a target's prediction error as the ladder grows (paper sec 5.2)."""
from taskladder import analyses, plots
from taskladder.io import read_metrics, script, write_csv

with script(snakemake) as log:
    p = snakemake.params
    target = dict(p.spec, metrics=read_metrics(snakemake.input.target))
    table = analyses.compute_vs_error(read_metrics(snakemake.input.ladder), p.target, target, p.method_name, p.method,
                                      p.tasks, p.options, p.orders,
                                      progress=lambda order, k: log.info("%s: fitted with %d runs", order, k))
    write_csv(table, snakemake.output.table)
    for order in p.orders:
        plots.compute_vs_error_figure(table, order, snakemake.output[order], **p.figures)
